/**
 * Every issue-3 route over real HTTP on loopback against a bootstrapped service on a fresh
 * PostgreSQL database: happy paths decoded with the clients' own response validators, the error
 * codes each route answers, hostile input that must leave every table unchanged, and isolation
 * between users. No response may ever mention the hidden `_sync_scope_id` column.
 */
import { randomUUID } from "node:crypto";
import {
  type PushRow,
  bundleHash,
  canonicalRequestHash,
  decodeCapabilitiesBody,
  decodeCommittedRowsResponse,
  decodeConnectResponse,
  decodeErrorBody,
  decodePullResponse,
  decodePushChunkResponse,
  decodePushCommitResponse,
  decodePushCreateResponse,
} from "@oversync/protocol";
import { type SyncRuntime, createSyncHandler, createSyncService } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import {
  type JsonReply,
  type LoopbackServer,
  call,
  recordingLogger,
  serveOnLoopback,
  syncHeaders,
  testAuthenticate,
} from "./http-support.js";

const BASE = "/api/v1";
const MAX_BODY_BYTES = 256 * 1024;

let db: TestDatabase;
let service: SyncRuntime;
let server: LoopbackServer;
const serviceLog = recordingLogger();
const handlerLog = recordingLogger();
/**
 * Every response body of the suite, checked for the hidden column at the end. Replies to requests
 * that themselves named the column (rejected as hostile input) are left out: their error message
 * cites the client's own input.
 */
const transcript: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase("oversync_http");
  await createBusinessSchema(db.pool);
  service = createSyncService({
    pool: db.pool,
    appName: "nethttp-server-example",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: serviceLog.error, error: serviceLog.error },
  });
  await service.bootstrap();
  server = await serveOnLoopback(
    createSyncHandler({
      service,
      authenticate: testAuthenticate,
      basePath: `${BASE}/`,
      maxBodyBytes: MAX_BODY_BYTES,
      logger: handlerLog,
    }),
  );
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await db?.drop();
});

afterAll(() => {
  expect(transcript.length).toBeGreaterThan(50);
  for (const text of transcript) expect(text).not.toContain("_sync_scope_id");
  // Nothing in this suite is an unexpected fault.
  expect(handlerLog.entries).toStrictEqual([]);
  expect(serviceLog.entries).toStrictEqual([]);
});

/** A sync client for one user and source, speaking raw HTTP. */
function as(userId: string, sourceId = `${userId}-device`) {
  const send = async (method: string, path: string, body?: string): Promise<JsonReply> => {
    const reply = await call(server.origin, `${BASE}${path}`, {
      method,
      headers: syncHeaders(userId, sourceId),
      body,
    });
    if (!body?.includes("_sync_scope_id")) transcript.push(reply.text);
    if (reply.text !== "") expect(reply.contentType).toBe("application/json");
    return reply;
  };
  return {
    userId,
    sourceId,
    get: (path: string) => send("GET", path),
    post: (path: string, body?: unknown) =>
      send(
        "POST",
        path,
        body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      ),
    del: (path: string) => send("DELETE", path),
  };
}
type Client = ReturnType<typeof as>;

/** A fresh user id, so tests do not share scopes. */
function user(name: string): string {
  return `${name}-${randomUUID().slice(0, 8)}`;
}

/** Asserts an error reply: status, code, `{error, message}` plus only the code's documented extras. */
function expectError(reply: JsonReply, status: number, code: string): { error: string; message: string } {
  expect({ status: reply.status, body: reply.body }).toMatchObject({ status, body: { error: code } });
  // Every code decodes as the clients decode it, with the status the catalogue pairs it with.
  const decoded = decodeErrorBody(reply.status, reply.body);
  expect(decoded.name).toBe("OversyncError");
  expect(typeof (reply.body as { message: unknown }).message).toBe("string");
  return reply.body as { error: string; message: string };
}

function usersRow(id: string, name: string, op: PushRow["op"] = "INSERT", base = 0): PushRow {
  return {
    schema: "business",
    table: "users",
    key: { id },
    op,
    base_row_version: base,
    ...(op === "DELETE"
      ? {}
      : {
          payload: {
            id,
            name,
            email: `${name.toLowerCase()}@example.com`,
            created_at: "2026-03-24T18:42:11+00:00",
            updated_at: "2026-03-24T18:42:11.5+00:00",
          },
        }),
  };
}

