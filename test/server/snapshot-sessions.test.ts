/**
 * Snapshot sessions at the service level on real PostgreSQL: the frozen after-image and its exact
 * byte accounting, chunk paging under tiny row and byte budgets (every chunk decoded with the
 * clients' strict decoder), immunity to later commits, expiry, size limits, build and chunk
 * capacity, the per-user session cap, ownership and scope checks.
 */
import {
  type BundleLimits,
  type PushRow,
  type SnapshotChunk,
  type SnapshotRow,
  type SnapshotSession,
  decodeErrorBody,
  decodeSnapshotChunkBody,
  decodeSnapshotSessionBody,
  formatSnapshotChunkBody,
  isRfc3339Instant,
  snapshotRowJson,
} from "@oversync/protocol";
import { type Actor, type SyncRuntime, createSyncService } from "@oversync/server";
import {
  SNAPSHOT_RETRY_AFTER_SECONDS,
  SnapshotCapacityError,
} from "../../packages/server/src/snapshot/snapshot-capacity.js";
import type pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { holdSnapshotSlots } from "./snapshot-slots.js";
import {
  type HarnessOptions,
  type ServiceHarness,
  actor,
  docRow,
  initializeScope,
  push,
  rejection,
  startService,
  userRow,
  uuid,
} from "./service-harness.js";

const started: ServiceHarness[] = [];

/** A fresh service (see service-harness.ts), dropped after the test. */
async function start(options: HarnessOptions = {}): Promise<ServiceHarness> {
  const harness = await startService(options);
  started.push(harness);
  return harness;
}

afterEach(async () => {
  for (const harness of started.splice(0)) await harness.drop();
});

const ada = actor("ada", "ada-phone");
const bob = actor("bob", "bob-phone");

/** Checks a create answer with the clients' strict session decoder and returns it decoded. */
function decodedSession(session: SnapshotSession): SnapshotSession {
  return decodeSnapshotSessionBody(JSON.stringify(session));
}

interface ReadResult {
  readonly rows: SnapshotRow[];
  readonly chunks: SnapshotChunk[];
}

/**
 * Reads a whole session the way a client does: each chunk body formatted as the HTTP layer writes
 * it and decoded strictly against the session and cursor; the running totals must end exactly at
 * the session's row_count and byte_count.
 */
async function readAll(
  service: SyncRuntime,
  who: Actor,
  session: SnapshotSession,
  maxRows: number,
  maxBytes: number,
): Promise<ReadResult> {
  const rows: SnapshotRow[] = [];
  const chunks: SnapshotChunk[] = [];
  let after = 0;
  let bytes = 0;
  for (;;) {
    const page = await service.getSnapshotChunk(who, {
      snapshot_id: session.snapshot_id,
      after_row_ordinal: after,
      max_rows: maxRows,
      max_bytes: maxBytes,
    });
    const chunk = decodeSnapshotChunkBody(formatSnapshotChunkBody(page), {
      session,
      afterRowOrdinal: after,
      bytesBefore: bytes,
      maxRows,
      maxBytes,
    });
    expect(chunk.byte_count).toBe(page.byte_count);
    rows.push(...chunk.rows);
    chunks.push(chunk);
    after = chunk.next_row_ordinal;
    bytes += chunk.byte_count;
    if (!chunk.has_more) break;
    if (chunks.length > 10_000) throw new Error("snapshot never ended");
  }
  expect(after).toBe(session.row_count);
  expect(bytes).toBe(session.byte_count);
  return { rows, chunks };
}

/** Table ids by `schema.table`, from the catalog the server keeps. */
async function tableIds(pool: pg.Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ name: string; table_id: number }>(
    "SELECT schema_name || '.' || table_name AS name, table_id FROM sync.table_catalog",
  );
  return new Map(rows.map((row) => [row.name, row.table_id]));
}

function keyValue(row: { key: Record<string, string> }): string {
  return Object.values(row.key)[0]!;
}

/**
 * What a snapshot at `seq` must hold, rebuilt independently from the pulled bundle history: the
 * last effect per key up to `seq`, deletes dropped, ordered by table id and key bytes.
 */
