/**
 * JSON responses and error bodies. Every error goes out as `{error, message}` (plus the code's
 * documented extras) with `Content-Type: application/json`; nothing else of an error ever leaves.
 */
import type { OversyncError } from "@oversync/protocol";

const UTF8 = new TextEncoder();

/** A JSON response with an exact Content-Length, so a plain body is never sent chunked. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers?: Readonly<Record<string, string>>,
): Response {
  return jsonTextResponse(JSON.stringify(body), status, headers);
}

/**
 * A response whose JSON is already text (pull pages; snapshot chunks splice stored row text). The
 * text is encoded once, natively, here: the Content-Length is the encoded body's own length, and
 * the Response need not encode it again (a pull page is megabytes).
 */
export function jsonTextResponse(
  text: string,
  status = 200,
  headers?: Readonly<Record<string, string>>,
): Response {
  const body = UTF8.encode(text);
  return new Response(body, {
    status,
    headers: { ...headers, "content-type": "application/json", "content-length": String(body.byteLength) },
  });
}

/** The body length of a response built here, for the transfer metrics. */
export function contentLength(response: Response): number {
  return Number(response.headers.get("content-length"));
}

/** An empty 204 response, as DELETE endpoints answer. */
export function noContentResponse(): Response {
  return new Response(null, { status: 204 });
}

/**
 * The longest message an error body carries, in UTF-16 units. Messages may quote client input (a
 * column name, a value), and clients refuse error bodies above 64 KiB.
 */
export const MAX_ERROR_MESSAGE_LENGTH = 2048;

/**
 * The `Retry-After` seconds of a 429: the error's own `retryAfterSeconds` when it carries one
 * (SnapshotCapacityError), otherwise 1. Clients read it only on 429 and need a positive integer.
 */
function retryAfter(error: OversyncError): Record<string, string> | undefined {
  if (error.status !== 429) return undefined;
  const seconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  const valid = typeof seconds === "number" && Number.isSafeInteger(seconds) && seconds > 0;
  return { "retry-after": String(valid ? seconds : 1) };
}

/** The error body and status of an error; a 429 also gets `Retry-After`. */
export function errorResponse(error: OversyncError, headers?: Readonly<Record<string, string>>): Response {
  const body = error.toErrorBody();
  return jsonResponse({ ...body, message: boundedMessage(body.message) }, error.status, {
    ...retryAfter(error),
    ...headers,
  });
}

/** `message` cut to MAX_ERROR_MESSAGE_LENGTH. */
export function boundedMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE_LENGTH) return message;
  let end = MAX_ERROR_MESSAGE_LENGTH;
  // Never cut a surrogate pair in half.
  const last = message.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${message.slice(0, end)}…`;
}
