/**
 * Mounting the sync handler next to other code: beside a framework on one node:http server, called
 * directly as a Fetch-API function (what Bun, Deno and Hono hand it), and open to a web app on
 * another origin (CORS).
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
  // The handler is (Request, connection?) => Promise<Response>; runtimes with Fetch-API servers
  // take it as is. The connection's address lets callers on this machine read /syncx/status:
  //   Bun:  Bun.serve({ port: 8080, fetch: (request, server) =>
  //           handler(request, { remoteAddress: server.requestIP(request)?.address }) })
  //   Deno: Deno.serve({ port: 8080 }, (request, info) =>
  //           handler(request, { remoteAddress: info.remoteAddr.hostname }))
  //   Hono: app.all("/sync/*", (c) => handler(c.req.raw)), and the same for "/syncx/*"
  const response = await handler(
    new Request("http://localhost/sync/capabilities", {
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": "device-1" },
    }),
  );
  // #endregion fetch
  return response;
}

/** A handler that browser pages of `https://app.example.com` may call (CORS). */
export function handlerForWebApp(service: SyncService, authenticate: SyncHandlerOptions["authenticate"]) {
  // #region cors
  const handler = createSyncHandler({
    service,
    authenticate,
    // Pages of these origins get the CORS headers on every answer, watch streams included, and
    // their preflights (OPTIONS) are answered 204; pages of any other origin get none.
    cors: { origin: ["https://app.example.com"] },
  });
  // #endregion cors
  return handler;
}