const TYPED_PAYLOAD = {
  name: 'typed "row" <&> \u2028 😀',
  note: null,
  count_value: "-9223372036854775808",
  small_count: "32767",
  medium_count: "-2147483648",
  exact_amount: "-1234567890.123456789",
  enabled_flag: "1",
  rating: "5e-324",
  float4_value: "1.2345678901234567",
  data: "AAEC/f7/",
  created_at: "2026-03-24T18:42:11.123456Z",
};

function typedRow(id: string, payload: Record<string, string | null> = TYPED_PAYLOAD): PushRow {
  return {
    schema: "business",
    table: "typed_rows",
    key: { id },
    op: "INSERT",
    base_row_version: 0,
    payload: { id, ...payload },
  };
}

async function connect(client: Client): Promise<void> {
  const reply = await client.post("/sync/connect", { has_local_pending_rows: false });
  expect(reply.status).toBe(200);
}

/** Opens a staging push session for `rows` and returns its id. */
async function openPush(client: Client, sourceBundleId: number, rows: readonly PushRow[]): Promise<string> {
  const request = {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  };
  const reply = await client.post("/sync/push-sessions", request);
  expect(reply.status).toBe(200);
  const created = decodePushCreateResponse(reply.body, request, client.sourceId);
  if (created.status !== "staging") throw new Error(`expected staging, got ${created.status}`);
  return created.push_id;
}

/** Pushes `rows` in one chunk and commits; returns the commit response. */
async function pushAll(client: Client, sourceBundleId: number, rows: readonly PushRow[]) {
  const pushId = await openPush(client, sourceBundleId, rows);
  const chunk = await client.post(`/sync/push-sessions/${pushId}/chunks`, { start_row_ordinal: 0, rows });
  expect(chunk.status).toBe(200);
  const commit = await client.post(`/sync/push-sessions/${pushId}/commit`);
  expect(commit.status).toBe(200);
  return decodePushCommitResponse(commit.body, { sourceId: client.sourceId, sourceBundleId });
}

