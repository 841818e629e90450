/**
 * The `--test-hooks` routes of the reference server (packages/cli/src/test-hooks.ts), started
 * in-process on real PostgreSQL and called over loopback HTTP: they exist only with the flag,
 * failure rules answer (or cut) one user's requests to one endpoint, the lease hook expires a
 * seed lease, and server SQL commits a server-originated bundle or nothing at all.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_JWT_SECRET, type RunningServer, parseCommandLine, startServer } from "@oversync/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type Reply, device, send, signIn } from "./serve-support.js";

let db: TestDatabase;
let dataDir: string;
let withHooks: RunningServer;
let withoutHooks: RunningServer;
const said: string[] = [];

async function serve(testHooks: boolean): Promise<RunningServer> {
  return startServer({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    databaseUrl: db.url,
    jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
    tokenTtlSeconds: 600,
    shutdownGraceMs: 1000,
    ...(testHooks ? { testHooks: true } : {}),
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    say: (line) => said.push(line),
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), "oversync-hooks-"));
  withHooks = await serve(true);
  withoutHooks = await serve(false);
});

afterAll(async () => {
  await withHooks?.close();
  await withoutHooks?.close();
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

function post(server: RunningServer, path: string, body: unknown): Promise<Reply> {
  return send(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body) });
}

/** A signed-in source of a fresh user on the hooked server. */
async function newDevice(label: string) {
  const user = `${label}-${randomUUID()}`;
  const token = await signIn(withHooks.url, user);
  return { user, token, ...device(withHooks.url, token, `source-${randomUUID()}`) };
}

