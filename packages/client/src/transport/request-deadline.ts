/**
 * One request's abort signal: the caller's signal plus a re-armable timer, and the translation of
 * whatever fetch threw into the error the caller should see.
 */
import { HttpStatusError, OversyncError, ProtocolViolationError } from "@oversync/protocol";
import { TransportError } from "./transport-errors.js";

/** Links a request to its caller's signal and its time limit. */
export class RequestDeadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expired = false;
  private readonly caller: AbortSignal | undefined;
  private readonly onCallerAbort = () => this.controller.abort(this.caller?.reason);

  constructor(caller: AbortSignal | undefined) {
    this.caller = caller;
    if (caller?.aborted) this.controller.abort(caller.reason);
    else caller?.addEventListener("abort", this.onCallerAbort, { once: true });
  }

  /** The signal to hand to fetch. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True when the request was cancelled: by the caller, by `cancel()`, or by the timer. */
  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** (Re)starts the timer: the request is aborted as timed out after `millis` unless re-armed. */
  arm(millis: number): void {
    this.disarm();
    if (!Number.isFinite(millis)) return;
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new DOMException("request timed out", "TimeoutError"));
    }, millis);
  }

  /** Stops the timer. */
  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Aborts the request on the client's own initiative (a watch stream being closed). */
  cancel(): void {
    this.controller.abort(new DOMException("closed by the client", "AbortError"));
  }

  /** Releases the timer and the caller-signal listener. */
  dispose(): void {
    this.disarm();
    this.caller?.removeEventListener("abort", this.onCallerAbort);
  }

  /**
   * The error to throw for a failure of this request: the caller's abort reason when the caller
   * cancelled, `timeout` when the timer fired, the typed protocol and transport errors as they are,
   * and `network_error` for anything fetch or the body stream threw.
   */
  translate(error: unknown, operation: string, limitMillis: number): unknown {
    if (this.caller?.aborted) return this.caller.reason;
    if (this.expired) {
      return new TransportError("timeout", operation, `no complete answer within ${limitMillis} ms`, {
        cause: error,
      });
    }
    if (
      error instanceof TransportError ||
      error instanceof OversyncError ||
      error instanceof HttpStatusError ||
      error instanceof ProtocolViolationError
    ) {
      return error;
    }
    const detail = error instanceof Error ? describeCause(error) : String(error);
    return new TransportError("network_error", operation, `request failed: ${detail}`, { cause: error });
  }
}

function describeCause(error: Error): string {
  // Node's fetch reports "fetch failed" and keeps the socket error (ECONNREFUSED, …) as the cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
