/**
 * The demo web app's built files (`serve --demo-dir`, the repository's `demo/` built by Vite) at
 * `/demo/`, on the same origin as the sync routes so the app needs no CORS (the browser bench
 * serves its page the same way). Only regular files
 * inside the directory are served: a path segment that is empty, `.`/`..`, hidden (a leading dot)
 * or holds a separator or NUL once decoded is a 404, like a missing file, and so is a symbolic link
 * that leads out of the directory. Vite's hashed files under
 * `assets/` may be cached for good; everything else is revalidated, so a rebuilt demo shows at once.
 */
import { readFile, realpath, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";

/** Where the demo is served. */
export const DEMO_PATH = "/demo";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".map": "application/json",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** Answers a request for a built app's file, or undefined for any other path (the sync routes' turn). */
export type BuiltFilesHandler = (request: Request) => Promise<Response | undefined>;

/** Serves the files of `dir` (a built demo: `index.html` and `assets/`) under DEMO_PATH. */
export function serveDemoFiles(dir: string): BuiltFilesHandler {
  return serveBuiltFiles(dir, DEMO_PATH, 'run "npm run demo:build" and reload');
}

/**
 * Serves the files of `dir`, an app built by Vite, under `base` (such as `/demo`); `notBuilt` says
 * what to do when `dir` has no `index.html`.
 */
export function serveBuiltFiles(dir: string, base: string, notBuilt = "build it first"): BuiltFilesHandler {
  const root = resolve(dir);
  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path !== base && !path.startsWith(`${base}/`)) return undefined;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, `the files under ${base}/ are read with GET or HEAD`, { allow: "GET, HEAD" });
    }
    // Relative URLs in the page resolve against `${base}/`, not against the parent folder.
    if (path === base) return new Response(null, { status: 308, headers: { location: `${base}/` } });
    const segments = path.slice(base.length + 1).split("/");
    if (segments.at(-1) === "") segments[segments.length - 1] = "index.html";
    const file = safeJoin(root, segments);
    if (file === undefined) return notFound(path);
    const info = await stat(file).catch(() => undefined);
    if (info === undefined || !info.isFile() || !(await inside(root, file))) {
      if (segments.join("/") === "index.html") {
        return text(404, `the app is not built in ${root}: ${notBuilt}`);
      }
      return notFound(path);
    }
    const headers = {
      "content-type": CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
      "content-length": String(info.size),
      "cache-control": segments[0] === "assets" ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
    };
    if (request.method === "HEAD") return new Response(null, { status: 200, headers });
    return new Response(await readFile(file), { status: 200, headers });
  };
}

/** The file `segments` name inside `root`, or undefined when a segment could step outside it. */
function safeJoin(root: string, segments: readonly string[]): string | undefined {
  const decoded: string[] = [];
  for (const segment of segments) {
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    if (name === "" || name.startsWith(".") || /[/\\\0]/.test(name)) return undefined;
    decoded.push(name);
  }
  const file = join(root, ...decoded);
  return file.startsWith(`${root}${sep}`) ? file : undefined;
}

/** Whether `file`, its links followed, is still inside `root` (itself possibly a link). */
async function inside(root: string, file: string): Promise<boolean> {
  try {
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)]);
    return realFile.startsWith(`${realRoot}${sep}`);
  } catch {
    return false;
  }
}

function notFound(path: string): Response {
  return text(404, `no file ${path}`);
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
