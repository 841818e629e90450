/** Reading a request body as UTF-8 text without ever holding more than the configured limit. */
import { OversyncError } from "@oversync/protocol";

/**
 * Reads `request`'s body as text. A declared or actual size above `maxBytes` is 413
 * request_too_large, read no further; a compressed body or invalid UTF-8 is 400 invalid_request.
 * A body that stops arriving (the client went away mid-body, or the server's request timeout cut
 * it off) is 400 invalid_request as well: the client's doing, not a server fault, so it is never
 * logged as one, and anyone can cause it, so it must not fill the error log.
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const encoding = request.headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") {
    throw new OversyncError(
      "invalid_request",
      `request bodies are accepted uncompressed only; send without Content-Encoding ${encoding}`,
    );
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (request.body === null) return "";

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read().catch((error: unknown) => {
      throw new OversyncError(
        "invalid_request",
        "the request body was cut off before it was complete (the connection closed or timed out); send the request again",
        { cause: error },
      );
    });
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Left unread rather than cancelled: cancelling can reset the connection before the 413 is
      // written. The node adapter closes a connection whose request body was not read to the end.
      reader.releaseLock();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(concatBytes(chunks, total));
  } catch {
    throw new OversyncError("invalid_request", "request body is not valid UTF-8 text");
  }
}

function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(maxBytes: number): OversyncError {
  return new OversyncError(
    "request_too_large",
    `request body exceeds ${maxBytes} bytes; send fewer rows per chunk`,
  );
}
