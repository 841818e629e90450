/**
 * Exposure controls of createSyncHandler over real HTTP against a bootstrapped service on real
 * PostgreSQL: health answers anyone with nothing but its state; status and host admin routes answer
 * loopback callers, callers with the admin token, or everyone with publicStatus; CORS preflights,
 * allowed and refused origins, credentials, and CORS on errors and on watch streams. The remote
 * caller is a real one at this machine's interface address when it has one, otherwise simulated
 * (test/support/remote-caller.ts says how).
 */
import { request as httpRequest } from "node:http";
import {
  type AdminRoute,
  type SyncHandlerOptions,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
  jsonResponse,
} from "@oversync/server";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { actor, initializeScope, push, userRow, uuid } from "../server/service-harness.js";
import { pgListener, testPool } from "../server/watch-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type LocalAndRemote, remoteCallerKind, serveLocalAndRemote } from "../support/remote-caller.js";
import { call, syncHeaders, testAuthenticate } from "./http-support.js";
import { WatchStream } from "./watch-stream.js";

const TOKEN = "exposure-test-admin-token";
const APP = "https://app.example.com";

/** A host route for admins only. */
const ADMIN_PING: AdminRoute = {
  method: "GET",
  path: "/admin/ping",
  auth: "admin",
  failureCode: "internal_error",
  handle: async () => jsonResponse({ pong: true }),
};

function corsHeaders(headers: Headers): Record<string, string> {
  const cors: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name.startsWith("access-control-")) cors[name] = value;
  });
  return cors;
}

function expectDenied(reply: Awaited<ReturnType<typeof call>>): void {
  expect(reply.status).toBe(403);
  expect(reply.contentType).toBe("application/json");
  expect(reply.body).toStrictEqual({ error: "admin_access_denied", message: expect.any(String) });
}

let db: TestDatabase;
let sql: pg.Pool;
let listener: ReturnType<typeof pgListener>;
let service: SyncRuntime;
const opened: LocalAndRemote[] = [];

async function served(
  options: Omit<SyncHandlerOptions, "service" | "authenticate">,
): Promise<LocalAndRemote> {
  const handle = await serveLocalAndRemote(
    createSyncHandler({ service, authenticate: testAuthenticate, ...options }),
  );
  opened.push(handle);
  return handle;
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_exposure");
  sql = testPool(db.url);
  await createBusinessSchema(sql);
  listener = pgListener(db.url, "exposure-http");
  service = createSyncService({
    pool: sql,
    appName: "nethttp-server-example",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
    watch: { notifications: listener },
  });
  await service.bootstrap();
});

afterAll(async () => {
  for (const handle of opened) await handle.close();
  await service?.close();
  await listener?.close();
  await sql?.end();
  await db?.drop();
});

