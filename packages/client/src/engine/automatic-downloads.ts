/**
 * Automatic downloads: a background loop that keeps the attached database current. With watch
 * "auto" and a server advertising `bundle_change_watch`, it holds a `GET /sync/watch` stream open
 * and pulls on each bundle event (a healthy stream suppresses timer pulls); when the stream ends or
 * fails it pulls once and reconnects with a doubling delay. Otherwise it polls with `pullToStable`
 * every interval. Contention with a running operation and lifecycle preconditions (not attached
 * yet) are waited out, never surfaced.
 *
 * The loop only uses the `AutomaticDownloadHost` seam, so it can be replaced without touching the
 * engine.
 */
import type { BundleChangeEvent } from "@oversync/protocol";

/** Settings of the loop. */
export interface AutomaticDownloadOptions {
  /** Polling interval, and the wait after a failed pull. Default 60 000 ms. */
  readonly intervalMillis?: number;
  /** "auto" watches bundle changes when the server supports it; "off" only polls. Default "auto". */
  readonly watch?: "auto" | "off";
  /** First delay before reopening a closed watch stream. Default 1000 ms. */
  readonly reconnectMinMillis?: number;
  /** Largest reconnect delay. Default 60 000 ms. */
  readonly reconnectMaxMillis?: number;
}

/** What the loop needs from the client. */
export interface AutomaticDownloadHost {
  /** Pulls to the stable ceiling (the public `pullToStable`). */
  pull(): Promise<void>;
  /** True when the server advertises bundle-change watch (checked each time a stream opens). */
  supportsWatch(signal: AbortSignal): Promise<boolean>;
  /** Opens a watch stream after the current checkpoint. */
  openWatch(signal: AbortSignal): Promise<AsyncIterable<BundleChangeEvent> & { close(): void }>;
}

/** A running loop. */
export interface AutomaticDownloadsHandle {
  /** Stops the loop (closing an open watch stream) and resolves once it has ended. */
  stop(): Promise<void>;
}

/** Starts the loop; it runs until `stop()`. */
export function startAutomaticDownloads(
  host: AutomaticDownloadHost,
  options: AutomaticDownloadOptions = {},
): AutomaticDownloadsHandle {
  const interval = options.intervalMillis ?? 60_000;
  const reconnectMin = options.reconnectMinMillis ?? 1_000;
  const reconnectMax = Math.max(options.reconnectMaxMillis ?? 60_000, reconnectMin);
  const controller = new AbortController();
  const { signal } = controller;
  let stream: { close(): void } | undefined;

  // Every failure (a running operation, a database not attached yet, a server error) is retried on
  // the next round; the application sees errors of its own explicit calls only.
  const pullQuietly = async (): Promise<void> => {
    try {
      await host.pull();
    } catch {
      // Retried next round, see above.
    }
  };

  const watchOnce = async (): Promise<boolean> => {
    if (options.watch === "off") return false;
    let supported: boolean;
    try {
      supported = await host.supportsWatch(signal);
    } catch {
      return false;
    }
    if (!supported || signal.aborted) return false;
    let opened: Awaited<ReturnType<AutomaticDownloadHost["openWatch"]>>;
    try {
      opened = await host.openWatch(signal);
    } catch {
      return false;
    }
    stream = opened;
    try {
      for await (const _event of opened) {
        if (signal.aborted) break;
        await pullQuietly();
      }
    } catch {
      // A broken or malformed stream ends like a closed one: pull once, then reconnect.
    } finally {
      opened.close();
      stream = undefined;
    }
    return true;
  };

  const loop = (async () => {
    let reconnectDelay = reconnectMin;
    while (!signal.aborted) {
      const watched = await watchOnce();
      if (signal.aborted) break;
      await pullQuietly();
      if (watched) {
        await sleep(reconnectDelay, signal);
        reconnectDelay = Math.min(reconnectDelay * 2, reconnectMax);
      } else {
        reconnectDelay = reconnectMin;
        await sleep(interval, signal);
      }
    }
  })();

  return {
    async stop() {
      controller.abort();
      stream?.close();
      await loop;
    },
  };
}

function sleep(millis: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, millis);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
