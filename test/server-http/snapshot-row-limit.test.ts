/**
 * `max_bytes_per_snapshot_row` holds for writes, not only for snapshots: over real HTTP against a
 * service on PostgreSQL with a small row limit, a row a snapshot could never carry is refused when
 * it is uploaded (nothing staged), or when its stored form is sealed (nothing committed), and a
 * server-originated write cannot commit one either; so every snapshot of the user keeps working. A
 * row exactly at the limit is accepted and served, measured as the clients measure it.
 */
import { randomUUID } from "node:crypto";
import { type PushRow, type SnapshotChunk, canonicalRequestHash, snapshotRowJson } from "@oversync/protocol";
import { createSyncTransport } from "../../packages/client/src/transport/sync-transport.js";
import { ServerWriteError, type SyncRuntime, createSyncHandler, createSyncService } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { docRow, userRow } from "../server/service-harness.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  type JsonReply,
  type LoopbackServer,
  call,
  recordingLogger,
  serveOnLoopback,
  syncHeaders,
  testAuthenticate,
} from "./http-support.js";

/** The advertised and enforced row limit: small, so rows at and past it are cheap to build. */
const LIMIT = 2048;

let db: TestDatabase;
let service: SyncRuntime;
let server: LoopbackServer;
const serviceLog = recordingLogger();

beforeAll(async () => {
  db = await createTestDatabase("oversync_rowlim");
  await createBusinessSchema(db.pool);
  service = createSyncService({
    pool: db.pool,
    appName: "snapshot-row-limit",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    limits: { max_bytes_per_snapshot_row: LIMIT },
    logger: { warn: serviceLog.error, error: serviceLog.error },
  });
  await service.bootstrap();
  server = await serveOnLoopback(createSyncHandler({ service, authenticate: testAuthenticate }));
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await db?.drop();
  // A refused row is an answer, never a fault.
  expect(serviceLog.entries).toStrictEqual([]);
});

