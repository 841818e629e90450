/**
 * The snapshot-session routes (protocol-latest §1.9–§1.11, §1.14) over real HTTP on loopback
 * against services on a fresh PostgreSQL database. Happy paths go through the client package's own
 * transport, whose strict decoders measure every chunk's row bytes exactly as received; error
 * answers are checked for their status, exact body members and `Retry-After`.
 */
import {
  type BundleLimits,
  type PushRow,
  type SnapshotSession,
  canonicalRequestHash,
  decodeCapabilitiesBody,
  decodeErrorBody,
  decodeSnapshotSessionBody,
  negotiateSnapshotLimits,
  parseRetryAfterMillis,
  snapshotChunkBodyLimit,
} from "@oversync/protocol";
import { SnapshotCapacityError } from "@oversync/client";
import {
  type SyncTransport,
  createSyncTransport,
} from "../../packages/client/src/transport/sync-transport.js";
import { type SyncRuntime, createSyncHandler, createSyncService } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { docRow } from "../server/service-harness.js";
import { holdSnapshotSlots } from "../server/snapshot-slots.js";
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

const BASE = "/api/v1";

/** Limits of the main service: small maxima so clamping shows, a session row cap for 409s. */
const LIMITS: Partial<BundleLimits> = {
  max_rows_per_snapshot_chunk: 50,
  default_rows_per_snapshot_chunk: 20,
  max_rows_per_snapshot_session: 30,
  max_concurrent_snapshot_builds: 2,
  max_concurrent_snapshot_chunk_requests: 2,
};

interface Served {
  readonly service: SyncRuntime;
  readonly server: LoopbackServer;
}

let db: TestDatabase;
let main: Served;
let shortLived: Served;
const serviceLog = recordingLogger();
/** Every response body, checked at the end for the hidden scope column. */
const transcript: string[] = [];

async function serve(limits: Partial<BundleLimits>): Promise<Served> {
  const service = createSyncService({
    pool: db.pool,
    appName: "snapshot-routes",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    limits,
    logger: { warn: serviceLog.error, error: serviceLog.error },
  });
  await service.bootstrap();
  const server = await serveOnLoopback(
    createSyncHandler({ service, authenticate: testAuthenticate, basePath: BASE }),
  );
  return { service, server };
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_snaphttp");
  await createBusinessSchema(db.pool);
  main = await serve(LIMITS);
  // A second service on the same database whose sessions expire after one second.
  shortLived = await serve({ ...LIMITS, snapshot_session_ttl_seconds: 1 });
});

afterAll(async () => {
  for (const served of [main, shortLived]) {
    await served?.server.close();
    await served?.service.close();
  }
  await db?.drop();
});

afterAll(() => {
  expect(transcript.length).toBeGreaterThan(20);
  for (const text of transcript) expect(text).not.toContain("_sync_scope_id");
  expect(serviceLog.entries).toStrictEqual([]);
});

