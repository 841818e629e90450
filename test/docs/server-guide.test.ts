/**
 * The docs site's Server guide: its examples (docs/examples/server-writes.ts, mounting.ts) against
 * real PostgreSQL over loopback HTTP: a backend write through execWrite reaches a device's pull
 * while plain SQL is refused; the sync routes served beside another app on one server; the handler
 * called as a Fetch function; the CORS option's preflight and headers; the admin token opening
 * status to a remote caller.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createSyncHandler } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handlerWithAdminToken } from "../../docs/examples/admin-access.js";
import { startHostServer, stopHostServer } from "../../docs/examples/host-server.js";
import { capabilitiesThroughFetch, handlerForWebApp, serveBesideApp } from "../../docs/examples/mounting.js";
import { postFromBackend, postWithPlainSql } from "../../docs/examples/server-writes.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { remoteCallerKind, serveLocalAndRemote } from "../support/remote-caller.js";

const TOKEN = "session-of-ada";
const AUTH = { authorization: `Bearer ${TOKEN}`, "oversync-source-id": "device-1" };
const authenticate = async (request: Request) =>
  request.headers.get("authorization") === `Bearer ${TOKEN}` ? { userId: "ada" } : null;

describe("docs: Server guide examples", () => {
  let db: TestDatabase;
  let host: Awaited<ReturnType<typeof startHostServer>>;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`
      CREATE SCHEMA business;
      CREATE TABLE business.users (
        _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL,
        PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE business.posts (
        _sync_scope_id text NOT NULL, id uuid NOT NULL, author_id uuid, title text NOT NULL,
        PRIMARY KEY (_sync_scope_id, id),
        FOREIGN KEY (_sync_scope_id, author_id) REFERENCES business.users (_sync_scope_id, id)
          DEFERRABLE INITIALLY DEFERRED);`);
    host = await startHostServer({
      databaseUrl: db.url,
      port: 0,
      verifySession: async (token) => (token === TOKEN ? "ada" : null),
    });
    base = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (host) await stopHostServer(host);
    await db?.drop();
  });

  it("execWrite commits a bundle a device pulls; plain SQL on a synced table is refused", async () => {
    const { bundle, postId } = await postFromBackend(host.sync, "ada", "Welcome!");
    expect(bundle).toMatchObject({ source_id: "server:welcome", source_bundle_id: 1, row_count: 1 });

    const pull = await fetch(`${base}/sync/pull?after_bundle_seq=0`, { headers: AUTH });
    expect(pull.status).toBe(200);
    const body = (await pull.json()) as {
      bundles: { rows: { table: string; payload: { id: string; title: string } }[] }[];
    };
    expect(body.bundles.flatMap((b) => b.rows).map((r) => [r.table, r.payload.id, r.payload.title])).toEqual([
      ["posts", postId, "Welcome!"],
    ]);

    await expect(postWithPlainSql(db.pool, "ada", "Sneaky")).rejects.toThrow(/outside an oversync bundle/);
  });

  it("serves the sync routes under /api beside another app, before the app reads any body", async () => {
    const server: Server = serveBesideApp(host.sync, authenticate, (request, response) => {
      // The "framework": reads every body as JSON first, as express.json() does.
      let text = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        text += chunk;
      });
      request.on("end", () => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ app: request.url, body: text === "" ? null : JSON.parse(text) }));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const connect = await fetch(`${origin}/api/sync/connect`, {
        method: "POST",
        headers: AUTH,
        body: JSON.stringify({ has_local_pending_rows: false }),
      });
      expect(connect.status).toBe(200);
      expect(await connect.json()).toHaveProperty("resolution");
      const health = await fetch(`${origin}/api/syncx/health`);
      expect(health.status).toBe(200);
      const app = await fetch(`${origin}/api/todos`, {
        method: "POST",
        body: JSON.stringify({ title: "x" }),
      });
      expect(await app.json()).toEqual({ app: "/api/todos", body: { title: "x" } });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("the handler answers a Request directly, as Fetch-API runtimes call it", async () => {
    const handler = createSyncHandler({ service: host.sync, authenticate });
    const response = await capabilitiesThroughFetch(handler, TOKEN);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ protocol_version: "v1" });
  });

  it("the CORS option answers preflights and adds its headers to every answer of the app's origin", async () => {
    const handler = handlerForWebApp(host.sync, authenticate);
    const preflight = await handler(
      new Request("http://localhost/sync/connect", {
        method: "OPTIONS",
        headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
      }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Oversync-Source-ID");
    const page = { origin: "https://app.example.com" };
    const answer = await handler(
      new Request("http://localhost/sync/capabilities", { headers: { ...AUTH, ...page } }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const refused = await handler(new Request("http://localhost/sync/capabilities", { headers: page }));
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const stranger = await handler(
      new Request("http://localhost/sync/capabilities", {
        headers: { ...AUTH, origin: "https://other.example.com" },
      }),
    );
    expect(stranger.status).toBe(200);
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
  });

  it(`the admin token opens status to a remote caller; loopback callers need none (remote ${remoteCallerKind()})`, async () => {
    const adminToken = "docs-example-admin-token-0123";
    const served = await serveLocalAndRemote(handlerWithAdminToken(host.sync, authenticate, adminToken));
    try {
      expect((await fetch(`${served.local}/syncx/status`)).status).toBe(200);
      const refused = await fetch(`${served.remote}/syncx/status`);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: "admin_access_denied" });
      const admitted = await fetch(`${served.remote}/syncx/status`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(admitted.status).toBe(200);
      expect(await admitted.json()).toHaveProperty("registered_tables");
    } finally {
      await served.close();
    }
  });
});
