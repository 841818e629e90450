/**
 * Mounting the sync handler next to other code: beside a framework on one node:http server, called
 * directly as a Fetch-API function (what Bun, Deno and Hono hand it), and behind a CORS wrapper.
 * The docs site's Server guide includes the `#region` parts; test/docs/server-guide.test.ts runs
 * them over loopback HTTP against PostgreSQL.
 */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type FetchHandler,
  type SyncHandlerOptions,
  type SyncService,
  createSyncHandler,
  toNodeListener,
} from "@oversync/server";

/** Any node:http listener: an Express app, Koa's `app.callback()`, Fastify's handler from `serverFactory`. */
export type AppListener = (request: IncomingMessage, response: ServerResponse) => void;

/** One node:http server for `app` and the sync routes under `/api`. */
export function serveBesideApp(
  service: SyncService,
  authenticate: SyncHandlerOptions["authenticate"],
  app: AppListener,
) {
  // #region beside-app
  // Clients use `https://host/api` as their base URL.
  const sync = toNodeListener(createSyncHandler({ service, authenticate, basePath: "/api" }));
  // Sync requests reach oversync before the framework sees them, so no body parser
  // (express.json(), Fastify's) has read the body; every other request goes to the app.
  const server = createServer((request, response) => {
    const path = request.url ?? "/";
    if (path.startsWith("/api/sync/") || path.startsWith("/api/syncx/")) sync(request, response);
    else app(request, response);
  });
  // #endregion beside-app
  return server;
}

/** Asks the handler for capabilities without any HTTP server in between. */
export async function capabilitiesThroughFetch(handler: FetchHandler, token: string) {
  // #region fetch
  // The handler is (Request) => Promise<Response>; runtimes with Fetch-API servers take it as is:
  //   Bun:  Bun.serve({ port: 8080, fetch: handler })
  //   Deno: Deno.serve({ port: 8080 }, handler)
  //   Hono: app.all("/sync/*", (c) => handler(c.req.raw)), and the same for "/syncx/*"
  const response = await handler(
    new Request("http://localhost/sync/capabilities", {
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": "device-1" },
    }),
  );
  // #endregion fetch
  return response;
}

/** `handler` answering browsers on `origin`: preflights and the CORS headers on every response. */
export function withCorsFor(origin: string, handler: FetchHandler): FetchHandler {
  // #region cors
  const cors = {
    "access-control-allow-origin": origin,
    "access-control-allow-headers": "Authorization, Content-Type, Oversync-Source-ID",
    "access-control-allow-methods": "GET, POST, DELETE",
    "access-control-max-age": "600",
    vary: "Origin",
  };
  const withCors: FetchHandler = async (request) => {
    if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
    const response = await handler(request);
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(cors)) headers.set(name, value);
    return new Response(response.body, { status: response.status, headers });
  };
  // #endregion cors
  return withCors;
}