async function expectedRowsAt(h: ServiceHarness, who: Actor, seq: number): Promise<SnapshotRow[]> {
  const live = new Map<string, SnapshotRow | null>();
  let after = 0;
  while (after < seq) {
    const page = await h.service.pull(who, { after_bundle_seq: after, target_bundle_seq: seq });
    for (const bundle of page.bundles) {
      for (const row of bundle.rows) {
        const id = JSON.stringify([row.schema, row.table, row.key]);
        live.set(
          id,
          row.op === "DELETE"
            ? null
            : {
                schema: row.schema,
                table: row.table,
                key: row.key,
                row_version: row.row_version as number,
                payload: row.payload as SnapshotRow["payload"],
              },
        );
      }
      after = bundle.bundle_seq;
    }
    if (!page.has_more) break;
  }
  const ids = await tableIds(h.db.pool);
  return [...live.values()]
    .filter((row): row is SnapshotRow => row !== null)
    .sort(
      (a, b) =>
        ids.get(`${a.schema}.${a.table}`)! - ids.get(`${b.schema}.${b.table}`)! ||
        Buffer.compare(Buffer.from(keyValue(a)), Buffer.from(keyValue(b))),
    );
}

/** A user row with a deterministic uuid derived from `n`. */
function numberedUser(n: number, name = `User ${n}`): PushRow {
  return userRow(`00000000-0000-4000-8000-${String(n).padStart(12, "0")}`, name);
}

/** A mixed history: inserts across tables, an update, a delete, text keys with escapes and non-ASCII. */
async function seedHistory(h: ServiceHarness, who: Actor): Promise<void> {
  await initializeScope(h.service, who);
  await push(h.service, who, 1, [
    numberedUser(1, "Ada"),
    numberedUser(2, "Grace"),
    numberedUser(3, 'Zoë "quoted" \\ back'),
    docRow("b-doc", "plain"),
    docRow("a-doc", "line\nbreak\ttab \u2028 sep"),
    docRow("é-doc", "accent é and emoji 🚀"),
    docRow("Z-doc", null),
  ]);
  await push(h.service, who, 2, [
    { ...numberedUser(2, "Grace Hopper"), op: "UPDATE", base_row_version: 1 },
    docRow("c-doc", "third"),
  ]);
  await push(h.service, who, 3, [docRow("b-doc", null, { op: "DELETE", base: 1 })]);
}

