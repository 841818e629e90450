/** Loopback HTTP helpers for the server HTTP suites. */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type FetchHandler, type SyncLogger, toNodeListener } from "@oversync/server";

/** A node:http server on an ephemeral loopback port. */
export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves `handler` through toNodeListener on 127.0.0.1, port 0. */
export async function serveOnLoopback(handler: FetchHandler): Promise<LoopbackServer> {
  const server = createServer(toNodeListener(handler));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A bearer-token scheme for tests: `Authorization: Bearer user:<id>` authenticates user `<id>`. */
export async function testAuthenticate(request: Request): Promise<{ userId: string } | null> {
  const match = /^Bearer user:(.+)$/.exec(request.headers.get("authorization") ?? "");
  return match ? { userId: match[1]! } : null;
}

/** Headers of an authenticated sync call by `userId` from `sourceId`. */
export function syncHeaders(
  userId: string,
  sourceId: string,
  extra?: Record<string, string>,
): Record<string, string> {
  return { authorization: `Bearer user:${userId}`, "oversync-source-id": sourceId, ...extra };
}

/**
 * A logger that keeps the faults it is given (`error`), to check what the server logged and what it
 * answered; it takes no request or commit lines.
 */
export function recordingLogger(): Required<Pick<SyncLogger, "error">> & {
  readonly entries: { message: string; details: unknown }[];
} {
  const entries: { message: string; details: unknown }[] = [];
  return { entries, error: (message, details) => entries.push({ message, details }) };
}

/** A parsed JSON response: status, content type and body. */
export interface JsonReply {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: unknown;
  readonly text: string;
  readonly headers: Headers;
}

/** Sends a request and reads the whole reply; `body` is parsed when the reply is JSON. */
export async function call(origin: string, path: string, init?: RequestInit): Promise<JsonReply> {
  const response = await fetch(`${origin}${path}`, init);
  const text = await response.text();
  const contentType = response.headers.get("content-type");
  return {
    status: response.status,
    contentType,
    text,
    headers: response.headers,
    body: contentType === "application/json" && text !== "" ? JSON.parse(text) : undefined,
  };
}
