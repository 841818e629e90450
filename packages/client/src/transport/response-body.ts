/**
 * Reading responses under the protocol's rules (§0 "Responses"): identity or gzip encoding only,
 * the endpoint's content type, a bounded body, and error bodies decoded into typed errors.
 */
import {
  BODY_LIMITS,
  HttpStatusError,
  OversyncError,
  ProtocolViolationError,
  SNAPSHOT_CAPACITY_ERROR_CODES,
  type SnapshotCapacityCode,
  decodeErrorBody,
  parseRetryAfterMillis,
} from "@oversync/protocol";
import { SnapshotCapacityError, TransportError } from "./transport-errors.js";

const ALLOWED_ENCODINGS = new Set(["identity", "gzip"]);

/** True when the Content-Type header names `mediaType` (parameters such as charset allowed). */
export function hasMediaType(response: Response, mediaType: string): boolean {
  const header = response.headers.get("content-type");
  return header !== null && header.split(";")[0]!.trim().toLowerCase() === mediaType;
}

/**
 * Refuses a Content-Encoding other than identity or gzip. fetch has already undone gzip (a
 * browser does it below the API, Node's fetch in the body stream), so the bytes read are decoded.
 */
export async function requireAllowedEncoding(response: Response, operation: string): Promise<void> {
  const header = response.headers.get("content-encoding");
  if (header === null) return;
  const codings = header
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "");
  const refused = codings.find((coding) => !ALLOWED_ENCODINGS.has(coding));
  if (refused === undefined) return;
  await discardBody(response);
  throw new TransportError(
    "invalid_content_encoding",
    operation,
    `response uses Content-Encoding ${JSON.stringify(refused)}; only identity and gzip are allowed, fix the server or proxy`,
    { status: response.status },
  );
}

/**
 * Reads the whole body, refusing it with `body_too_large` as soon as it passes `limit` bytes (the
 * rest is never read: the stream is cancelled, which closes the connection).
 */
export async function readBoundedBody(
  response: Response,
  limit: number,
  operation: string,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new TransportError(
      "body_too_large",
      operation,
      `response body exceeds its ${limit}-byte limit; the server sent more than the protocol allows`,
      { status: response.status },
    );
  // Content-Length counts encoded bytes, so it bounds the body only when nothing is encoded.
  const declared = response.headers.get("content-length");
  if (declared !== null && response.headers.get("content-encoding") === null && Number(declared) > limit) {
    await discardBody(response);
    throw tooLarge();
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** Cancels a body nobody will read, so the connection is released. */
export async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes UTF-8 strictly; bad bytes are a protocol violation of the response. */
export function utf8Text(bytes: Uint8Array, what: string): string {
  try {
    return UTF8.decode(bytes);
  } catch (error) {
    throw new ProtocolViolationError("invalid_response", `${what} body is not valid UTF-8`, { cause: error });
  }
}

/** Parses a JSON response body; text that is not JSON is a protocol violation. */
export function parseJsonBody(bytes: Uint8Array, what: string): unknown {
  const text = utf8Text(bytes, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ProtocolViolationError("invalid_response", `${what} body is not valid JSON`, { cause: error });
  }
}

/**
 * Turns a non-2xx response into the error the caller handles. A JSON error body (at most
 * `bodyLimit`, the protocol's 64 KiB unless the endpoint needs more)
 * with a known code and its own status is an OversyncError (a 429 capacity code also carries
 * Retry-After); anything else is an HttpStatusError handled by status alone, as the clients do.
 * A `source_retired` body must name `sourceId`, the request's header source (§1.14).
 */
export async function errorFromResponse(
  response: Response,
  operation: string,
  sourceId: string,
  bodyLimit: number = BODY_LIMITS.error,
): Promise<OversyncError | HttpStatusError> {
  const status = response.status;
  const bytes = await readBoundedBody(response, bodyLimit, operation);
  if (!hasMediaType(response, "application/json")) {
    const type = response.headers.get("content-type") ?? "no content type";
    return new HttpStatusError(
      status,
      undefined,
      `${operation}: HTTP ${status} with ${type}, not a JSON error body`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(bytes));
  } catch {
    return new HttpStatusError(
      status,
      undefined,
      `${operation}: HTTP ${status} with an unparseable JSON error body`,
    );
  }
  const error = decodeErrorBody(status, json);
  if (
    error instanceof OversyncError &&
    error.code === "source_retired" &&
    error.extras.source_id !== sourceId
  ) {
    throw new ProtocolViolationError(
      "invalid_response",
      `${operation}: source_retired names source ${error.extras.source_id}, but the request came from ${sourceId}`,
    );
  }
  if (error instanceof OversyncError && isCapacityCode(error.code)) {
    return new SnapshotCapacityError(
      error.code,
      error.message,
      parseRetryAfterMillis(response.headers.get("retry-after")),
    );
  }
  return error;
}

function isCapacityCode(code: string): code is SnapshotCapacityCode {
  return (SNAPSHOT_CAPACITY_ERROR_CODES as readonly string[]).includes(code);
}
