/**
 * JSON responses and error bodies. Every error goes out as `{error, message}` (plus the code's
 * documented extras) with `Content-Type: application/json`; nothing else of an error ever leaves.
 */
import type { OversyncError } from "@oversync/protocol";

/** A JSON response with an exact Content-Length, so a plain body is never sent chunked. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers?: Readonly<Record<string, string>>,
): Response {
  const text = JSON.stringify(body);
  return new Response(text, {
    status,
    headers: {
      ...headers,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
    },
  });
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

/** The error body and status of an error. */
export function errorResponse(error: OversyncError, headers?: Readonly<Record<string, string>>): Response {
  const body = error.toErrorBody();
  return jsonResponse({ ...body, message: boundedMessage(body.message) }, error.status, headers);
}

function boundedMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE_LENGTH) return message;
  let end = MAX_ERROR_MESSAGE_LENGTH;
  // Never cut a surrogate pair in half.
  const last = message.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${message.slice(0, end)}…`;
}
