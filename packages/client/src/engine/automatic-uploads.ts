/**
 * Automatic uploads: a background loop that pushes local changes soon after the app commits them.
 * A local write to a managed table (the table-change tracker's `local` origin) schedules a push
 * after `uploadDelayMillis` without further writes (at most UPLOAD_MAX_DELAY_FACTOR times that
 * after the first), so a burst of writes becomes one bundle. Writes made while a push runs schedule
 * the next one. A failed push is retried after a delay that doubles from `uploadRetryMinMillis` to
 * `uploadRetryMaxMillis`, cut short as soon as the server answers again (any later request of this
 * client, such as a reopened watch stream). Pending changes found at start, after a restart or
 * after the client became ready again are pushed too.
 *
 * The loop only uses the `AutomaticUploadHost` seam; the host waits out running operations and
 * failures only the app can fix.
 */

/** Settings of the loop. */
export interface AutomaticUploadOptions {
  /** "auto" pushes local changes in the background; "off" leaves pushing to the app. Default "auto". */
  readonly uploads?: "auto" | "off";
  /** Quiet time after the last local write before a push. Default 100 ms. */
  readonly uploadDelayMillis?: number;
  /** First delay before retrying a failed push. Default 1000 ms. */
  readonly uploadRetryMinMillis?: number;
  /** Largest retry delay. Default 60 000 ms. */
  readonly uploadRetryMaxMillis?: number;
}

/** What the loop needs from the client. */
export interface AutomaticUploadHost {
  /** Resolves once pushing makes sense: attached, and no failure waits for the app (or on abort). */
  whenReady(signal: AbortSignal): Promise<void>;
  /** True when local changes wait to be pushed. */
  hasPendingChanges(): Promise<boolean>;
  /**
   * Pushes pending changes (the client reports failures before this rejects). False when it did
   * not run because the client stopped being ready meanwhile (detached, paused, stopped).
   */
  push(signal: AbortSignal): Promise<boolean>;
  /** Calls `listener` after each local write to a managed table; returns the unsubscribe function. */
  onLocalChange(listener: () => void): () => void;
  /** Calls `listener` when the server answers again after a failure; returns the unsubscribe function. */
  onOnline(listener: () => void): () => void;
}

/** A running loop. */
export interface AutomaticUploadsHandle {
  /** Stops the loop and resolves once it has ended (a running push completes first). */
  stop(): Promise<void>;
}

/** The longest a burst of writes can hold a push back, as a multiple of the delay. */
export const UPLOAD_MAX_DELAY_FACTOR = 10;

/** Starts the loop; it runs until `stop()`. */
export function startAutomaticUploads(
  host: AutomaticUploadHost,
  options: AutomaticUploadOptions = {},
): AutomaticUploadsHandle {
  const delay = options.uploadDelayMillis ?? 100;
  const retryMin = options.uploadRetryMinMillis ?? 1_000;
  const retryMax = Math.max(options.uploadRetryMaxMillis ?? 60_000, retryMin);
  const controller = new AbortController();
  const { signal } = controller;

  let wanted = false;
  let firstWriteAt: number | undefined;
  let lastWriteAt = 0;
  /** Wakes the loop while it waits for a write. */
  let wakeOnWrite: (() => void) | undefined;
  /** Cuts a retry delay short. */
  let wakeOnline: (() => void) | undefined;

  const stopListening = [
    host.onLocalChange(() => {
      wanted = true;
      lastWriteAt = Date.now();
      firstWriteAt ??= lastWriteAt;
      wakeOnWrite?.();
    }),
    host.onOnline(() => wakeOnline?.()),
  ];

  const loop = (async () => {
    let retryDelay = retryMin;
    while (!signal.aborted) {
      await host.whenReady(signal);
      if (signal.aborted) break;
      if (!wanted) {
        try {
          wanted = await host.hasPendingChanges();
        } catch {
          wanted = false;
        }
      }
      if (!wanted) {
        await wait(Number.POSITIVE_INFINITY, signal, (wake) => (wakeOnWrite = wake));
        wakeOnWrite = undefined;
        continue;
      }
      // Trailing delay: wait for a quiet moment, but not forever while writes keep coming.
      for (;;) {
        const now = Date.now();
        const quietAt = lastWriteAt + delay;
        const latestAt = (firstWriteAt ?? now) + delay * UPLOAD_MAX_DELAY_FACTOR;
        const until = Math.min(quietAt, latestAt);
        if (now >= until || signal.aborted) break;
        await wait(until - now, signal);
      }
      if (signal.aborted) break;
      wanted = false;
      firstWriteAt = undefined;
      try {
        if (await host.push(signal)) retryDelay = retryMin;
        else wanted = true;
      } catch {
        if (signal.aborted) break;
        wanted = true;
        await wait(retryDelay, signal, (wake) => (wakeOnline = wake));
        wakeOnline = undefined;
        retryDelay = Math.min(retryDelay * 2, retryMax);
      }
    }
  })();

  return {
    async stop() {
      controller.abort();
      for (const unsubscribe of stopListening) unsubscribe();
      await loop;
    },
  };
}

/** Resolves after `millis`, on abort, or when the function handed to `wakeable` is called. */
function wait(millis: number, signal: AbortSignal, wakeable?: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = Number.isFinite(millis) ? setTimeout(done, millis) : undefined;
    signal.addEventListener("abort", done, { once: true });
    wakeable?.(done);
  });
}