/** A raw request to the main server by `userId` from `sourceId`. */
async function send(
  userId: string,
  sourceId: string,
  method: string,
  path: string,
  body?: unknown,
  origin = main.server.origin,
): Promise<JsonReply> {
  const reply = await call(origin, `${BASE}${path}`, {
    method,
    headers: syncHeaders(
      userId,
      sourceId,
      body === undefined ? undefined : { "content-type": "application/json" },
    ),
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  transcript.push(reply.text);
  return reply;
}

/** The client package's transport for `userId` on `sourceId`, against `origin`. */
function transport(userId: string, sourceId: string, origin = main.server.origin): SyncTransport {
  return createSyncTransport({
    baseUrl: `${origin}${BASE}/`,
    tokenProvider: () => `user:${userId}`,
    sourceId: () => sourceId,
  });
}

/** Pushes `rows` as the source's bundle `sourceBundleId` over HTTP. */
async function pushOverHttp(userId: string, sourceId: string, sourceBundleId: number, rows: PushRow[]) {
  const created = await send(userId, sourceId, "POST", "/sync/push-sessions", {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  });
  if (created.status !== 200) return created;
  const pushId = (created.body as { push_id: string }).push_id;
  const chunk = await send(userId, sourceId, "POST", `/sync/push-sessions/${pushId}/chunks`, {
    start_row_ordinal: 0,
    rows,
  });
  expect(chunk.status).toBe(200);
  return send(userId, sourceId, "POST", `/sync/push-sessions/${pushId}/commit`);
}

/** A user with an initialized scope and `count` docs committed in one bundle from `sourceId`. */
async function seededUser(userId: string, sourceId: string, count: number): Promise<void> {
  expect(
    (await send(userId, sourceId, "POST", "/sync/connect", { has_local_pending_rows: false })).status,
  ).toBe(200);
  const rows = Array.from({ length: count }, (_, i) =>
    docRow(`doc-${String(i).padStart(3, "0")}`, `body ${i} ✓ "quoted"\n${"x".repeat(i * 7)}`),
  );
  expect((await pushOverHttp(userId, sourceId, 1, rows)).status).toBe(200);
}

/** Reads a session through the client transport; returns the chunk sizes. */
async function readThroughClient(
  client: SyncTransport,
  session: SnapshotSession,
  maxRows: number,
  maxBytes: number,
): Promise<{ rows: number; chunks: number[] }> {
  let after = 0;
  let bytes = 0;
  const chunks: number[] = [];
  for (;;) {
    const chunk = await client.fetchSnapshotChunk({
      session,
      afterRowOrdinal: after,
      bytesBefore: bytes,
      maxRows,
      maxBytes,
    });
    chunks.push(chunk.rows.length);
    after = chunk.next_row_ordinal;
    bytes += chunk.byte_count;
    if (!chunk.has_more) break;
  }
  expect([after, bytes]).toStrictEqual([session.row_count, session.byte_count]);
  return { rows: after, chunks };
}

/** Asserts an error reply: status, JSON, exact members and code; returns the body. */
function expectError(reply: JsonReply, status: number, code: string, members: string[] = []) {
  expect(reply.status).toBe(status);
  expect(reply.contentType).toBe("application/json");
  const body = reply.body as Record<string, unknown>;
  expect(Object.keys(body).sort()).toStrictEqual(["error", "message", ...members].sort());
  expect(body.error).toBe(code);
  expect(decodeErrorBody(status, body)).toMatchObject({ code });
  if (status !== 429) expect(reply.headers.get("retry-after")).toBeNull();
  return body;
}

describe("create, read, delete over HTTP", () => {
  it("answers a session the clients' decoder accepts, with no body, {} or a Content-Type-less POST", async () => {
    await seededUser("ann", "ann-phone", 12);
    for (const body of [undefined, "{}"]) {
      const reply = await send("ann", "ann-phone", "POST", "/sync/snapshot-sessions", body);
      expect(reply.status).toBe(200);
      expect(reply.contentType).toBe("application/json");
      const session = decodeSnapshotSessionBody(reply.text);
      expect(Object.keys(reply.body as object).sort()).toStrictEqual(
        ["byte_count", "expires_at", "row_count", "snapshot_bundle_seq", "snapshot_id"].sort(),
      );
      expect(session).toMatchObject({ snapshot_bundle_seq: 1, row_count: 12 });
      expect(Buffer.byteLength(reply.text)).toBeLessThanOrEqual(65536);
    }
  });

  it("serves chunks the client transport decodes strictly, with tiny budgets and clamped ones", async () => {
    await seededUser("ben", "ben-phone", 14);
    const client = transport("ben", "ben-phone");
    const session = await client.createSnapshotSession();
    expect(session.row_count).toBe(14);
    const whole = await readThroughClient(client, session, 1000, 4 * 1024 * 1024);
    // max_rows 1000 is clamped to the server's 50, so one chunk still holds all 14.
    expect(whole.chunks).toStrictEqual([14]);
    for (const maxRows of [1, 2, 3]) {
      const paged = await readThroughClient(client, session, maxRows, 4 * 1024 * 1024);
      expect(paged.chunks.every((n) => n <= maxRows)).toBe(true);
      expect(paged.chunks.reduce((sum, n) => sum + n, 0)).toBe(14);
    }
    // Row sizes grow with the doc number, so a budget just above the largest row forces small chunks.
    const raw = await send(
      "ben",
      "ben-phone",
      "GET",
      `/sync/snapshot-sessions/${session.snapshot_id}?after_row_ordinal=13&max_rows=1&max_bytes=4194304`,
    );
    const largest = (raw.body as { byte_count: number }).byte_count;
    const tight = await readThroughClient(client, session, 3, largest + 1);
    expect(tight.chunks.length).toBeGreaterThan(5);
    expect(Buffer.byteLength(raw.text)).toBeLessThanOrEqual(snapshotChunkBodyLimit(4194304, 1));
    expect(Object.keys(raw.body as object)).toStrictEqual([
      "snapshot_id",
      "snapshot_bundle_seq",
      "rows",
      "next_row_ordinal",
      "has_more",
      "byte_count",
    ]);
    await client.deleteSnapshotSession(session.snapshot_id);
  });

  it("delete answers 204 with no body; the session is then 404 on read and delete", async () => {
    await seededUser("cy", "cy-phone", 2);
    const session = decodeSnapshotSessionBody(
      (await send("cy", "cy-phone", "POST", "/sync/snapshot-sessions")).text,
    );
    const path = `/sync/snapshot-sessions/${session.snapshot_id}`;
    const deleted = await send("cy", "cy-phone", "DELETE", path);
    expect([deleted.status, deleted.text]).toStrictEqual([204, ""]);
    expectError(
      await send("cy", "cy-phone", "GET", `${path}?after_row_ordinal=0&max_rows=10&max_bytes=1000`),
      404,
      "snapshot_session_not_found",
    );
    expectError(await send("cy", "cy-phone", "DELETE", path), 404, "snapshot_session_not_found");
  });
});

describe("error answers", () => {
  it("snapshot_chunk_too_small is 400 with required_byte_count", async () => {
    await seededUser("dee", "dee-phone", 3);
    const session = decodeSnapshotSessionBody(
      (await send("dee", "dee-phone", "POST", "/sync/snapshot-sessions")).text,
    );
    const path = `/sync/snapshot-sessions/${session.snapshot_id}`;
    const reply = await send(
      "dee",
      "dee-phone",
      "GET",
      `${path}?after_row_ordinal=0&max_rows=10&max_bytes=20`,
    );
    const body = expectError(reply, 400, "snapshot_chunk_too_small", ["required_byte_count"]);
    expect(body.required_byte_count).toBeGreaterThan(20);
    const fits = await send(
      "dee",
      "dee-phone",
      "GET",
      `${path}?after_row_ordinal=0&max_rows=10&max_bytes=${body.required_byte_count}`,
    );
    expect((fits.body as { rows: unknown[] }).rows).toHaveLength(1);
  });

  it("snapshot_session_limit_exceeded is 409 with dimension, actual and limit", async () => {
    await seededUser("eve", "eve-phone", 31);
    const reply = await send("eve", "eve-phone", "POST", "/sync/snapshot-sessions");
    const body = expectError(reply, 409, "snapshot_session_limit_exceeded", ["dimension", "actual", "limit"]);
    expect(body).toMatchObject({ dimension: "row_count", actual: 31, limit: 30 });
  });

  it("another user's session is 403; unknown and malformed ids are 404; expired is 410", async () => {
    await seededUser("fay", "fay-phone", 2);
    await seededUser("gus", "gus-phone", 1);
    const session = decodeSnapshotSessionBody(
      (await send("fay", "fay-phone", "POST", "/sync/snapshot-sessions")).text,
    );
    const query = "?after_row_ordinal=0&max_rows=10&max_bytes=100000";
    const path = `/sync/snapshot-sessions/${session.snapshot_id}`;
    expectError(await send("gus", "gus-phone", "GET", `${path}${query}`), 403, "snapshot_session_forbidden");
    expectError(await send("gus", "gus-phone", "DELETE", path), 403, "snapshot_session_forbidden");
    for (const id of [
      "8f2c6b1e-0000-4000-8000-000000000000",
      "not-a-session",
      session.snapshot_id.toUpperCase(),
      "snap%2F1%20x",
      "%E0%A4%A",
    ]) {
      expectError(
        await send("fay", "fay-phone", "GET", `/sync/snapshot-sessions/${id}${query}`),
        404,
        "snapshot_session_not_found",
      );
      expectError(
        await send("fay", "fay-phone", "DELETE", `/sync/snapshot-sessions/${id}`),
        404,
        "snapshot_session_not_found",
      );
    }

    const short = decodeSnapshotSessionBody(
      (await send("fay", "fay-phone", "POST", "/sync/snapshot-sessions", undefined, shortLived.server.origin))
        .text,
    );
    while (Date.now() <= Date.parse(short.expires_at) + 50) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expectError(
      await send(
        "fay",
        "fay-phone",
        "GET",
        `/sync/snapshot-sessions/${short.snapshot_id}${query}`,
        undefined,
        shortLived.server.origin,
      ),
      410,
      "snapshot_session_expired",
    );
    const deleted = await send(
      "fay",
      "fay-phone",
      "DELETE",
      `/sync/snapshot-sessions/${short.snapshot_id}`,
      undefined,
      shortLived.server.origin,
    );
    expect(deleted.status).toBe(204);
  });

  it("scope_uninitialized is 409", async () => {
    expectError(
      await send("hal", "hal-phone", "POST", "/sync/snapshot-sessions"),
      409,
      "scope_uninitialized",
    );
  });
});

describe("capacity", () => {
  /** Holds every slot of a class from another session; returns a release. */
  it("snapshot_build_capacity is 429 with Retry-After: 1, which the client transport reads", async () => {
    await seededUser("ida", "ida-phone", 2);
    const held = await holdSnapshotSlots(db.pool, "build", [0, 1]);
    try {
      const reply = await send("ida", "ida-phone", "POST", "/sync/snapshot-sessions");
      expectError(reply, 429, "snapshot_build_capacity");
      expect(reply.headers.get("retry-after")).toBe("1");
      expect(parseRetryAfterMillis(reply.headers.get("retry-after"))).toBe(1000);
      const error = await transport("ida", "ida-phone")
        .createSnapshotSession()
        .then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
      expect(error).toBeInstanceOf(SnapshotCapacityError);
      expect((error as SnapshotCapacityError).retryAfterMillis).toBe(1000);
    } finally {
      held.done();
    }
    expect((await send("ida", "ida-phone", "POST", "/sync/snapshot-sessions")).status).toBe(200);
  });

  it("snapshot_chunk_capacity is 429 with Retry-After: 1", async () => {
    await seededUser("jo", "jo-phone", 2);
    const session = decodeSnapshotSessionBody(
      (await send("jo", "jo-phone", "POST", "/sync/snapshot-sessions")).text,
    );
    const path = `/sync/snapshot-sessions/${session.snapshot_id}?after_row_ordinal=0&max_rows=10&max_bytes=100000`;
    const held = await holdSnapshotSlots(db.pool, "chunk", [0, 1]);
    try {
      const reply = await send("jo", "jo-phone", "GET", path);
      expectError(reply, 429, "snapshot_chunk_capacity");
      expect(reply.headers.get("retry-after")).toBe("1");
    } finally {
      held.done();
    }
    expect((await send("jo", "jo-phone", "GET", path)).status).toBe(200);
  });
});

describe("source replacement over HTTP", () => {
  it("rotates the source: the new one commits bundle 1, the old one gets structured source_retired", async () => {
    await seededUser("kim", "kim-old", 3);
    const rotated = await transport("kim", "kim-old").createSnapshotSession({
      sourceReplacement: { previousSourceId: "kim-old", newSourceId: "kim-new", reason: "history_pruned" },
    });
    expect(rotated).toMatchObject({ snapshot_bundle_seq: 1, row_count: 3 });
    // JCS-ordered body, as Dart sends it: an exact repeat is idempotent.
    const repeat = await send(
      "kim",
      "kim-old",
      "POST",
      "/sync/snapshot-sessions",
      '{"source_replacement":{"new_source_id":"kim-new","previous_source_id":"kim-old","reason":"history_pruned"}}',
    );
    expect(repeat.status).toBe(200);

    const committed = await pushOverHttp("kim", "kim-new", 1, [docRow("from-new", "n")]);
    expect(committed.status).toBe(200);
    expect(committed.body).toMatchObject({ bundle_seq: 2, source_id: "kim-new", source_bundle_id: 1 });

    const retired = await pushOverHttp("kim", "kim-old", 2, [docRow("from-old", "o")]);
    const body = expectError(retired, 409, "source_retired", ["source_id", "replaced_by_source_id"]);
    expect(body).toMatchObject({ source_id: "kim-old", replaced_by_source_id: "kim-new" });
    expectError(await send("kim", "kim-old", "POST", "/sync/snapshot-sessions"), 409, "source_retired", [
      "source_id",
      "replaced_by_source_id",
    ]);
    const other = await send("kim", "kim-old", "POST", "/sync/snapshot-sessions", {
      source_replacement: {
        previous_source_id: "kim-old",
        new_source_id: "kim-other",
        reason: "source_retired",
      },
    });
    expect(expectError(other, 409, "source_retired", ["source_id", "replaced_by_source_id"])).toMatchObject({
      replaced_by_source_id: "kim-new",
    });
  });

  it("a replacement naming another source than the header is 409 source_replacement_invalid", async () => {
    await seededUser("lee", "lee-phone", 1);
    const reply = await send("lee", "lee-phone", "POST", "/sync/snapshot-sessions", {
      source_replacement: {
        previous_source_id: "lee-tablet",
        new_source_id: "lee-new",
        reason: "history_pruned",
      },
    });
    expectError(reply, 409, "source_replacement_invalid");
  });
});

describe("capabilities", () => {
  it("advertise the snapshot limits the routes enforce, and clients accept them", async () => {
    const reply = await send("max", "max-phone", "GET", "/sync/capabilities");
    const capabilities = decodeCapabilitiesBody(reply.text);
    const limits = capabilities.bundle_limits;
    expect(limits).toMatchObject({
      max_rows_per_snapshot_chunk: 50,
      default_rows_per_snapshot_chunk: 20,
      max_rows_per_snapshot_session: 30,
      max_concurrent_snapshot_builds: 2,
      max_concurrent_snapshot_chunk_requests: 2,
      default_bytes_per_snapshot_chunk: 4194304,
      max_bytes_per_snapshot_chunk: 16777216,
      max_bytes_per_snapshot_row: 4194304,
      snapshot_session_ttl_seconds: 900,
    });
    expect(negotiateSnapshotLimits(limits)).toMatchObject({ maxRows: 50 });
    expect(limits).not.toHaveProperty("max_bytes_per_snapshot_session");
  });
});
