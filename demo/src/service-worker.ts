/**
 * The demo's service worker, so the app opens without a network: the page, its scripts, the SQLite
 * worker and its wasm are cached when it installs and served network first (a rebuilt demo shows as
 * soon as the server answers), from the cache when the network fails. Only the demo's own files
 * (its scope, `/demo/`) are handled: sign-in and sync requests go to the network untouched, and
 * the sync client keeps its unsent changes in the database meanwhile.
 *
 * The build (vite.config.ts) puts the list of the files it wrote into PRECACHE, so each build
 * is a new worker with its own cache, and the old caches are dropped once it activates.
 */

// JSON.parse keeps the minifier from folding the placeholder away.
const PRECACHE: unknown = JSON.parse("__OVERSYNC_DEMO_PRECACHE__");

/** The parts of the service worker scope used here (the DOM lib has no ServiceWorkerGlobalScope). */
interface ServiceWorkerScope {
  readonly registration: { readonly scope: string };
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install" | "activate", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEvent) => void): void;
}

interface ExtendableEvent {
  waitUntil(work: Promise<unknown>): void;
}

interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}

const worker = self as unknown as ServiceWorkerScope;
const files = Array.isArray(PRECACHE) ? (PRECACHE as string[]) : [];
const CACHE = `oversync-demo-${hash(files.join("\n"))}`;

worker.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(["./", ...files]);
      await worker.skipWaiting();
    })(),
  );
});

worker.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("oversync-demo-") && name !== CACHE) await caches.delete(name);
      }
      await worker.clients.claim();
    })(),
  );
});

worker.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !request.url.startsWith(worker.registration.scope)) return;
  event.respondWith(networkFirst(request));
});

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached =
      (await cache.match(request, { ignoreSearch: true })) ??
      (request.mode === "navigate" ? await cache.match("./") : undefined);
    if (cached === undefined) throw error;
    return cached;
  }
}

/** A short fingerprint of the file list (FNV-1a), naming this build's cache. */
function hash(text: string): string {
  let value = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    value = Math.imul(value ^ text.charCodeAt(index), 0x01000193) >>> 0;
  }
  return value.toString(16);
}
