/**
 * The open `GET /sync/watch` event stream (§1.12) as an async iterable of bundle-change events,
 * parsed by the protocol's BundleChangeSseParser (1 MiB line and event limits).
 */
import { type BundleChangeEvent, BundleChangeSseParser, ProtocolViolationError } from "@oversync/protocol";
import type { RequestDeadline } from "./request-deadline.js";

/**
 * Bundle-change events of one watch connection. Iterate it once. The iteration ends when the
 * server ends the stream or `close()` is called, and throws when the stream breaks (network_error),
 * stays silent past the idle limit (timeout), carries a malformed event (ProtocolViolationError
 * invalid_watch_event), or the caller's signal aborts (its reason).
 */
export interface WatchStream extends AsyncIterable<BundleChangeEvent> {
  /** Closes the connection at once; a pending or later iteration step ends without error. */
  close(): void;
}

/** Wraps a 200 event-stream response. `deadline` is the request's; the stream owns it from now on. */
export function createWatchStream(
  response: Response,
  deadline: RequestDeadline,
  options: { operation: string; idleMillis: number },
): WatchStream {
  let closed = false;
  let iterated = false;

  async function* events(): AsyncGenerator<BundleChangeEvent> {
    const body = response.body;
    if (body === null) return;
    const reader = body.getReader();
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const parser = new BundleChangeSseParser();
    try {
      for (;;) {
        if (closed) return;
        // The idle limit counts only time spent waiting for the server, not time in the consumer.
        deadline.arm(options.idleMillis);
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (closed) return;
          throw deadline.translate(error, options.operation, options.idleMillis);
        } finally {
          deadline.disarm();
        }
        if (chunk.done) {
          // An event without its blank line at end of stream is dropped, as SSE requires.
          parser.reset();
          return;
        }
        let text: string;
        try {
          text = decoder.decode(chunk.value, { stream: true });
        } catch (error) {
          throw new ProtocolViolationError("invalid_watch_event", "watch stream is not valid UTF-8", {
            cause: error,
          });
        }
        yield* parser.acceptText(text);
      }
    } finally {
      closed = true;
      deadline.cancel();
      deadline.dispose();
      await reader.cancel().catch(() => undefined);
    }
  }

  const generator = events();
  return {
    close() {
      if (closed) return;
      closed = true;
      deadline.cancel();
      deadline.dispose();
      // A generator not yet started would never run its cleanup; release the body directly.
      if (!iterated) void response.body?.cancel().catch(() => undefined);
    },
    [Symbol.asyncIterator]() {
      if (iterated) throw new TypeError("a watch stream can be iterated only once; open a new one");
      iterated = true;
      return generator;
    },
  };
}