describe("oversync serve --test-hooks", () => {
  it("is a documented flag; without it none of the hook routes exists", async () => {
    const parsed = parseCommandLine(["serve", "--test-hooks"]);
    expect(parsed).toMatchObject({ kind: "serve", args: { testHooks: true } });
    expect(parseCommandLine(["serve"])).not.toHaveProperty("args.testHooks");
    const help = parseCommandLine(["serve", "--help"]);
    for (const route of [
      "/test/fail-requests",
      "/test/initialization-lease",
      "/test/server-sql",
      "/test/hooks",
    ]) {
      expect(help.kind === "help" && help.text).toContain(route);
      const reply = await send(`${withoutHooks.url}${route}`, {
        method: route === "/test/hooks" ? "GET" : "POST",
        body: route === "/test/hooks" ? undefined : "{}",
      });
      expect({ route, status: reply.status }).toEqual({ route, status: 404 });
    }
    expect(said.some((line) => line.includes("--test-hooks"))).toBe(true);
    const index = await send(`${withHooks.url}/test/hooks`);
    expect(index.body).toMatchObject({
      hooks: ["fail-requests", "initialization-lease", "server-sql"],
      fault_endpoints: expect.arrayContaining(["connect", "push_session_commit", "watch"]),
    });
  });

  it("fail-requests answers one user's next requests to one endpoint, after letting `skip` through", async () => {
    const target = await newDevice("fault");
    const bystander = await newDevice("bystander");
    const rule = {
      user_id: target.user,
      endpoint: "capabilities",
      skip: 1,
      count: 2,
      status: 418,
      body: { error: "teapot" },
    };
    expect((await post(withHooks, "/test/fail-requests", rule)).status).toBe(200);
    const statuses: number[] = [];
    for (let n = 0; n < 4; n++) statuses.push((await target.get("/sync/capabilities")).status);
    expect(statuses).toEqual([200, 418, 418, 200]);
    expect((await bystander.get("/sync/capabilities")).status).toBe(200);

    await post(withHooks, "/test/fail-requests", {
      user_id: target.user,
      endpoint: "pull",
      status: 200,
      body: "{cut",
      content_type: "text/plain",
    });
    const malformed = await target.get("/sync/pull?after_bundle_seq=0");
    expect([malformed.status, malformed.headers.get("content-type"), malformed.text]).toEqual([
      200,
      "text/plain",
      "{cut",
    ]);

    for (const bad of [
      { user_id: target.user, endpoint: "nowhere", status: 500 },
      { user_id: target.user, endpoint: "pull" },
      { user_id: target.user, endpoint: "pull", disconnect: true, status: 500 },
      { endpoint: "pull", status: 500 },
      { user_id: target.user, endpoint: "pull", status: 500, when: "later" },
    ]) {
      const refused = await post(withHooks, "/test/fail-requests", bad);
      expect({ bad, status: refused.status, error: (refused.body as { error?: string }).error }).toEqual({
        bad,
        status: 400,
        error: "invalid_request",
      });
    }
  });

  it("fail-requests can cut the connection, before or after the server handled the request", async () => {
    const target = await newDevice("cut");
    await post(withHooks, "/test/fail-requests", {
      user_id: target.user,
      endpoint: "connect",
      disconnect: true,
      when: "after",
    });
    await expect(target.post("/sync/connect", { has_local_pending_rows: false })).rejects.toThrow();
    // The connect was handled: the scope is initialized, so another source restores it.
    const other = device(withHooks.url, target.token, `other-${randomUUID()}`);
    expect((await other.post("/sync/connect", { has_local_pending_rows: true })).body).toMatchObject({
      resolution: "remote_authoritative",
    });

    const fresh = await newDevice("cut-before");
    await post(withHooks, "/test/fail-requests", {
      user_id: fresh.user,
      endpoint: "connect",
      disconnect: true,
    });
    await expect(fresh.post("/sync/connect", { has_local_pending_rows: false })).rejects.toThrow();
    expect((await fresh.post("/sync/connect", { has_local_pending_rows: true })).body).toMatchObject({
      resolution: "initialize_local",
    });
  });

  it("initialization-lease expires a seed lease, which the next push create reports", async () => {
    const seeder = await newDevice("lease");
    const none = await post(withHooks, "/test/initialization-lease", {
      user_id: seeder.user,
      expires_in_seconds: 0,
    });
    expect([none.status, (none.body as { error: string }).error]).toEqual([409, "scope_not_initializing"]);
    const connect = await seeder.post("/sync/connect", { has_local_pending_rows: true });
    const { initialization_id } = connect.body as { initialization_id: string };
    const moved = await post(withHooks, "/test/initialization-lease", {
      user_id: seeder.user,
      expires_in_seconds: 0,
    });
    expect(moved).toMatchObject({ status: 200, body: { status: "ok", user_id: seeder.user } });
    const create = await seeder.post("/sync/push-sessions", {
      source_bundle_id: 1,
      planned_row_count: 1,
      canonical_request_hash: "0".repeat(64),
      initialization_id,
    });
    expect([create.status, (create.body as { error: string }).error]).toEqual([
      410,
      "initialization_expired",
    ]);
  });

  it("server-sql commits statements as one server-originated bundle, or nothing when one fails", async () => {
    const reader = await newDevice("server-sql");
    const id = randomUUID();
    const insert = {
      sql: "INSERT INTO business.users (id, name, email) VALUES ($1, 'Server', 's@x')",
      params: [id],
    };
    const first = await post(withHooks, "/test/server-sql", { user_id: reader.user, statements: [insert] });
    expect(first).toMatchObject({
      status: 200,
      body: {
        auto_initialized: true,
        bundle: { bundle_seq: 1, source_id: "server-writer", source_bundle_id: 1 },
        results: [{ row_count: 1 }],
      },
    });
    const failed = await post(withHooks, "/test/server-sql", {
      user_id: reader.user,
      statements: [
        { sql: "UPDATE business.users SET name = 'Never' WHERE id = $1", params: [id] },
        { sql: "INSERT INTO business.users (id) VALUES ($1)", params: [randomUUID()] },
      ],
    });
    expect([failed.status, (failed.body as { error: string }).error]).toEqual([400, "server_write_failed"]);
    const unchanged = await post(withHooks, "/test/server-sql", {
      user_id: reader.user,
      statements: [{ sql: "SELECT 1" }],
    });
    expect([unchanged.status, (unchanged.body as { error: string }).error]).toEqual([
      422,
      "no_captured_changes",
    ]);
    const exact = await post(withHooks, "/test/server-sql", {
      user_id: reader.user,
      writer_id: "exact-writer",
      source_bundle_id: 1,
      statements: [{ sql: "UPDATE business.users SET name = 'Exact' WHERE id = $1", params: [id] }],
    });
    expect(exact.body).toMatchObject({
      bundle: { bundle_seq: 2, source_id: "exact-writer", source_bundle_id: 1 },
    });
    const skipped = await post(withHooks, "/test/server-sql", {
      user_id: reader.user,
      writer_id: "exact-writer",
      source_bundle_id: 5,
      statements: [{ sql: "UPDATE business.users SET name = 'Skipped' WHERE id = $1", params: [id] }],
    });
    expect([skipped.status, (skipped.body as { error: string }).error]).toEqual([
      409,
      "source_sequence_out_of_order",
    ]);

    await reader.post("/sync/connect", { has_local_pending_rows: false });
    const pulled = await reader.get("/sync/pull?after_bundle_seq=0");
    const names = (pulled.body as { bundles: { rows: { payload: { name: string } }[] }[] }).bundles.map(
      (bundle) => bundle.rows[0]!.payload.name,
    );
    expect(names).toEqual(["Server", "Exact"]);
  });
});