describe("create", () => {
  it("freezes the live rows at the latest bundle seq with exact row and byte counts", async () => {
    const h = await start();
    await seedHistory(h, ada);
    const session = decodedSession(await h.service.createSnapshotSession(ada, {}));
    expect(session.snapshot_bundle_seq).toBe(3);
    const expected = await expectedRowsAt(h, ada, 3);
    expect(expected).toHaveLength(7);
    expect(session.row_count).toBe(expected.length);
    expect(session.byte_count).toBe(expected.reduce((sum, row) => sum + snapshotRowJson(row).byteLength, 0));
    const { rows, chunks } = await readAll(h.service, ada, session, 1000, 4 * 1024 * 1024);
    expect(chunks).toHaveLength(1);
    expect(rows).toStrictEqual(expected);
    // Versions are each row's last bundle: the updated user at 2, untouched rows at 1.
    const versions = new Map(rows.map((row) => [keyValue(row), row.row_version]));
    expect(versions.get("00000000-0000-4000-8000-000000000002")).toBe(2);
    expect(versions.get("00000000-0000-4000-8000-000000000001")).toBe(1);
    expect(versions.get("c-doc")).toBe(2);
    expect(versions.has("b-doc")).toBe(false);
    // Text keys come in byte order: uppercase before lowercase, ASCII before é.
    expect(rows.filter((row) => row.table === "docs").map(keyValue)).toStrictEqual([
      "Z-doc",
      "a-doc",
      "c-doc",
      "é-doc",
    ]);
  });

  it("answers expires_at as RFC 3339 one TTL after creation", async () => {
    const h = await start({ limits: { snapshot_session_ttl_seconds: 120 } });
    await initializeScope(h.service, ada);
    const before = Date.now();
    const session = await h.service.createSnapshotSession(ada, {});
    expect(isRfc3339Instant(session.expires_at)).toBe(true);
    const expires = Date.parse(session.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 119_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 121_000);
  });

  it("an initialized scope with no bundles gives an empty session at seq 0", async () => {
    const h = await start();
    await initializeScope(h.service, ada);
    const session = decodedSession(await h.service.createSnapshotSession(ada, {}));
    expect(session).toMatchObject({ snapshot_bundle_seq: 0, row_count: 0, byte_count: 0 });
    const { rows, chunks } = await readAll(h.service, ada, session, 10, 1000);
    expect(rows).toStrictEqual([]);
    expect(chunks[0]).toMatchObject({ rows: [], next_row_ordinal: 0, has_more: false, byte_count: 0 });
  });

  it("a scope whose rows were all deleted gives an empty session at the latest seq", async () => {
    const h = await start();
    await initializeScope(h.service, ada);
    await push(h.service, ada, 1, [docRow("a", "x")]);
    await push(h.service, ada, 2, [docRow("a", null, { op: "DELETE", base: 1 })]);
    const session = decodedSession(await h.service.createSnapshotSession(ada, {}));
    expect(session).toMatchObject({ snapshot_bundle_seq: 2, row_count: 0, byte_count: 0 });
  });

  it("holds only the actor's scope", async () => {
    const h = await start();
    await seedHistory(h, ada);
    await initializeScope(h.service, bob);
    await push(h.service, bob, 1, [docRow("bob-doc", "mine")]);
    const session = await h.service.createSnapshotSession(bob, {});
    const { rows } = await readAll(h.service, bob, session, 100, 100_000);
    expect(rows.map(keyValue)).toStrictEqual(["bob-doc"]);
    expect(session.snapshot_bundle_seq).toBe(1);
  });

  it("refuses an uninitialized scope and one being initialized", async () => {
    const h = await start();
    expect((await rejection(h.service.createSnapshotSession(ada, {}))).code).toBe("scope_uninitialized");
    expect((await rejection(h.service.createSnapshotSession(ada, {}))).status).toBe(409);
    await h.service.connect(ada, { has_local_pending_rows: true });
    // Neither the initializing source nor another one may snapshot a scope still being seeded.
    for (const who of [ada, actor("ada", "ada-laptop")]) {
      const error = await rejection(h.service.createSnapshotSession(who, {}));
      expect([error.code, error.status]).toStrictEqual(["scope_initializing", 409]);
    }
  });
});