describe(`admin routes (remote caller ${remoteCallerKind()})`, () => {
  let plain: LocalAndRemote;

  beforeAll(async () => {
    plain = await served({ routes: [ADMIN_PING] });
  });

  it("health answers anyone, and only whether the server is healthy and where it is in its life", async () => {
    for (const origin of [plain.local, plain.remote]) {
      const health = await call(origin, "/syncx/health");
      expect(health.status).toBe(200);
      expect(health.body).toStrictEqual({ status: "healthy", lifecycle: "running" });
    }
  });

  it("status and a host admin route answer a loopback caller", async () => {
    const status = await call(plain.local, "/syncx/status");
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ app_name: "nethttp-server-example", lifecycle: "running" });
    expect((status.body as { registered_tables: string[] }).registered_tables).toHaveLength(
      BUSINESS_TABLES.length,
    );
    const ping = await call(plain.local, "/admin/ping");
    expect(ping).toMatchObject({ status: 200, body: { pong: true } });
  });

  it("status and a host admin route refuse a remote caller with 403 admin_access_denied", async () => {
    const status = await call(plain.remote, "/syncx/status");
    expectDenied(status);
    expect((status.body as { message: string }).message).toContain(
      "answers only callers on the server's machine",
    );
    expect(status.text).not.toContain("registered_tables");
    expectDenied(await call(plain.remote, "/admin/ping"));
    // A bearer token means nothing when the handler has no admin token.
    expectDenied(
      await call(plain.remote, "/syncx/status", { headers: { authorization: `Bearer ${TOKEN}` } }),
    );
  });

  it("refuses a handler called without the connection (a runtime that does not pass the address)", async () => {
    const handler = createSyncHandler({ service, authenticate: testAuthenticate });
    const response = await handler(new Request("http://localhost/syncx/status"));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "admin_access_denied" });
  });

  it("refuses a browser page of another origin calling through loopback, and a rebound host name", async () => {
    expectDenied(await call(plain.local, "/admin/ping", { headers: { origin: "https://evil.example" } }));
    expectDenied(await call(plain.local, "/syncx/status", { headers: { "sec-fetch-site": "cross-site" } }));
    const port = new URL(plain.local).port;
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(`${plain.local}/syncx/status`, {
        headers: { host: `rebind.example:${port}` },
      });
      request.on("response", (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on("error", reject);
      request.end();
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ error: "admin_access_denied" });
  });

  it("with an admin token: remote callers with exactly the token get in, loopback callers still do", async () => {
    const withToken = await served({ routes: [ADMIN_PING], adminAccess: { token: TOKEN } });
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const status = await call(withToken.remote, "/syncx/status", { headers: bearer });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ app_name: "nethttp-server-example" });
    expect(await call(withToken.remote, "/admin/ping", { headers: bearer })).toMatchObject({ status: 200 });
    const missing = await call(withToken.remote, "/syncx/status");
    expectDenied(missing);
    expect((missing.body as { message: string }).message).toContain("Authorization: Bearer <token>");
    expectDenied(
      await call(withToken.remote, "/syncx/status", { headers: { authorization: `Bearer ${TOKEN}-` } }),
    );
    expect((await call(withToken.local, "/syncx/status")).status).toBe(200);
  });

  it("with loopback: false (a proxy on this machine), loopback callers need the token too", async () => {
    const proxied = await served({ adminAccess: { token: TOKEN, loopback: false } });
    expectDenied(await call(proxied.local, "/syncx/status"));
    const status = await call(proxied.local, "/syncx/status", {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(status.status).toBe(200);
  });

  it("publicStatus answers status to everyone; other admin routes stay closed", async () => {
    const open = await served({ routes: [ADMIN_PING], publicStatus: true });
    const status = await call(open.remote, "/syncx/status");
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ app_name: "nethttp-server-example" });
    expectDenied(await call(open.remote, "/admin/ping"));
  });

  it("refuses an unusable admin token when the handler is built", () => {
    for (const token of ["", "  ", "two words"]) {
      expect(() =>
        createSyncHandler({ service, authenticate: testAuthenticate, adminAccess: { token } }),
      ).toThrow(/adminAccess.token must be a non-empty string/);
    }
  });
});