/** Every row of every table in `business` and `sync`, as one comparable value. */
async function databaseState(): Promise<Record<string, string>> {
  const tables = await db.pool.query<{ name: string }>(
    `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables
      WHERE table_schema IN ('business', 'sync') AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const state: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const result = await db.pool.query<{ digest: string }>(
      `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS digest FROM ${name} t`,
    );
    state[name] = result.rows[0]!.digest;
  }
  return state;
}

describe("happy path of every route", () => {
  it("capabilities, connect, push create/chunks/commit, committed rows, pull, delete, health and status", async () => {
    const alice = as(user("alice"));

    const capabilities = await alice.get("/sync/capabilities");
    expect(capabilities.status).toBe(200);
    const caps = decodeCapabilitiesBody(capabilities.text);
    expect(caps.features.connect_lifecycle).toBe(true);
    expect(caps.registered_table_specs).toContainEqual({
      schema: "business",
      table: "users",
      sync_key_columns: ["id"],
    });

    const connected = await alice.post("/sync/connect", { has_local_pending_rows: false });
    expect(connected.status).toBe(200);
    expect(decodeConnectResponse(connected.body).resolution).toBe("initialize_empty");

    const userId = randomUUID();
    const typedId = randomUUID();
    const rows = [usersRow(userId, "Ada"), typedRow(typedId), usersRow(randomUUID(), "Grace")];
    const request = {
      source_bundle_id: 1,
      planned_row_count: 3,
      canonical_request_hash: canonicalRequestHash(rows),
    };
    const created = await alice.post("/sync/push-sessions", request);
    expect(created.status).toBe(200);
    const staging = decodePushCreateResponse(created.body, request, alice.sourceId);
    if (staging.status !== "staging") throw new Error("expected staging");

    for (const [start, slice] of [
      [0, rows.slice(0, 2)],
      [2, rows.slice(2)],
    ] as const) {
      const reply = await alice.post(`/sync/push-sessions/${staging.push_id}/chunks`, {
        start_row_ordinal: start,
        rows: slice,
      });
      expect(reply.status).toBe(200);
      decodePushChunkResponse(reply.body, {
        pushId: staging.push_id,
        startRowOrdinal: start,
        rowCount: slice.length,
      });
    }

    const committed = await alice.post(`/sync/push-sessions/${staging.push_id}/commit`);
    expect(committed.status).toBe(200);
    const commit = decodePushCommitResponse(committed.body, { sourceId: alice.sourceId, sourceBundleId: 1 });
    expect(commit).toMatchObject({
      bundle_seq: 1,
      row_count: 3,
      canonical_request_hash: request.canonical_request_hash,
    });

    const page = await alice.get(`/sync/committed-bundles/${commit.bundle_seq}/rows?max_rows=2`);
    expect(page.status).toBe(200);
    const first = decodeCommittedRowsResponse(page.body, { committed: commit, afterRowOrdinal: undefined });
    expect(first).toMatchObject({ has_more: true, next_row_ordinal: 1 });
    const rest = await alice.get(
      `/sync/committed-bundles/${commit.bundle_seq}/rows?after_row_ordinal=1&max_rows=2`,
    );
    const second = decodeCommittedRowsResponse(rest.body, { committed: commit, afterRowOrdinal: 1 });
    expect(second).toMatchObject({ has_more: false, next_row_ordinal: 2 });
    const committedRows = [...first.rows, ...second.rows];
    expect(
      bundleHash(
        committedRows.map((row, ordinal) => ({ ...row, row_ordinal: ordinal, payload: row.payload ?? null })),
      ),
    ).toBe(commit.bundle_hash);
    expect(committedRows.find((row) => row.table === "typed_rows")?.payload).toStrictEqual({
      id: typedId,
      ...TYPED_PAYLOAD,
      exact_amount: "-1234567890.1234567890",
      enabled_flag: true,
      float4_value: "1.2345678806304932",
      created_at: "2026-03-24T18:42:11.123456+00:00",
    });

    const pulled = await alice.get("/sync/pull?after_bundle_seq=0&max_bundles=10");
    expect(pulled.status).toBe(200);
    const pull = decodePullResponse(pulled.body, { afterBundleSeq: 0 });
    expect(pull.stable_bundle_seq).toBe(1);
    expect(pull.bundles.map((bundle) => bundle.rows)).toStrictEqual([committedRows]);

    const again = await alice.post("/sync/push-sessions", request);
    expect(decodePushCreateResponse(again.body, request, alice.sourceId)).toMatchObject({
      status: "already_committed",
      bundle_seq: 1,
      bundle_hash: commit.bundle_hash,
    });

    const doomed = await openPush(alice, 2, [usersRow(randomUUID(), "Temp")]);
    const deleted = await alice.del(`/sync/push-sessions/${doomed}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe("");
    expectError(await alice.post(`/sync/push-sessions/${doomed}/commit`), 404, "push_session_not_found");

    const health = await call(server.origin, `${BASE}/syncx/health`);
    expect(health.status).toBe(200);
    expect(health.body).toStrictEqual({ status: "healthy", lifecycle: "running" });
    const status = await call(server.origin, `${BASE}/syncx/status`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ app_name: "nethttp-server-example", lifecycle: "running" });
    transcript.push(health.text, status.text);
  });
});

describe("service lifecycle over HTTP", () => {
  it("503 service_unavailable before bootstrap and after close; health turns 503 unhealthy", async () => {
    const second = createSyncService({
      pool: db.pool,
      appName: "nethttp-server-example",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      logger: { warn: serviceLog.error, error: serviceLog.error },
    });
    const local = await serveOnLoopback(
      createSyncHandler({ service: second, authenticate: testAuthenticate }),
    );
    try {
      const headers = syncHeaders(user("early"), "early-device");
      const before = await call(local.origin, "/sync/capabilities", { headers });
      expectError(before, 503, "service_unavailable");
      expect((await call(local.origin, "/syncx/health")).status).toBe(503);

      await second.bootstrap();
      expect((await call(local.origin, "/sync/capabilities", { headers })).status).toBe(200);
      const healthy = await call(local.origin, "/syncx/health");
      expect(healthy).toMatchObject({ status: 200, body: { status: "healthy" } });

      await second.close();
      const closed = await call(local.origin, "/sync/connect", {
        method: "POST",
        headers,
        body: '{"has_local_pending_rows":false}',
      });
      expectError(closed, 503, "service_unavailable");
      const health = await call(local.origin, "/syncx/health");
      expect(health).toMatchObject({ status: 503, body: { status: "unhealthy", lifecycle: "closed" } });
      const status = await call(local.origin, "/syncx/status");
      expect(status).toMatchObject({ status: 200, body: { lifecycle: "closed" } });
      transcript.push(before.text, healthy.text, closed.text, health.text, status.text);
    } finally {
      await local.close();
    }
  });
});

