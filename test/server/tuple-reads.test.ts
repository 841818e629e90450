/**
 * Everyday calls read the caller's own data, not the database: with a few thousand users grown
 * through the service, each call's tuple reads (PostgreSQL's own counters, pg_stat_user_tables:
 * rows returned by sequential scans plus heap rows fetched by index scans) stay within a bound
 * set by the caller's data, far below the number of other users. A plan that walks other users'
 * rows (a sequential scan, a merge join over user_state) reads thousands and fails.
 *
 * The service runs over a one-connection pool so the test can make that connection's backend
 * publish its counters (pg_stat_force_next_flush) right after each call.
 */
import { canonicalRequestHash } from "@oversync/protocol";
import { type Actor, type SyncRuntime, createSyncService } from "@oversync/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { actor, docRow, initializeScope, push, uuid } from "./service-harness.js";

/** Users grown before measuring; each owns a few bundles and rows. */
const OTHER_USERS = 2000;
/** What one small call may read: its user's state, session, rows and indexes' heap fetches. */
const OWN_DATA_BOUND = 60;

let db: TestDatabase;
let pool: pg.Pool;
let service: SyncRuntime;
let stats: pg.Client;

const quiet = { warn: () => undefined, error: () => undefined };

/** Grows the database through the service: each user connects and pushes two bundles. */
async function grow(users: number): Promise<void> {
  const seeding = createSyncService({
    pool: db.pool,
    appName: "oversync-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: quiet,
  });
  await seeding.bootstrap();
  const one = async (index: number) => {
    const who = actor(`user-${index}`);
    await initializeScope(seeding, who);
    await push(seeding, who, 1, [docRow(`a-${index}`, "x"), docRow(`b-${index}`, "y")]);
    await push(seeding, who, 2, [docRow(`a-${index}`, "z", { op: "UPDATE", base: 1 })]);
  };
  const lanes = 4;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let index = lane; index < users; index += lanes) await one(index);
    }),
  );
  await seeding.close();
  await db.pool.query("ANALYZE");
}

/** Tuples read from the sync and business tables so far, as PostgreSQL counts them. */
async function tuplesRead(): Promise<number> {
  await stats.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await stats.query<{ n: string }>(
    `SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::text AS n
       FROM pg_stat_user_tables WHERE schemaname IN ('sync', 'business')`,
  );
  return Number(rows[0]!.n);
}

/** The tuples `call` read; the service's only backend publishes its counters right after. */
async function readsOf(call: () => Promise<unknown>): Promise<number> {
  await pool.query("SELECT pg_stat_force_next_flush()");
  const before = await tuplesRead();
  await call();
  await pool.query("SELECT pg_stat_force_next_flush()");
  return (await tuplesRead()) - before;
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_tuples");
  await createBusinessSchema(db.pool);
  await grow(OTHER_USERS);
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
  service = createSyncService({
    pool,
    appName: "oversync-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: quiet,
  });
  await service.bootstrap();
  stats = new pg.Client({ connectionString: db.url });
  await stats.connect();
}, 300_000);

afterAll(async () => {
  await stats?.end();
  await service?.close();
  await pool?.end();
  await db?.drop();
});

describe(`with ${OTHER_USERS} other users, each call reads only its own data`, () => {
  // An early user (small user_pk) and a new one (the largest), as plans can favour either end.
  for (const [label, who] of [
    ["an early user", actor("user-3", "second-device")],
    ["a new user", actor(`new-${uuid()}`)],
  ] as [string, Actor][]) {
    it(`${label}: connect, push, committed rows, pull, snapshot, health, status`, async () => {
      const reads: Record<string, number> = {};
      reads.connect = await readsOf(() => initializeScope(service, who));
      const row = docRow(`n-${who.sourceId}`, "x");
      let pushId = "";
      reads.pushCreate = await readsOf(async () => {
        const created = await service.createPushSession(who, {
          source_bundle_id: 1,
          planned_row_count: 1,
          canonical_request_hash: canonicalRequestHash([row]),
        });
        if (created.status !== "staging") throw new Error(`expected staging, got ${created.status}`);
        pushId = created.push_id;
      });
      reads.pushChunk = await readsOf(() =>
        service.uploadPushChunk(who, pushId, { start_row_ordinal: 0, rows: [row] }),
      );
      let bundleSeq = 0;
      reads.pushCommit = await readsOf(async () => {
        bundleSeq = (await service.commitPushSession(who, pushId)).bundle_seq;
      });
      reads.committedRows = await readsOf(() =>
        service.getCommittedBundleRows(who, { bundle_seq: bundleSeq, max_rows: 100 }),
      );
      reads.pull = await readsOf(() => service.pull(who, { after_bundle_seq: 0 }));
      reads.snapshot = await readsOf(async () => {
        const session = await service.createSnapshotSession(who, {});
        await service.getSnapshotChunk(who, {
          snapshot_id: session.snapshot_id,
          max_rows: 100,
          max_bytes: 1 << 20,
        });
        await service.deleteSnapshotSession(who, session.snapshot_id);
      });
      reads.health = await readsOf(() => service.health());
      // What the unauthenticated GET /syncx/status answers.
      reads.status = await readsOf(() => service.status("recent"));
      console.log(`${label}: tuples read per call ${JSON.stringify(reads)}`);
      const overBound = Object.entries(reads).filter(([, count]) => count > OWN_DATA_BOUND);
      expect(overBound).toStrictEqual([]);
    });
  }

  it("a chunk late in a large snapshot reads that chunk, even with statistics from before the session", async () => {
    const rows = 3000;
    const chunk = 100;
    const large = actor(`large-${uuid()}`);
    await initializeScope(service, large);
    await push(
      service,
      large,
      1,
      Array.from({ length: rows }, (_, i) => docRow(`d-${i}`, "x")),
    );
    // The snapshot rows table analyzed while it holds one small session only.
    const small = await service.createSnapshotSession(actor("user-3", "stats-device"), {});
    await db.pool.query("ANALYZE sync.snapshot_session_rows");
    const session = await service.createSnapshotSession(large, {});
    expect(session.row_count).toBe(rows);
    const reads = await readsOf(() =>
      service.getSnapshotChunk(large, {
        snapshot_id: session.snapshot_id,
        after_row_ordinal: rows - 2 * chunk,
        max_rows: chunk,
        max_bytes: 1 << 20,
      }),
    );
    await service.deleteSnapshotSession(large, session.snapshot_id);
    await service.deleteSnapshotSession(actor("user-3", "stats-device"), small.snapshot_id);
    expect(reads).toBeLessThanOrEqual(chunk + OWN_DATA_BOUND);
  });
});