describe("CORS", () => {
  it("without cors options: no CORS headers and OPTIONS is 405, as before", async () => {
    const plain = await served({});
    const preflight = await call(plain.local, "/sync/connect", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(405);
    const health = await call(plain.local, "/syncx/health", { headers: { origin: APP } });
    expect(corsHeaders(health.headers)).toStrictEqual({});
  });

  describe("with a list of origins", () => {
    let listed: LocalAndRemote;

    beforeAll(async () => {
      listed = await served({ cors: { origin: [APP, "http://localhost:5173"] } });
    });

    it("answers a preflight from an allowed origin 204 with the path's methods and the clients' headers", async () => {
      const preflight = await call(listed.local, "/sync/push-sessions/0190f1a2-7b3c-7d4e-8f50-123456789abc", {
        method: "OPTIONS",
        headers: {
          origin: APP,
          "access-control-request-method": "DELETE",
          "access-control-request-headers": "authorization, oversync-source-id",
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.text).toBe("");
      expect(corsHeaders(preflight.headers)).toStrictEqual({
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "DELETE, OPTIONS",
        "access-control-allow-headers": "Authorization, Content-Type, Oversync-Source-ID",
        "access-control-max-age": "600",
      });
      expect(preflight.headers.get("vary")).toBe("Origin");
      const connect = await call(listed.local, "/sync/connect", {
        method: "OPTIONS",
        headers: { origin: "http://localhost:5173", "access-control-request-method": "POST" },
      });
      expect(connect.headers.get("access-control-allow-methods")).toBe("POST, OPTIONS");
      expect(connect.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    });

    it("answers a preflight from another origin without any CORS header", async () => {
      const preflight = await call(listed.local, "/sync/connect", {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(204);
      expect(corsHeaders(preflight.headers)).toStrictEqual({});
    });

    it("adds the CORS headers to answers and errors for an allowed origin, and none for another", async () => {
      const headers = { ...syncHeaders(`cors-${uuid()}`, "cors-device"), origin: APP };
      const capabilities = await call(listed.local, "/sync/capabilities", { headers });
      expect(capabilities.status).toBe(200);
      expect(corsHeaders(capabilities.headers)).toStrictEqual({
        "access-control-allow-origin": APP,
        "access-control-expose-headers": "Retry-After",
      });
      const unauthenticated = await call(listed.local, "/sync/capabilities", { headers: { origin: APP } });
      expect(unauthenticated.status).toBe(401);
      expect(unauthenticated.headers.get("access-control-allow-origin")).toBe(APP);
      const unknown = await call(listed.local, "/nowhere", { method: "OPTIONS", headers: { origin: APP } });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ error: "not_found" });
      expect(unknown.headers.get("access-control-allow-origin")).toBe(APP);
      const stranger = await call(listed.local, "/sync/capabilities", {
        headers: { ...headers, origin: "https://evil.example" },
      });
      expect(stranger.status).toBe(200);
      expect(corsHeaders(stranger.headers)).toStrictEqual({});
      expect(stranger.headers.get("vary")).toBe("Origin");
    });

    it("adds the CORS headers to a watch stream, which still streams", async () => {
      const who = actor(`cors-watch-${uuid()}`);
      await initializeScope(service, who);
      const committed = await push(service, who, 1, [userRow(uuid(), "Ada")]);
      const controller = new AbortController();
      const response = await fetch(`${listed.local}/sync/watch?after_bundle_seq=0`, {
        headers: { ...syncHeaders(who.userId, who.sourceId), origin: APP },
        signal: controller.signal,
      });
      const stream = new WatchStream(response, controller);
      try {
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe("text/event-stream");
        expect(response.headers.get("access-control-allow-origin")).toBe(APP);
        expect((await stream.nextEvent()).bundle_seq).toBe(committed.bundle_seq);
      } finally {
        controller.abort();
      }
    });
  });

  it('"*" answers every origin with *, and with credentials echoes the origin instead', async () => {
    const any = await served({ cors: { origin: "*" } });
    const reply = await call(any.local, "/syncx/health", { headers: { origin: "https://anywhere.example" } });
    expect(corsHeaders(reply.headers)).toStrictEqual({
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "Retry-After",
    });
    expect(reply.headers.get("vary")).toBeNull();
    const withCredentials = await served({
      cors: {
        origin: "*",
        credentials: true,
        allowHeaders: ["X-Request-ID"],
        exposeHeaders: ["X-Trace"],
        maxAgeSeconds: 60,
      },
    });
    const preflight = await call(withCredentials.local, "/sync/pull", {
      method: "OPTIONS",
      headers: { origin: "https://anywhere.example", "access-control-request-method": "GET" },
    });
    expect(corsHeaders(preflight.headers)).toStrictEqual({
      "access-control-allow-origin": "https://anywhere.example",
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, OPTIONS",
      "access-control-allow-headers": "Authorization, Content-Type, Oversync-Source-ID, X-Request-ID",
      "access-control-max-age": "60",
    });
    const answer = await call(withCredentials.local, "/syncx/health", {
      headers: { origin: "https://anywhere.example" },
    });
    expect(answer.headers.get("access-control-allow-credentials")).toBe("true");
    expect(answer.headers.get("access-control-expose-headers")).toBe("Retry-After, X-Trace");
  });

  it("a function decides per origin", async () => {
    const decided = await served({ cors: { origin: (origin) => origin.endsWith(".example.com") } });
    const yes = await call(decided.local, "/syncx/health", { headers: { origin: "https://a.example.com" } });
    expect(yes.headers.get("access-control-allow-origin")).toBe("https://a.example.com");
    const no = await call(decided.local, "/syncx/health", { headers: { origin: "https://example.org" } });
    expect(no.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses options that are not origins or header names when the handler is built", () => {
    const build = (cors: SyncHandlerOptions["cors"]) => () =>
      createSyncHandler({ service, authenticate: testAuthenticate, cors });
    expect(build({ origin: ["https://app.example.com/path"] })).toThrow(/is not an origin/);
    expect(build({ origin: ["app.example.com"] })).toThrow(/is not an origin/);
    expect(build({ origin: "*", allowHeaders: ["bad header"] })).toThrow(/not a valid HTTP header name/);
    expect(build({ origin: "*", maxAgeSeconds: -1 })).toThrow(/maxAgeSeconds/);
  });
});
