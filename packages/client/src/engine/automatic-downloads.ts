/**
 * Automatic downloads: a background loop that keeps the attached database current. With watch
 * "auto" and a server advertising `bundle_change_watch`, it holds a `GET /sync/watch` stream open
 * and pulls on each bundle event; a healthy stream suppresses timer pulls (as KMP and Dart; Go
 * also polls while watching). When the stream cannot be opened (a non-OK setup answer, a network
 * failure), breaks, carries a malformed event or ends, it pulls once and reconnects after a delay
 * that doubles from `reconnectMinMillis` to `reconnectMaxMillis`. Without watch support it polls
 * with `pullToStable` every interval. A 403 `bundle_change_watch_forbidden` switches the loop to
 * polling until it is restarted (as Go): the server refuses this user, retrying cannot help.
 * Contention with a running operation and lifecycle preconditions (not attached yet) are waited
 * out without a request and without growing the reconnect delay, never surfaced: a wake-up that
 * meets a busy client pulls once the client is free (as Go).
 *
 * The loop only uses the `AutomaticDownloadHost` seam, so it can be replaced without touching the
 * engine.
 */
import { type BundleChangeEvent, OversyncError } from "@oversync/protocol";
import { wireReaction } from "./wire-reactions.js";

/** Settings of the loop. */
export interface AutomaticDownloadOptions {
  /** Polling interval when not watching. Default 60 000 ms. */
  readonly intervalMillis?: number;
  /** "auto" watches bundle changes when the server supports it; "off" only polls. Default "auto". */
  readonly watch?: "auto" | "off";
  /** First delay before reopening a failed or closed watch stream. Default 1000 ms. */
  readonly reconnectMinMillis?: number;
  /** Largest reconnect delay. Default 60 000 ms. */
  readonly reconnectMaxMillis?: number;
}

/** What the loop needs from the client. */
export interface AutomaticDownloadHost {
  /** Resolves once the client is attached in this process (or on abort). */
  whenAttached(signal: AbortSignal): Promise<void>;
  /** Pulls to the stable ceiling (the public `pullToStable`), waiting out a running operation. */
  pull(signal: AbortSignal): Promise<void>;
  /** True when the server advertises bundle-change watch (checked each time a stream opens). */
  supportsWatch(signal: AbortSignal): Promise<boolean>;
  /** Opens a watch stream after the durable checkpoint. */
  openWatch(signal: AbortSignal): Promise<AsyncIterable<BundleChangeEvent> & { close(): void }>;
}

/** A running loop. */
export interface AutomaticDownloadsHandle {
  /** Stops the loop (closing an open watch stream) and resolves once it has ended. */
  stop(): Promise<void>;
}

/**
 * How one watch round ended: `poll` (watch off, unsupported or forbidden: poll this round),
 * `forbidden` (the server refuses watch for this user), `ended` (setup failed, or the stream
 * failed or ended: fallback pull, then reconnect), `pull_failed` (like ended, but the stream's
 * last pull failed, so the fallback pull is skipped: the reconnect catches up from the checkpoint).
 */
type WatchRound = "poll" | "forbidden" | "ended" | "pull_failed";

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
  let watchAllowed = options.watch !== "off";

  // Every failure (a database not attached yet, a server error) is retried on a later round; the
  // host reports it to the app (the client's status and onError) before the pull rejects.
  const pullQuietly = async (): Promise<boolean> => {
    try {
      await host.pull(signal);
      return true;
    } catch {
      return false;
    }
  };

  const watchOnce = async (): Promise<WatchRound> => {
    if (!watchAllowed) return "poll";
    let supported: boolean;
    try {
      supported = await host.supportsWatch(signal);
    } catch {
      return "poll";
    }
    if (!supported || signal.aborted) return "poll";
    let opened: Awaited<ReturnType<AutomaticDownloadHost["openWatch"]>>;
    try {
      opened = await host.openWatch(signal);
    } catch (error) {
      // The transport has already released a refused answer's body.
      return error instanceof OversyncError && wireReaction(error.code, "watch") === "poll"
        ? "forbidden"
        : "ended";
    }
    stream = opened;
    let lastPullOk = true;
    try {
      if (!signal.aborted) {
        for await (const _event of opened) {
          if (signal.aborted) break;
          lastPullOk = await pullQuietly();
        }
      }
    } catch {
      // A broken or malformed stream ends like a closed one.
    } finally {
      // Released before the fallback pull, so a dead connection is never held across it.
      opened.close();
      stream = undefined;
    }
    return lastPullOk ? "ended" : "pull_failed";
  };

  const loop = (async () => {
    let reconnectDelay = reconnectMin;
    while (!signal.aborted) {
      await host.whenAttached(signal);
      if (signal.aborted) break;
      const round = await watchOnce();
      if (signal.aborted) break;
      if (round === "forbidden") watchAllowed = false;
      if (round === "poll" || round === "forbidden") {
        reconnectDelay = reconnectMin;
        await pullQuietly();
        await sleep(interval, signal);
        continue;
      }
      if (round === "ended") await pullQuietly();
      await sleep(reconnectDelay, signal);
      reconnectDelay = Math.min(reconnectDelay * 2, reconnectMax);
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