describe("chunks", () => {
  it("page by ordinal with exact byte counts across boundaries under tiny limits", async () => {
    const h = await start();
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const { rows: all } = await readAll(h.service, ada, session, 1000, 4 * 1024 * 1024);
    const sizes = all.map((row) => snapshotRowJson(row).byteLength);
    const largest = Math.max(...sizes);
    for (const maxRows of [1, 2, 3]) {
      for (const maxBytes of [largest, largest + 1, largest + Math.min(...sizes) - 1, 4 * 1024 * 1024]) {
        const { rows, chunks } = await readAll(h.service, ada, session, maxRows, maxBytes);
        expect(rows).toStrictEqual(all);
        for (const chunk of chunks) {
          expect(chunk.rows.length).toBeLessThanOrEqual(maxRows);
          expect(chunk.byte_count).toBeLessThanOrEqual(maxBytes);
          expect(chunk.byte_count).toBe(chunk.rowByteLengths.reduce((sum, n) => sum + n, 0));
        }
        // A chunk stops only when the next row would break a budget.
        chunks.forEach((chunk, index) => {
          const nextSize = sizes[chunk.next_row_ordinal];
          if (index < chunks.length - 1 && chunk.rows.length < maxRows) {
            expect(chunk.byte_count + nextSize!).toBeGreaterThan(maxBytes);
          }
        });
      }
    }
    // With room for exactly one row per chunk, every chunk carries one row.
    const smallest = Math.min(...sizes);
    if (largest < 2 * smallest) {
      const { chunks } = await readAll(h.service, ada, session, 3, largest + 1);
      expect(chunks.every((chunk) => chunk.rows.length === 1)).toBe(true);
      expect(chunks).toHaveLength(all.length);
    }
  });

  it("answers snapshot_chunk_too_small with the next row's size when it alone exceeds max_bytes", async () => {
    const h = await start();
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const { rows } = await readAll(h.service, ada, session, 1000, 4 * 1024 * 1024);
    for (const after of [0, 3]) {
      const size = snapshotRowJson(rows[after]!).byteLength;
      const error = await rejection(
        h.service.getSnapshotChunk(ada, {
          snapshot_id: session.snapshot_id,
          after_row_ordinal: after,
          max_rows: 10,
          max_bytes: size - 1,
        }),
      );
      expect(error.status).toBe(400);
      expect(error.code).toBe("snapshot_chunk_too_small");
      expect(error.extras.required_byte_count).toBe(size);
      // The body passes the clients' error decoder with its extra member.
      const decoded = decodeErrorBody(400, error.toErrorBody());
      expect(decoded).toMatchObject({ code: "snapshot_chunk_too_small" });
      // Exactly the row's size is enough.
      const page = await h.service.getSnapshotChunk(ada, {
        snapshot_id: session.snapshot_id,
        after_row_ordinal: after,
        max_rows: 10,
        max_bytes: size,
      });
      expect(page.rows).toHaveLength(1);
    }
  });

  it("clamps max_rows and max_bytes above the server maxima and applies defaults when absent", async () => {
    const h = await start({
      limits: {
        default_rows_per_snapshot_chunk: 1,
        max_rows_per_snapshot_chunk: 2,
        default_bytes_per_snapshot_chunk: 1000,
        max_bytes_per_snapshot_chunk: 1000,
        max_bytes_per_snapshot_row: 1000,
      },
    });
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const clamped = await h.service.getSnapshotChunk(ada, {
      snapshot_id: session.snapshot_id,
      after_row_ordinal: 0,
      max_rows: 1_000_000,
      max_bytes: 1_000_000_000,
    });
    expect(clamped.rows).toHaveLength(2);
    const defaults = await h.service.getSnapshotChunk(ada, { snapshot_id: session.snapshot_id });
    expect(defaults.rows).toHaveLength(1);
    expect(defaults.next_row_ordinal).toBe(1);
    expect(defaults.rows[0]).toStrictEqual(clamped.rows[0]);

    // With every byte limit at the largest row, a larger request is clamped to it: the chunks are
    // exactly those of a request for that many bytes.
    const { rows } = await readAll(h.service, ada, session, 1000, 1000);
    const largest = Math.max(...rows.map((row) => snapshotRowJson(row).byteLength));
    const bytes = { max_bytes_per_snapshot_chunk: largest, default_bytes_per_snapshot_chunk: largest };
    const tight = await start({ limits: { ...bytes, max_bytes_per_snapshot_row: largest } });
    await seedHistory(tight, ada);
    const tightSession = await tight.service.createSnapshotSession(ada, {});
    const huge = await readAll(tight.service, ada, tightSession, 100, 1_000_000_000);
    const exact = await readAll(tight.service, ada, tightSession, 100, largest);
    expect(huge.chunks.map((chunk) => chunk.byte_count)).toStrictEqual(
      exact.chunks.map((chunk) => chunk.byte_count),
    );
    expect(huge.chunks.length).toBeGreaterThan(1);
    for (const chunk of huge.chunks) expect(chunk.byte_count).toBeLessThanOrEqual(largest);
  });

  it("serves an empty last page at the end and refuses a cursor past it", async () => {
    const h = await start();
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const end = await h.service.getSnapshotChunk(ada, {
      snapshot_id: session.snapshot_id,
      after_row_ordinal: session.row_count,
      max_rows: 10,
      max_bytes: 100_000,
    });
    expect(end).toMatchObject({
      rows: [],
      next_row_ordinal: session.row_count,
      has_more: false,
      byte_count: 0,
    });
    const error = await rejection(
      h.service.getSnapshotChunk(ada, {
        snapshot_id: session.snapshot_id,
        after_row_ordinal: session.row_count + 1,
        max_rows: 10,
        max_bytes: 100_000,
      }),
    );
    expect(error.code).toBe("snapshot_chunk_invalid");
  });
});