describe("error codes the routes answer", () => {
  it("push before connect is 409 scope_uninitialized; pull too", async () => {
    const fresh = as(user("fresh"));
    const rows = [usersRow(randomUUID(), "Early")];
    expectError(
      await fresh.post("/sync/push-sessions", {
        source_bundle_id: 1,
        planned_row_count: 1,
        canonical_request_hash: canonicalRequestHash(rows),
      }),
      409,
      "scope_uninitialized",
    );
    expectError(await fresh.get("/sync/pull?after_bundle_seq=0"), 409, "scope_uninitialized");
  });

  it("connect with a bad body: 400 invalid_request or connect_invalid", async () => {
    const client = as(user("connector"));
    expectError(await client.post("/sync/connect", "{"), 400, "invalid_request");
    expectError(await client.post("/sync/connect", { has_local_pending_rows: 1 }), 400, "connect_invalid");
  });

  it("chunks: unknown session 404, out of order 409, past the plan 400, bad value 400 naming the field", async () => {
    const client = as(user("chunker"));
    await connect(client);
    const rows = [usersRow(randomUUID(), "One"), usersRow(randomUUID(), "Two")];
    const pushId = await openPush(client, 1, rows);

    expectError(
      await client.post(`/sync/push-sessions/${randomUUID()}/chunks`, { start_row_ordinal: 0, rows }),
      404,
      "push_session_not_found",
    );
    expectError(
      await client.post(`/sync/push-sessions/${pushId}/chunks`, {
        start_row_ordinal: 1,
        rows: rows.slice(1),
      }),
      409,
      "push_chunk_out_of_order",
    );
    expectError(
      await client.post(`/sync/push-sessions/${pushId}/chunks`, {
        start_row_ordinal: 0,
        rows: [...rows, usersRow(randomUUID(), "Three")],
      }),
      400,
      "push_chunk_invalid",
    );
    const bad = expectError(
      await client.post(`/sync/push-sessions/${pushId}/chunks`, {
        start_row_ordinal: 0,
        rows: [typedRow(randomUUID(), { ...TYPED_PAYLOAD, count_value: "01" })],
      }),
      400,
      "push_chunk_invalid",
    );
    expect(bad.message).toMatch(/^rows\[0\]\.payload\.count_value: /);
    expectError(await client.post(`/sync/push-sessions/${pushId}/commit`), 400, "push_commit_invalid");
  });

  it("committed rows: unknown bundle 404 committed_bundle_not_found; pull ahead 409 checkpoint_ahead", async () => {
    const client = as(user("reader"));
    await connect(client);
    await pushAll(client, 1, [usersRow(randomUUID(), "Only")]);
    expectError(await client.get("/sync/committed-bundles/2/rows"), 404, "committed_bundle_not_found");
    const ahead = expectError(await client.get("/sync/pull?after_bundle_seq=99"), 409, "checkpoint_ahead");
    expect(ahead.message).toMatch(/99/);
  });

  it("source sequence: a gap is 409 source_sequence_out_of_order", async () => {
    const client = as(user("sequencer"));
    await connect(client);
    await pushAll(client, 1, [usersRow(randomUUID(), "First")]);
    const rows = [usersRow(randomUUID(), "Gap")];
    expectError(
      await client.post("/sync/push-sessions", {
        source_bundle_id: 3,
        planned_row_count: 1,
        canonical_request_hash: canonicalRequestHash(rows),
      }),
      409,
      "source_sequence_out_of_order",
    );
  });

  it("a stale base version is 409 push_conflict with the conflict object and no hidden column", async () => {
    const client = as(user("conflicted"));
    await connect(client);
    const id = randomUUID();
    await pushAll(client, 1, [usersRow(id, "Before")]);
    const stale = [usersRow(id, "After", "UPDATE", 0)];
    const pushId = await openPush(client, 2, stale);
    await client.post(`/sync/push-sessions/${pushId}/chunks`, { start_row_ordinal: 0, rows: stale });
    const reply = await client.post(`/sync/push-sessions/${pushId}/commit`);
    const body = expectError(reply, 409, "push_conflict") as unknown as { conflict: Record<string, unknown> };
    expect(body.conflict).toMatchObject({
      schema: "business",
      table: "users",
      key: { id },
      op: "UPDATE",
      base_row_version: 0,
      server_row_version: 1,
      server_row_deleted: false,
      server_row: { id, name: "Before" },
    });
  });
});