/** One user's device speaking raw HTTP. */
function as(userId: string, sourceId = `${userId}-device`) {
  const post = (path: string, body?: unknown): Promise<JsonReply> =>
    call(server.origin, path, {
      method: "POST",
      headers: syncHeaders(userId, sourceId, { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { userId, sourceId, post };
}
type Device = ReturnType<typeof as>;

/** Creates a push session for `rows` and uploads them as one chunk; returns both replies. */
async function stage(client: Device, sourceBundleId: number, rows: PushRow[]) {
  const created = await client.post("/sync/push-sessions", {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  });
  expect(created.status).toBe(200);
  const pushId = (created.body as { push_id: string }).push_id;
  const chunk = await client.post(`/sync/push-sessions/${pushId}/chunks`, { start_row_ordinal: 0, rows });
  return { pushId, chunk };
}

/** Pushes `rows` as one bundle; returns the commit reply. */
async function push(client: Device, sourceBundleId: number, rows: PushRow[]): Promise<JsonReply> {
  const { pushId, chunk } = await stage(client, sourceBundleId, rows);
  expect(chunk.status).toBe(200);
  return client.post(`/sync/push-sessions/${pushId}/commit`);
}

/** A user whose scope is initialized and holds one small doc (bundle 1). */
async function seededUser(name: string): Promise<Device> {
  const client = as(`${name}-${randomUUID().slice(0, 8)}`);
  expect((await client.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
  expect((await push(client, 1, [docRow("small", "fits easily")])).status).toBe(200);
  return client;
}

/** A docs row whose snapshot row object at `rowVersion` is exactly `bytes` long. */
function docOfSize(docId: string, rowVersion: number, bytes: number): PushRow {
  const empty = snapshotRowJson({
    schema: "business",
    table: "docs",
    key: { doc_id: docId },
    row_version: rowVersion,
    payload: { doc_id: docId, body: "" },
  }).byteLength;
  return docRow(docId, "b".repeat(bytes - empty));
}

/**
 * Reads the user's whole snapshot through the client package's transport, whose decoders measure
 * each row as received; `maxBytes` is the chunk budget asked for.
 */
async function snapshot(client: Device, maxBytes = LIMIT): Promise<SnapshotChunk["rows"][number][]> {
  const transport = createSyncTransport({
    baseUrl: `${server.origin}/`,
    tokenProvider: () => `user:${client.userId}`,
    sourceId: () => client.sourceId,
  });
  const session = await transport.createSnapshotSession();
  const rows: SnapshotChunk["rows"][number][] = [];
  let after = 0;
  let bytes = 0;
  for (;;) {
    const chunk = await transport.fetchSnapshotChunk({
      session,
      afterRowOrdinal: after,
      bytesBefore: bytes,
      maxRows: 100,
      maxBytes,
    });
    for (const length of chunk.rowByteLengths) expect(length).toBeLessThanOrEqual(LIMIT);
    rows.push(...chunk.rows);
    after = chunk.next_row_ordinal;
    bytes += chunk.byte_count;
    if (!chunk.has_more) break;
  }
  return rows;
}

async function count(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`SELECT (${sql})::int AS n`, values);
  return rows[0]!.n;
}

/** The user's committed bundles. */
function bundleCount(userId: string): Promise<number> {
  return count(
    "SELECT count(*) FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1",
    [userId],
  );
}

describe("push", () => {
  it("refuses a row above the limit at chunk upload, stages nothing, and snapshots keep working", async () => {
    const client = await seededUser("big");
    const big = docOfSize("too-big", 2, LIMIT + 1);
    const { pushId, chunk } = await stage(client, 2, [docRow("fine", "small"), big]);
    expect(chunk.status).toBe(400);
    expect(chunk.body).toStrictEqual({
      error: "push_chunk_invalid",
      message: `rows[1]: row business.docs doc_id="too-big" would take ${LIMIT + 1} bytes in a snapshot, more than max_bytes_per_snapshot_row ${LIMIT}; no snapshot could carry it to a new device, so store less in one row`,
    });
    // Nothing of the chunk was staged, so the session cannot commit.
    expect(await count("SELECT count(*) FROM sync.push_session_rows WHERE push_id = $1", [pushId])).toBe(0);
    const commit = await client.post(`/sync/push-sessions/${pushId}/commit`);
    expect([commit.status, (commit.body as { error: string }).error]).toStrictEqual([
      400,
      "push_commit_invalid",
    ]);
    expect(await bundleCount(client.userId)).toBe(1);
    expect(await count("SELECT count(*) FROM business.docs WHERE _sync_scope_id = $1", [client.userId])).toBe(
      1,
    );

    const rows = await snapshot(client);
    expect(rows.map((row) => row.key.doc_id)).toStrictEqual(["small"]);
  });

  it("accepts a row exactly at the limit and serves it in a snapshot, in a chunk of just its size", async () => {
    const client = await seededUser("edge");
    const edge = docOfSize("at-limit", 2, LIMIT);
    expect((await push(client, 2, [edge])).status).toBe(200);
    const rows = await snapshot(client, LIMIT);
    const served = rows.find((row) => row.key.doc_id === "at-limit")!;
    expect(served.row_version).toBe(2);
    expect(snapshotRowJson(served).byteLength).toBe(LIMIT);
  });

  it("refuses at commit a row that fits as uploaded but not as stored, and commits nothing", async () => {
    const client = await seededUser("stored");
    // Timestamps are stored and served as "+00:00" where the upload said "Z": 5 bytes more each.
    const id = randomUUID();
    const uploaded = userRow(id, "Stored", { email: "" });
    const asUploaded = (email: string) =>
      snapshotRowJson({
        schema: "business",
        table: "users",
        key: { id },
        row_version: 2,
        payload: { ...uploaded.payload!, email },
      }).byteLength;
    const email = "e".repeat(LIMIT - asUploaded(""));
    expect(asUploaded(email)).toBe(LIMIT);
    const row = userRow(id, "Stored", { email });
    const { pushId, chunk } = await stage(client, 2, [row]);
    expect(chunk.status).toBe(200);
    const commit = await client.post(`/sync/push-sessions/${pushId}/commit`);
    expect(commit.status).toBe(400);
    expect(commit.body).toMatchObject({
      error: "push_commit_invalid",
      message: expect.stringContaining(
        `row business.users id="${id}" would take ${LIMIT + 10} bytes in a snapshot, more than max_bytes_per_snapshot_row ${LIMIT}`,
      ),
    });
    expect(await bundleCount(client.userId)).toBe(1);
    expect(
      await count("SELECT count(*) FROM business.users WHERE _sync_scope_id = $1", [client.userId]),
    ).toBe(0);
    expect((await snapshot(client)).map((served) => served.key.doc_id)).toStrictEqual(["small"]);
  });
});

describe("server-originated writes", () => {
  const writeDoc =
    (docId: string, body: string) => (tx: { query(text: string, values?: unknown[]): Promise<unknown> }) =>
      tx.query("INSERT INTO business.docs (doc_id, body) VALUES ($1, $2)", [docId, body]);

  it("execWrite cannot commit a row above the limit; one at the limit commits and is served", async () => {
    const client = await seededUser("server");
    const tooBig = docOfSize("server-big", 2, LIMIT + 1);
    const error = await service.scopeManager
      .execWrite(client.userId, { writerId: "server:docs" }, writeDoc("server-big", tooBig.payload!.body!))
      .then(
        () => undefined,
        (reason: unknown) => reason,
      );
    expect(error).toBeInstanceOf(ServerWriteError);
    expect((error as ServerWriteError).code).toBe("snapshot_row_too_large");
    expect((error as ServerWriteError).message).toContain(`would take ${LIMIT + 1} bytes in a snapshot`);
    expect(await bundleCount(client.userId)).toBe(1);
    expect((await snapshot(client)).map((row) => row.key.doc_id)).toStrictEqual(["small"]);

    const atLimit = docOfSize("server-edge", 2, LIMIT);
    const written = await service.scopeManager.execWrite(
      client.userId,
      { writerId: "server:docs" },
      writeDoc("server-edge", atLimit.payload!.body!),
    );
    expect(written.bundle.bundle_seq).toBe(2);
    const served = (await snapshot(client)).find((row) => row.key.doc_id === "server-edge")!;
    expect(snapshotRowJson(served).byteLength).toBe(LIMIT);
  });
});