describe("materialization", () => {
  it("stores the same rows whatever the fetch and insert batch sizes", async () => {
    const reference = await start();
    await seedHistory(reference, ada);
    const expected = await readAll(
      reference.service,
      ada,
      await reference.service.createSnapshotSession(ada, {}),
      1000,
      100_000,
    );
    for (const limits of [
      { snapshot_materialization_batch_rows: 1 },
      { snapshot_materialization_batch_rows: 3, snapshot_materialization_batch_bytes: 300 },
      { snapshot_materialization_batch_bytes: 1 },
    ]) {
      const h = await start({ limits });
      await seedHistory(h, ada);
      const session = await h.service.createSnapshotSession(ada, {});
      expect((await readAll(h.service, ada, session, 1000, 100_000)).rows).toStrictEqual(expected.rows);
      const { rows } = await h.db.pool.query(
        "SELECT array_agg(row_ordinal::int ORDER BY row_ordinal) AS ordinals FROM sync.snapshot_session_rows",
      );
      expect(rows[0].ordinals).toStrictEqual([1, 2, 3, 4, 5, 6, 7]);
    }
  });

  it("refuses (500, logged) a scope whose business rows have no bundle history", async () => {
    // Rows written before the table was registered were never captured, so they have no version.
    const db = await createTestDatabase("oversync_snap");
    await createBusinessSchema(db.pool);
    await db.pool.query(
      "INSERT INTO business.docs (_sync_scope_id, doc_id, body) VALUES ('ada', 'legacy', 'old')",
    );
    const logged: unknown[] = [];
    const service = createSyncService({
      pool: db.pool,
      appName: "oversync-test",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      logger: { warn: () => undefined, error: (message, details) => logged.push({ message, details }) },
    });
    started.push({
      db,
      service,
      async drop() {
        await service.close();
        await db.drop();
      },
    });
    await service.bootstrap();
    await initializeScope(service, ada);
    const error = await rejection(service.createSnapshotSession(ada, {}));
    expect([error.code, error.status]).toStrictEqual(["snapshot_session_create_failed", 500]);
    expect(error.message).not.toContain("legacy");
    expect(String((error.cause as Error).message)).toMatch(/business\.docs key legacy .* no live row state/);
    expect(logged).toHaveLength(1);
  });
});

describe("frozen image", () => {
  it("is unchanged by commits after create, which a new session then includes", async () => {
    const h = await start();
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const before = await readAll(h.service, ada, session, 2, 100_000);
    await push(h.service, ada, 4, [
      { ...numberedUser(1, "Ada Lovelace"), op: "UPDATE", base_row_version: 1 },
      docRow("a-doc", null, { op: "DELETE", base: 1 }),
      docRow("new-doc", "after"),
    ]);
    const after = await readAll(h.service, ada, session, 2, 100_000);
    expect(after.rows).toStrictEqual(before.rows);
    expect(after.rows).toStrictEqual(await expectedRowsAt(h, ada, 3));

    const next = await h.service.createSnapshotSession(ada, {});
    expect(next.snapshot_bundle_seq).toBe(4);
    const fresh = await readAll(h.service, ada, next, 1000, 100_000);
    expect(fresh.rows).toStrictEqual(await expectedRowsAt(h, ada, 4));
    expect(fresh.rows.map(keyValue)).toContain("new-doc");
    expect(fresh.rows.map(keyValue)).not.toContain("a-doc");
  });

  it("each session created during concurrent commits is exactly the state at its seq", async () => {
    const h = await start({ snapshots: { maxOpenSessionsPerScope: 100 } });
    await initializeScope(h.service, ada);
    await push(h.service, ada, 1, [numberedUser(1), numberedUser(2), docRow("d0", "v0")]);
    // One bundle per push, so bundle seq = source_bundle_id: d<n> is written at seq n, updated at
    // seq n + 1 when n is even, and deleted at seq n + 1 when n + 1 is a multiple of 4.
    const pushes = (async () => {
      for (let id = 2; id <= 31; id++) {
        const rows: PushRow[] = [docRow(`d${id}`, `v${id}`)];
        if (id % 2 === 1) {
          rows.push({ ...docRow(`d${id - 1}`, `edited ${id}`), op: "UPDATE", base_row_version: id - 1 });
        }
        if (id % 4 === 0) rows.push(docRow(`d${id - 1}`, null, { op: "DELETE", base: id - 1 }));
        await push(h.service, ada, id, rows);
      }
    })();
    const sessions: SnapshotSession[] = [];
    const creates = (async () => {
      for (let i = 0; i < 16; i++) sessions.push(await h.service.createSnapshotSession(ada, {}));
    })();
    await Promise.all([pushes, creates]);
    for (const session of sessions) {
      const { rows } = await readAll(h.service, ada, session, 3, 100_000);
      expect(rows).toStrictEqual(await expectedRowsAt(h, ada, session.snapshot_bundle_seq));
    }
  });
});