describe("hostile input leaves every table unchanged", () => {
  let client: Client;
  let pushId: string;
  const planned = [usersRow(randomUUID(), "Planned"), usersRow(randomUUID(), "Planned2")];

  beforeAll(async () => {
    client = as(user("mallory"));
    await connect(client);
    await pushAll(client, 1, [usersRow(randomUUID(), "Existing")]);
    pushId = await openPush(client, 2, planned);
  });

  const injected = 'users"; DROP TABLE business.users; --';
  const cases: [string, () => Promise<JsonReply>, number, string][] = [
    [
      "unknown table",
      () => chunk([{ ...usersRow(randomUUID(), "X"), table: "nope" }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "SQL in the table name",
      () => chunk([{ ...usersRow(randomUUID(), "X"), table: injected }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "SQL in the schema name",
      () => chunk([{ ...usersRow(randomUUID(), "X"), schema: "business; DROP SCHEMA sync" }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "the sync schema's own tables",
      () => chunk([{ ...usersRow(randomUUID(), "X"), schema: "sync", table: "bundle_log" }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "unknown column",
      () => {
        const row = usersRow(randomUUID(), "X");
        return chunk([{ ...row, payload: { ...row.payload, [injected]: "1" } }]);
      },
      400,
      "push_chunk_invalid",
    ],
    [
      "hidden scope column in the payload",
      () => {
        const row = usersRow(randomUUID(), "X");
        return chunk([{ ...row, payload: { ...row.payload, _sync_scope_id: "victim" } }]);
      },
      400,
      "push_chunk_invalid",
    ],
    [
      "hidden scope column as key",
      () => chunk([{ ...usersRow(randomUUID(), "X"), key: { _sync_scope_id: "victim" } }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "wrong key column",
      () => chunk([{ ...usersRow(randomUUID(), "X"), key: { email: "x@example.com" } }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "non-canonical uuid key",
      () => chunk([usersRow(randomUUID().toUpperCase(), "X")]),
      400,
      "push_chunk_invalid",
    ],
    [
      "number where a string belongs",
      () => chunk([{ ...usersRow(randomUUID(), "X"), base_row_version: "0" as unknown as number }]),
      400,
      "push_chunk_invalid",
    ],
    [
      "value of the wrong type",
      () => chunk([typedRow(randomUUID(), { ...TYPED_PAYLOAD, rating: 1.5 as unknown as string })]),
      400,
      "push_chunk_invalid",
    ],
    [
      "a 100 KB column name (the message quoting it stays short)",
      () => {
        const row = usersRow(randomUUID(), "X");
        return chunk([{ ...row, payload: { ...row.payload, ["c".repeat(100_000)]: "1" } }]);
      },
      400,
      "push_chunk_invalid",
    ],
    ["out-of-order chunk", () => chunk(planned.slice(1), 1), 409, "push_chunk_out_of_order"],
    [
      "oversized body",
      () =>
        client.post(`/sync/push-sessions/${pushId}/chunks`, {
          start_row_ordinal: 0,
          rows: planned,
          pad: "x".repeat(MAX_BODY_BYTES),
        }),
      413,
      "request_too_large",
    ],
    [
      "malformed JSON",
      () => client.post(`/sync/push-sessions/${pushId}/chunks`, '{"start_row_ordinal":0,'),
      400,
      "invalid_request",
    ],
    [
      "SQL in the push id",
      () => client.post(`/sync/push-sessions/'%3BDELETE%20FROM%20sync.push_sessions--/commit`),
      404,
      "push_session_not_found",
    ],
    [
      "SQL in the bundle seq",
      () => client.get("/sync/committed-bundles/1%3BDROP/rows"),
      400,
      "committed_bundle_chunk_invalid",
    ],
    [
      "SQL in a query parameter",
      () => client.get("/sync/pull?after_bundle_seq=0%3BDROP%20TABLE%20x"),
      400,
      "invalid_request",
    ],
  ];

  function chunk(rows: unknown[], start = 0): Promise<JsonReply> {
    return client.post(`/sync/push-sessions/${pushId}/chunks`, { start_row_ordinal: start, rows });
  }

  it.each(cases)("%s", async (_name, send, status, code) => {
    const before = await databaseState();
    const reply = await send();
    expectError(reply, status, code);
    expect(Buffer.byteLength(reply.text)).toBeLessThan(8192);
    expect(await databaseState()).toStrictEqual(before);
  });

  it("the session still takes its planned rows afterwards", async () => {
    const reply = await chunk(planned);
    expect(reply.status).toBe(200);
    const commit = await client.post(`/sync/push-sessions/${pushId}/commit`);
    expect(commit.status).toBe(200);
  });
});

describe("users are isolated from each other", () => {
  it("user B cannot read or write user A's rows through any endpoint", async () => {
    const alice = as(user("alice"), "shared-device");
    const bob = as(user("bob"), "shared-device");
    await connect(alice);
    await connect(bob);
    const sharedId = "56565656-5656-5656-5656-565656565656";
    const aliceCommit = await pushAll(alice, 1, [usersRow(sharedId, "AliceSecret")]);
    const alicePending = [usersRow(randomUUID(), "AlicePending")];
    const alicePush = await openPush(alice, 2, alicePending);

    // Reads: bob sees neither alice's bundle nor her rows.
    const bobRows = await bob.get(`/sync/committed-bundles/${aliceCommit.bundle_seq}/rows`);
    expectError(bobRows, 404, "committed_bundle_not_found");
    const bobPull = await bob.get("/sync/pull?after_bundle_seq=0");
    expect(bobPull.status).toBe(200);
    expect(bobPull.body).toStrictEqual({ stable_bundle_seq: 0, bundles: [], has_more: false });

    // Writes into alice's session are refused and leave it intact.
    const before = await databaseState();
    expectError(
      await bob.post(`/sync/push-sessions/${alicePush}/chunks`, { start_row_ordinal: 0, rows: alicePending }),
      403,
      "push_session_forbidden",
    );
    expectError(await bob.post(`/sync/push-sessions/${alicePush}/commit`), 403, "push_session_forbidden");
    expectError(await bob.del(`/sync/push-sessions/${alicePush}`), 403, "push_session_forbidden");
    expect(await databaseState()).toStrictEqual(before);

    // Bob updating alice's key conflicts against his own (absent) row, revealing nothing of hers.
    const overwrite = [usersRow(sharedId, "BobWasHere", "UPDATE", aliceCommit.bundle_seq)];
    const bobPush = await openPush(bob, 1, overwrite);
    await bob.post(`/sync/push-sessions/${bobPush}/chunks`, { start_row_ordinal: 0, rows: overwrite });
    const conflict = await bob.post(`/sync/push-sessions/${bobPush}/commit`);
    expectError(conflict, 409, "push_conflict");
    expect(conflict.body).toMatchObject({ conflict: { server_row_version: 0, server_row: null } });
    expect(conflict.text).not.toContain("AliceSecret");

    // Bob inserting the same key makes his own row; alice's stays hers. His conflicted bundle 1
    // was never committed, so his sequence is still at 1.
    const bobCommit = await pushAll(bob, 1, [usersRow(sharedId, "BobOwn")]);
    const bobPage = await bob.get(`/sync/committed-bundles/${bobCommit.bundle_seq}/rows`);
    expect(bobPage.text).toContain("BobOwn");
    expect(bobPage.text).not.toContain("AliceSecret");
    const alicePage = await alice.get(`/sync/committed-bundles/${aliceCommit.bundle_seq}/rows`);
    expect(alicePage.text).toContain("AliceSecret");
    const alicePull = await alice.get("/sync/pull?after_bundle_seq=0");
    expect(alicePull.text).not.toContain("BobOwn");

    // Alice's session still completes.
    const chunk = await alice.post(`/sync/push-sessions/${alicePush}/chunks`, {
      start_row_ordinal: 0,
      rows: alicePending,
    });
    expect(chunk.status).toBe(200);
    expect((await alice.post(`/sync/push-sessions/${alicePush}/commit`)).status).toBe(200);

    const owners = await db.pool.query<{ name: string; owner: string }>(
      "SELECT name, _sync_scope_id AS owner FROM business.users WHERE id = $1 ORDER BY name",
      [sharedId],
    );
    expect(owners.rows).toStrictEqual([
      { name: "AliceSecret", owner: alice.userId },
      { name: "BobOwn", owner: bob.userId },
    ]);
  });
});
