/** The wire error type shared by server (to answer) and client (to decode). */
import type { z } from "zod";
import { ERROR_STATUS, type ErrorCode, type SnapshotLimitDimension, isErrorCode } from "./error-codes.js";
import { ProtocolViolationError } from "./protocol-violation.js";
import { ERROR_EXTRAS_SCHEMAS, type PushConflict, errorBodySchema } from "./wire/errors.js";
import { jsonObjectSchema, safeDecode } from "./wire/shared.js";

/** Structured members some codes add to the error body (§1.14). */
export interface OversyncErrorExtras {
  /** `push_conflict`: the conflicting row. */
  readonly conflict?: PushConflict;
  /** `source_retired`: the failing request's header source. */
  readonly source_id?: string;
  /** `source_retired`: the successor, omitted when unknown. */
  readonly replaced_by_source_id?: string;
  /** `snapshot_session_limit_exceeded`: which limit. */
  readonly dimension?: SnapshotLimitDimension;
  /** `snapshot_session_limit_exceeded`: the size asked for. */
  readonly actual?: number;
  /** `snapshot_session_limit_exceeded`: the configured limit. */
  readonly limit?: number;
  /** `snapshot_chunk_too_small`: bytes of the next row, more than `max_bytes`. */
  readonly required_byte_count?: number;
}

/** An error body exactly as it goes over the wire. */
export type ErrorBody = { readonly error: ErrorCode; readonly message: string } & OversyncErrorExtras;

type ExtrasCode = keyof typeof ERROR_EXTRAS_SCHEMAS;

function hasExtras(code: ErrorCode): code is ExtrasCode {
  return Object.hasOwn(ERROR_EXTRAS_SCHEMAS, code);
}

/**
 * A protocol error with a stable wire `code`, the one HTTP `status` that code is sent with, a
 * message for people, and the code's structured extras. It never carries a stack onto the wire.
 */
export class OversyncError extends Error {
  // Widened so a subclass (the client's SnapshotCapacityError) can report its own name.
  override readonly name: string = "OversyncError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly extras: OversyncErrorExtras;

  constructor(code: ErrorCode, message: string, options?: { extras?: OversyncErrorExtras; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.extras = checkExtras(code, options?.extras ?? {});
  }

  /** The JSON error body: `{error, message}` plus this code's extras, nothing else. */
  toErrorBody(): ErrorBody {
    return { error: this.code, message: this.message, ...this.extras };
  }
}

function checkExtras(code: ErrorCode, extras: OversyncErrorExtras): OversyncErrorExtras {
  const given = Object.entries(extras).filter(([, value]) => value !== undefined);
  if (!hasExtras(code)) {
    if (given.length > 0) {
      throw new TypeError(
        `error code ${code} carries no extra members, got ${given.map(([k]) => k).join(", ")}`,
      );
    }
    return {};
  }
  const schema: z.ZodType<OversyncErrorExtras> = ERROR_EXTRAS_SCHEMAS[code];
  const allowed = Object.keys(ERROR_EXTRAS_SCHEMAS[code].shape);
  const unknown = given.map(([name]) => name).filter((name) => !allowed.includes(name));
  if (unknown.length > 0) {
    throw new TypeError(`error code ${code} carries only ${allowed.join(", ")}, got ${unknown.join(", ")}`);
  }
  const decoded = safeDecode(schema, Object.fromEntries(given));
  if (!decoded.ok) throw new TypeError(`invalid extras for error code ${code}: ${decoded.failure.message}`);
  return decoded.value;
}

/**
 * A non-2xx response the client handles by status alone: its body is not an error body, its code
 * is not ours, or the code came with a status other than the one it is defined with. Its `code` is
 * always "http_status", so code switches stay over a closed set; the body's own code, which no
 * decision may rest on, is `bodyCode`.
 */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";
  readonly code = "http_status";
  readonly status: number;
  /** The body's `error` member when it had a string one. */
  readonly bodyCode: string | undefined;

  constructor(status: number, bodyCode: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.bodyCode = bodyCode;
  }
}

/**
 * Decodes a non-2xx JSON body. A known code sent with its own status becomes an OversyncError with
 * its extras checked (malformed extras throw ProtocolViolationError); anything else becomes an
 * HttpStatusError.
 */
export function decodeErrorBody(status: number, json: unknown): OversyncError | HttpStatusError {
  const base = safeDecode(errorBodySchema, json);
  if (!base.ok) {
    const error = safeDecode(jsonObjectSchema, json);
    const code = error.ok && typeof error.value.error === "string" ? error.value.error : undefined;
    return new HttpStatusError(
      status,
      code,
      `HTTP ${status} without a valid error body (${base.failure.message})`,
    );
  }
  const { error: code, message } = base.value;
  if (!isErrorCode(code) || ERROR_STATUS[code] !== status) {
    return new HttpStatusError(status, code, message);
  }
  if (!hasExtras(code)) return new OversyncError(code, message);
  const schema: z.ZodType<OversyncErrorExtras> = ERROR_EXTRAS_SCHEMAS[code];
  const extras = safeDecode(schema, json);
  if (!extras.ok) {
    throw new ProtocolViolationError("invalid_response", `${code} error body: ${extras.failure.message}`, {
      path: extras.failure.path,
    });
  }
  return new OversyncError(code, message, { extras: extras.value });
}