describe("expiry, delete, ownership", () => {
  it("an expired session answers 410 until the housekeeping sweep deletes it, then 404", async () => {
    const h = await start({ limits: { snapshot_session_ttl_seconds: 1 } });
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const read = () =>
      h.service.getSnapshotChunk(ada, { snapshot_id: session.snapshot_id, max_rows: 10, max_bytes: 100_000 });
    expect((await read()).rows.length).toBeGreaterThan(0);
    while (Date.now() <= Date.parse(session.expires_at) + 50) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const expired = await rejection(read());
    expect([expired.code, expired.status]).toStrictEqual(["snapshot_session_expired", 410]);
    expect((await rejection(read())).code).toBe("snapshot_session_expired");

    // A create no longer pays for other sessions' expiry; the sweep deletes them.
    await initializeScope(h.service, bob);
    await h.service.createSnapshotSession(bob, {});
    expect((await rejection(read())).code).toBe("snapshot_session_expired");
    expect(await h.service.sweep()).toStrictEqual({ pushSessions: 0, snapshotSessions: 1 });
    expect((await rejection(read())).code).toBe("snapshot_session_not_found");
    const { rows } = await h.db.pool.query(
      "SELECT count(*)::int AS n FROM sync.snapshot_session_rows WHERE snapshot_id = $1",
      [session.snapshot_id],
    );
    expect(rows[0].n).toBe(0);
  });

  it("delete removes a session (expired or not) and its rows; later reads are 404", async () => {
    const h = await start();
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    await h.service.deleteSnapshotSession(ada, session.snapshot_id);
    const read = await rejection(
      h.service.getSnapshotChunk(ada, { snapshot_id: session.snapshot_id, max_rows: 1, max_bytes: 100_000 }),
    );
    expect([read.code, read.status]).toStrictEqual(["snapshot_session_not_found", 404]);
    expect((await rejection(h.service.deleteSnapshotSession(ada, session.snapshot_id))).code).toBe(
      "snapshot_session_not_found",
    );
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.snapshot_session_rows");
    expect(rows[0].n).toBe(0);

    const expiring = await start({ limits: { snapshot_session_ttl_seconds: 1 } });
    await initializeScope(expiring.service, ada);
    const old = await expiring.service.createSnapshotSession(ada, {});
    while (Date.now() <= Date.parse(old.expires_at) + 50) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await expiring.service.deleteSnapshotSession(ada, old.snapshot_id);
  });

  it("another user's session is 403 on read and delete; unknown or malformed ids are 404", async () => {
    const h = await start();
    await seedHistory(h, ada);
    await initializeScope(h.service, bob);
    const session = await h.service.createSnapshotSession(ada, {});
    const query = { snapshot_id: session.snapshot_id, max_rows: 10, max_bytes: 100_000 };
    const forbidden = await rejection(h.service.getSnapshotChunk(bob, query));
    expect([forbidden.code, forbidden.status]).toStrictEqual(["snapshot_session_forbidden", 403]);
    expect((await rejection(h.service.deleteSnapshotSession(bob, session.snapshot_id))).code).toBe(
      "snapshot_session_forbidden",
    );
    // Still Ada's, untouched.
    expect((await h.service.getSnapshotChunk(ada, query)).rows.length).toBeGreaterThan(0);
    for (const id of [uuid(), "not-a-uuid", session.snapshot_id.toUpperCase(), ""]) {
      const missing = await rejection(h.service.getSnapshotChunk(ada, { ...query, snapshot_id: id }));
      expect([missing.code, missing.status]).toStrictEqual(["snapshot_session_not_found", 404]);
      expect((await rejection(h.service.deleteSnapshotSession(ada, id))).code).toBe(
        "snapshot_session_not_found",
      );
    }
  });
});

