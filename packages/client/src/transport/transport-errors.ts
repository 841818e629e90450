/**
 * Failures of the HTTP exchange itself, as opposed to the server's answers: a server's error body
 * becomes `OversyncError` / `HttpStatusError` and a malformed success body `ProtocolViolationError`
 * (all from `@oversync/protocol`). All of them are members of the client's error family
 * (`SyncClientError`, ../errors.ts).
 */
import { OversyncError, type SnapshotCapacityCode } from "@oversync/protocol";

/** Stable machine codes of transport failures; switch on these, not on messages. */
export type TransportErrorCode =
  /** The request never got a complete answer: DNS, refused or reset connection, broken stream. */
  | "network_error"
  /** The request, or a silent watch stream, ran past its time limit. */
  | "timeout"
  /** The response body is larger than the limit for its kind; reading stopped at the limit. */
  | "body_too_large"
  /** A success response did not carry the content type its endpoint requires. */
  | "invalid_content_type"
  /** The response used a content encoding other than identity or gzip. */
  | "invalid_content_encoding"
  /** The request the caller asked for cannot be sent (bad source id, integer out of range, …). */
  | "request_invalid";

/** A failed HTTP exchange with a stable `code`; `status` is set when a response had arrived. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  readonly code: TransportErrorCode;
  /** The operation, e.g. "pull" or "snapshot chunk". */
  readonly operation: string;
  /** The HTTP status when the failure happened after the status line arrived. */
  readonly status: number | undefined;

  constructor(
    code: TransportErrorCode,
    operation: string,
    message: string,
    options?: { status?: number; cause?: unknown },
  ) {
    super(`${operation}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.operation = operation;
    this.status = options?.status;
  }
}

/** True when `error` is a TransportError, optionally with `code`. */
export function isTransportError(error: unknown, code?: TransportErrorCode): error is TransportError {
  return error instanceof TransportError && (code === undefined || error.code === code);
}

/**
 * A 429 `snapshot_build_capacity` / `snapshot_chunk_capacity` answer. It is an OversyncError with
 * that code; it also carries the `Retry-After` delay, the one header the clients read (§0).
 */
export class SnapshotCapacityError extends OversyncError {
  override readonly name = "SnapshotCapacityError";
  declare readonly code: SnapshotCapacityCode;
  /** `Retry-After` as milliseconds, or null when absent or not a positive whole number of seconds. */
  readonly retryAfterMillis: number | null;

  constructor(code: SnapshotCapacityCode, message: string, retryAfterMillis: number | null) {
    super(code, message);
    this.retryAfterMillis = retryAfterMillis;
  }
}

/** Which retry loop gave up. */
export type RetryExhaustedCode = "transient_retry_exhausted" | "snapshot_capacity_retry_exhausted";

/** A retry loop gave up; `cause` is the last failure, `attempts` how many calls were made. */
export class RetryExhaustedError extends Error {
  override readonly name = "RetryExhaustedError";
  readonly code: RetryExhaustedCode;
  readonly operation: string;
  readonly attempts: number;
  /** Time spent in the loop, by the loop's clock. */
  readonly elapsedMillis: number;

  constructor(
    code: RetryExhaustedCode,
    details: { operation: string; attempts: number; elapsedMillis: number; cause: unknown },
  ) {
    const what = code === "transient_retry_exhausted" ? "transient failures" : "snapshot capacity";
    super(
      `${details.operation}: gave up after ${details.attempts} attempts (${what}); the last failure is the cause`,
      { cause: details.cause },
    );
    this.code = code;
    this.operation = details.operation;
    this.attempts = details.attempts;
    this.elapsedMillis = details.elapsedMillis;
  }
}
