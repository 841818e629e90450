/**
 * Serves a Fetch-API handler from node:http. Response bodies are streamed chunk by chunk with
 * backpressure (so Server-Sent Events flow as they are produced), the Request's signal aborts
 * when the client goes away before the response is complete, and the handler learns the caller's
 * address (ConnectionInfo) from the socket.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { jsonResponse } from "./responses.js";
import { type SyncLogger, consoleLogger } from "../telemetry/sync-logger.js";
import type { FetchHandler } from "./sync-handler.js";

/** A node:http request listener. */
export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void;

/** Adapts `handler` to `http.createServer(listener)`. */
export function toNodeListener(
  handler: FetchHandler,
  options?: { readonly logger?: SyncLogger },
): NodeListener {
  const logger = options?.logger ?? consoleLogger;
  return (incoming, outgoing) => {
    serve(handler, incoming, outgoing, logger).catch((error: unknown) => {
      logger.error("node listener failed to write a response", { url: incoming.url, error });
      outgoing.destroy();
    });
  };
}

async function serve(
  handler: FetchHandler,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  logger: SyncLogger,
): Promise<void> {
  const controller = new AbortController();
  outgoing.on("close", () => {
    if (!outgoing.writableFinished) controller.abort();
  });
  if (bodyAlreadyRead(incoming)) {
    logger.error("the request body was read before the sync handler", { url: incoming.url });
    await writeResponse(
      jsonResponse(
        {
          error: "internal_error",
          message:
            "the server read this request's body before the sync handler could (a body parser such as express.json() runs first); mount the sync handler before body parsers, or keep them off its routes",
        },
        500,
      ),
      outgoing,
      controller.signal,
    );
    return;
  }
  let request: Request;
  try {
    request = toRequest(incoming, controller.signal);
  } catch {
    await writeResponse(
      jsonResponse({ error: "invalid_request", message: "the request URL or headers are malformed" }, 400),
      outgoing,
      controller.signal,
    );
    return;
  }
  // The peer's address, for admin routes; Forwarded headers are never trusted (admin-access.ts).
  const response = await handler(request, { remoteAddress: incoming.socket.remoteAddress });
  // A request body left unread (a 413, or a route that takes no body) would stall the next
  // request on a kept-alive connection, so such a connection ends with this response.
  if (!incoming.complete) outgoing.setHeader("connection", "close");
  await writeResponse(response, outgoing, controller.signal);
}

/**
 * True when something before this listener consumed a request body (Express's body parsers set
 * `req.body` and read the stream to its end): the handler would see an empty or broken body.
 */
function bodyAlreadyRead(incoming: IncomingMessage): boolean {
  if (incoming.method === "GET" || incoming.method === "HEAD") return false;
  return (incoming as { body?: unknown }).body !== undefined || incoming.readableEnded;
}

function toRequest(incoming: IncomingMessage, signal: AbortSignal): Request {
  const url = new URL(incoming.url ?? "/", `http://${incoming.headers.host ?? "localhost"}`);
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const method = incoming.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal };
  if (hasBody) {
    init.body = Readable.toWeb(incoming) as ReadableStream<Uint8Array>;
    init.duplex = "half";
  }
  return new Request(url, init);
}

async function writeResponse(
  response: Response,
  outgoing: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  outgoing.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") outgoing.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) outgoing.setHeader("set-cookie", cookies);
  if (response.body === null) {
    outgoing.end();
    return;
  }
  // A body of unknown length is a stream (SSE): send the headers now, not with the first event.
  if (!response.headers.has("content-length")) outgoing.flushHeaders();
  const reader = response.body.getReader();
  const cancel = () => {
    reader.cancel().catch(() => undefined);
  };
  signal.addEventListener("abort", cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || signal.aborted) break;
      if (!outgoing.write(value)) await drained(outgoing);
    }
  } finally {
    signal.removeEventListener("abort", cancel);
  }
  if (signal.aborted) {
    cancel();
    return;
  }
  outgoing.end();
}

/** Resolves when the socket takes more data or the response closes, whichever comes first. */
function drained(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off("drain", done);
      outgoing.off("close", done);
      resolve();
    };
    outgoing.on("drain", done);
    outgoing.on("close", done);
  });
}