describe("limits", () => {
  async function expectLimit(
    limits: Partial<BundleLimits>,
    dimension: string,
    actual: (rows: SnapshotRow[]) => number,
  ) {
    const h = await start();
    await seedHistory(h, ada);
    const reference = await h.service.createSnapshotSession(ada, {});
    const all = (await readAll(h.service, ada, reference, 1000, 4_000_000)).rows;
    await h.service.deleteSnapshotSession(ada, reference.snapshot_id);
    // The limits are lowered once the rows are committed: commits refuse a row above
    // max_bytes_per_snapshot_row, so only rows from before the change can trip it in a build.
    // Batches of one row leave the build's statements queued when the limit trips.
    for (const batch of [{}, { snapshot_materialization_batch_rows: 1 }]) {
      const limited = createSyncService({
        pool: h.db.pool,
        appName: "oversync-test",
        registeredTables: BUSINESS_TABLES,
        maxSupportedSchemaVersion: 1,
        limits: { ...limits, ...batch },
        logger: { warn: () => undefined, error: () => undefined },
      });
      try {
        await limited.bootstrap();
        const error = await rejection(limited.createSnapshotSession(ada, {}));
        expect([error.code, error.status]).toStrictEqual(["snapshot_session_limit_exceeded", 409]);
        expect(error.extras).toStrictEqual({
          dimension,
          actual: actual(all),
          limit: Object.values(limits)[0],
        });
        expect(decodeErrorBody(409, error.toErrorBody())).toMatchObject({
          code: "snapshot_session_limit_exceeded",
        });
      } finally {
        await limited.close();
      }
    }
    // The failed build left nothing behind.
    const { rows } = await h.db.pool.query(
      "SELECT (SELECT count(*) FROM sync.snapshot_sessions)::int + (SELECT count(*) FROM sync.snapshot_session_rows)::int AS n",
    );
    expect(rows[0].n).toBe(0);
  }

  const bytesOf = (rows: SnapshotRow[]) => rows.map((row) => snapshotRowJson(row).byteLength);

  it("max_rows_per_snapshot_session → row_count", async () => {
    await expectLimit({ max_rows_per_snapshot_session: 6 }, "row_count", (rows) => rows.length);
  });

  it("max_bytes_per_snapshot_session → byte_count with the full size", async () => {
    await expectLimit({ max_bytes_per_snapshot_session: 300 }, "byte_count", (rows) =>
      bytesOf(rows).reduce((sum, n) => sum + n, 0),
    );
  });

  it("max_bytes_per_snapshot_row → row_byte_count with the first oversized row", async () => {
    await expectLimit(
      { max_bytes_per_snapshot_row: 200 },
      "row_byte_count",
      (rows) => bytesOf(rows).find((n) => n > 200)!,
    );
  });

  it("a session exactly at the limits is served", async () => {
    const reference = await start();
    await seedHistory(reference, ada);
    const session = await reference.service.createSnapshotSession(ada, {});
    const h = await start({
      limits: {
        max_rows_per_snapshot_session: session.row_count,
        max_bytes_per_snapshot_session: session.byte_count,
      },
    });
    await seedHistory(h, ada);
    const same = await h.service.createSnapshotSession(ada, {});
    expect([same.row_count, same.byte_count]).toStrictEqual([session.row_count, session.byte_count]);
  });
});

describe("capacity", () => {
  /** Holds `slots` slots of a kind from another session until released. */
  it("refuses a build with 429 snapshot_build_capacity and Retry-After while every build slot is busy", async () => {
    const h = await start({ limits: { max_concurrent_snapshot_builds: 2 } });
    await seedHistory(h, ada);
    const held = await holdSnapshotSlots(h.db.pool, "build", [0, 1]);
    try {
      const error = await rejection(h.service.createSnapshotSession(ada, {}));
      expect([error.code, error.status]).toStrictEqual(["snapshot_build_capacity", 429]);
      expect(error).toBeInstanceOf(SnapshotCapacityError);
      expect((error as SnapshotCapacityError).retryAfterSeconds).toBe(SNAPSHOT_RETRY_AFTER_SECONDS);
      await held.release(1);
      const session = await h.service.createSnapshotSession(ada, {});
      expect(session.row_count).toBe(7);
    } finally {
      held.done();
    }
  });

  it("refuses a chunk read with 429 snapshot_chunk_capacity while every chunk slot is busy", async () => {
    const h = await start({ limits: { max_concurrent_snapshot_chunk_requests: 3 } });
    await seedHistory(h, ada);
    const session = await h.service.createSnapshotSession(ada, {});
    const held = await holdSnapshotSlots(h.db.pool, "chunk", [0, 1, 2]);
    const query = { snapshot_id: session.snapshot_id, max_rows: 10, max_bytes: 100_000 };
    try {
      const error = await rejection(h.service.getSnapshotChunk(ada, query));
      expect([error.code, error.status]).toStrictEqual(["snapshot_chunk_capacity", 429]);
      expect((error as SnapshotCapacityError).retryAfterSeconds).toBe(SNAPSHOT_RETRY_AFTER_SECONDS);
      // Builds use their own slots.
      await h.service.createSnapshotSession(ada, {});
      await held.release(0);
      expect((await h.service.getSnapshotChunk(ada, query)).rows.length).toBeGreaterThan(0);
    } finally {
      held.done();
    }
  });

  it("concurrent builds beyond the slot count are refused, and slots free up when builds end", async () => {
    const h = await start({ limits: { max_concurrent_snapshot_builds: 1 } });
    await seedHistory(h, ada);
    // Hold Ada's user lock so a replacement build waits inside its transaction with the slot taken.
    const blocker = await h.db.pool.connect();
    await blocker.query("BEGIN");
    await blocker.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ["ada"]);
    try {
      const waiting = h.service.createSnapshotSession(ada, {
        source_replacement: {
          previous_source_id: ada.sourceId,
          new_source_id: "ada-next",
          reason: "history_pruned",
        },
      });
      let refused: unknown;
      for (let attempt = 0; attempt < 50 && refused === undefined; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const other = await rejection(h.service.createSnapshotSession(ada, {})).catch(() => undefined);
        if (other?.code === "snapshot_build_capacity") refused = other;
      }
      expect(refused).toBeInstanceOf(SnapshotCapacityError);
      await blocker.query("COMMIT");
      expect((await waiting).row_count).toBe(7);
      expect((await h.service.createSnapshotSession(actor("ada", "ada-next"), {})).row_count).toBe(7);
    } finally {
      blocker.release();
    }
  });
});

describe("open sessions per user", () => {
  const read = (h: ServiceHarness, who: Actor, session: SnapshotSession) =>
    h.service.getSnapshotChunk(who, { snapshot_id: session.snapshot_id, max_rows: 1, max_bytes: 100_000 });

  it("creating past the cap discards the user's least recently read idle session only", async () => {
    // Idle after 0 s: every session not being read right now may go.
    const h = await start({ snapshots: { maxOpenSessionsPerScope: 2, idleSessionSeconds: 0 } });
    await seedHistory(h, ada);
    await initializeScope(h.service, bob);
    const bobs = await h.service.createSnapshotSession(bob, {});
    const first = await h.service.createSnapshotSession(ada, {});
    const second = await h.service.createSnapshotSession(ada, {});
    await read(h, ada, first);
    const third = await h.service.createSnapshotSession(ada, {});
    expect((await rejection(read(h, ada, second))).code).toBe("snapshot_session_not_found");
    await read(h, ada, first);
    await read(h, ada, third);
    await read(h, bob, bobs);
    const { rows } = await h.db.pool.query(
      "SELECT count(DISTINCT snapshot_id)::int AS n FROM sync.snapshot_session_rows",
    );
    // Ada's first and third sessions; Bob's scope is empty, so his session has no rows.
    expect(rows[0].n).toBe(2);
  });

  it("a create while every open session is in use is refused with 429 until one closes", async () => {
    const h = await start({ snapshots: { maxOpenSessionsPerScope: 2 } });
    await seedHistory(h, ada);
    const first = await h.service.createSnapshotSession(ada, {});
    const second = await h.service.createSnapshotSession(ada, {});
    const refused = await rejection(h.service.createSnapshotSession(ada, {}));
    expect(refused).toBeInstanceOf(SnapshotCapacityError);
    expect(refused).toMatchObject({ code: "snapshot_build_capacity", retryAfterSeconds: 1 });
    await read(h, ada, first);
    await read(h, ada, second);
    await h.service.deleteSnapshotSession(ada, first.snapshot_id);
    const third = await h.service.createSnapshotSession(ada, {});
    expect((await read(h, ada, third)).snapshot_id).toBe(third.snapshot_id);
  });
});
