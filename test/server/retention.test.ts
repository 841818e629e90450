/**
 * Retention against real PostgreSQL: the `retention` policy prunes history inside each committing
 * transaction (push and server-originated bundles alike) while row_state and business rows stay
 * whole; every path below the floor answers `history_pruned` and is counted; a checkpoint past the
 * latest bundle is `checkpoint_ahead`; `setRetainedFloor` moves the floor on demand; and a client
 * recovers after pruning.
 */
import {
  type SnapshotRow,
  canonicalRequestHash,
  decodePullResponse,
  decodeSnapshotChunkBody,
  decodeSnapshotSessionBody,
  formatSnapshotChunkBody,
} from "@oversync/protocol";
import {
  type Actor,
  type RetentionOptions,
  ServiceConfigError,
  type SyncRuntime,
  createSyncService,
} from "@oversync/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { actor, docRow, initializeScope, push, rejection } from "./service-harness.js";

let db: TestDatabase;
/** Keeps every bundle (no retention option). */
let kept: SyncRuntime;
/** Keeps the newest 2 bundles per user. */
let pruning: SyncRuntime;
const faults: string[] = [];

function start(retention?: RetentionOptions): SyncRuntime {
  return createSyncService({
    pool: db.pool,
    appName: "oversync-retention-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    retention,
    logger: { warn: () => undefined, error: (message) => faults.push(message) },
  });
}

beforeEach(async () => {
  db = await createTestDatabase("oversync_ret");
  await createBusinessSchema(db.pool);
  kept = start();
  pruning = start({ keepBundles: 2 });
  await kept.bootstrap();
  await pruning.bootstrap();
  faults.length = 0;
});

afterEach(async () => {
  await kept.close();
  await pruning.close();
  await db.drop();
});

const ada = actor("ada", "phone");

/** The user's floor and latest bundle seq. */
async function floorOf(userId: string): Promise<{ floor: number; latest: number }> {
  const { rows } = await db.pool.query<{ floor: number; latest: number }>(
    `SELECT retained_bundle_floor::int AS floor, (next_bundle_seq - 1)::int AS latest
       FROM sync.user_state WHERE user_id = $1`,
    [userId],
  );
  return rows[0]!;
}

/** The bundle seqs stored in bundle_log and in bundle_rows for the user. */
async function storedHistory(userId: string): Promise<{ log: number[]; rows: number[] }> {
  const query = (table: string) =>
    db.pool.query<{ seq: number }>(
      `SELECT DISTINCT t.bundle_seq::int AS seq FROM sync.${table} t
         JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY 1`,
      [userId],
    );
  const [log, rows] = await Promise.all([query("bundle_log"), query("bundle_rows")]);
  return { log: log.rows.map((r) => r.seq), rows: rows.rows.map((r) => r.seq) };
}

/** The user's row_state as `key@seq` (a trailing `-` marks a tombstone). */
async function rowState(userId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ entry: string }>(
    `SELECT r.key_text || '@' || r.bundle_seq || CASE WHEN r.deleted THEN '-' ELSE '' END AS entry
       FROM sync.row_state r JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY 1`,
    [userId],
  );
  return rows.map((r) => r.entry);
}

/** The user's docs as `doc_id=body`. */
async function docs(userId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ entry: string }>(
    "SELECT doc_id || '=' || body AS entry FROM business.docs WHERE _sync_scope_id = $1 ORDER BY 1",
    [userId],
  );
  return rows.map((r) => r.entry);
}

/**
 * Five bundles from `who`: 1 inserts d1 and d2, 2 updates d1, 3 inserts d3, 4 deletes d2, 5 inserts
 * d4. Returns the floor after each commit.
 */
async function fiveBundles(service: SyncRuntime, who = ada): Promise<number[]> {
  const floors: number[] = [];
  const steps = [
    [docRow("d1", "v1"), docRow("d2", "v1")],
    [docRow("d1", "v2", { op: "UPDATE", base: 1 })],
    [docRow("d3", "v1")],
    [docRow("d2", null, { op: "DELETE", base: 1 })],
    [docRow("d4", "v1")],
  ];
  for (const [index, rows] of steps.entries()) {
    await push(service, who, index + 1, rows);
    floors.push((await floorOf(who.userId)).floor);
  }
  return floors;
}

/** Rebuilds as a client does: one snapshot session, every chunk decoded with the clients' strict decoder. */
async function snapshot(service: SyncRuntime, who: Actor): Promise<{ seq: number; rows: SnapshotRow[] }> {
  const session = decodeSnapshotSessionBody(JSON.stringify(await service.createSnapshotSession(who, {})));
  const { bundle_limits: limits } = await service.capabilities();
  const [maxRows, maxBytes] = [limits.max_rows_per_snapshot_chunk!, limits.max_bytes_per_snapshot_chunk!];
  const rows: SnapshotRow[] = [];
  let bytes = 0;
  for (let more = true; more; ) {
    const request = {
      snapshot_id: session.snapshot_id,
      after_row_ordinal: rows.length,
      max_rows: maxRows,
      max_bytes: maxBytes,
    };
    const page = await service.getSnapshotChunk(who, request);
    const chunk = decodeSnapshotChunkBody(formatSnapshotChunkBody(page), {
      session,
      afterRowOrdinal: rows.length,
      bytesBefore: bytes,
      maxRows,
      maxBytes,
    });
    rows.push(...chunk.rows);
    bytes += chunk.byte_count;
    more = chunk.has_more;
  }
  await service.deleteSnapshotSession(who, session.snapshot_id);
  return { seq: session.snapshot_bundle_seq, rows };
}

const FULL_ROW_STATE = ["d1@2", "d2@4-", "d3@3", "d4@5"];
const FULL_DOCS = ["d1=v2", "d3=v1", "d4=v1"];

describe("the retention policy", () => {
  it("keeps everything by default", async () => {
    await initializeScope(kept, ada);
    expect(await fiveBundles(kept)).toEqual([0, 0, 0, 0, 0]);
    expect(await storedHistory("ada")).toEqual({ log: [1, 2, 3, 4, 5], rows: [1, 2, 3, 4, 5] });
  });

  it("prunes as bundles commit: floor = latest − keepBundles, history at or below it deleted, row_state whole", async () => {
    await initializeScope(pruning, ada);
    expect(await fiveBundles(pruning)).toEqual([0, 0, 1, 2, 3]);
    expect(await storedHistory("ada")).toEqual({ log: [4, 5], rows: [4, 5] });
    expect(await rowState("ada")).toEqual(FULL_ROW_STATE);
    expect(await docs("ada")).toEqual(FULL_DOCS);
    // The pusher can still read back the bundle it just committed.
    const own = await pruning.getCommittedBundleRows(ada, { bundle_seq: 5 });
    expect(own.rows.map((row) => row.key.doc_id)).toEqual(["d4"]);
  });

  it("applies per user: another user's history is untouched", async () => {
    const bob = actor("bob", "tablet");
    await initializeScope(pruning, ada);
    await initializeScope(pruning, bob);
    await push(pruning, bob, 1, [docRow("b1", "x")]);
    await push(pruning, bob, 2, [docRow("b2", "x")]);
    await fiveBundles(pruning);
    expect(await floorOf("bob")).toEqual({ floor: 0, latest: 2 });
    expect(await storedHistory("bob")).toEqual({ log: [1, 2], rows: [1, 2] });
  });

  it("prunes server-originated bundles' history too (execWrite)", async () => {
    for (let i = 1; i <= 4; i++) {
      await pruning.scopeManager.execWrite("carol", { writerId: "server:import" }, (tx) =>
        tx.query("INSERT INTO business.docs (doc_id, body) VALUES ($1, 'x')", [`c${i}`]),
      );
    }
    expect(await floorOf("carol")).toEqual({ floor: 2, latest: 4 });
    expect(await storedHistory("carol")).toEqual({ log: [3, 4], rows: [3, 4] });
    expect(await rowState("carol")).toEqual(["c1@1", "c2@2", "c3@3", "c4@4"]);
  });

  it("moves the floor by at most maxPrunedPerCommit per commit", async () => {
    await initializeScope(kept, ada);
    for (let i = 1; i <= 6; i++) await push(kept, ada, i, [docRow(`d${i}`, "x")]);
    const capped = start({ keepBundles: 1, maxPrunedPerCommit: 2 });
    await capped.bootstrap();
    try {
      const floors: number[] = [];
      for (let i = 7; i <= 11; i++) {
        await push(capped, ada, i, [docRow(`d${i}`, "x")]);
        floors.push((await floorOf("ada")).floor);
      }
      expect(floors).toEqual([2, 4, 6, 8, 10]);
      expect(await storedHistory("ada")).toEqual({ log: [11], rows: [11] });
      expect(await rowState("ada")).toHaveLength(11);
    } finally {
      await capped.close();
    }
  });

  it.each([
    [{ keepBundles: 0 }, /retention\.keepBundles 0/],
    [{ keepBundles: 1.5 }, /retention\.keepBundles 1\.5/],
    [{ keepBundles: 5, maxPrunedPerCommit: 0 }, /retention\.maxPrunedPerCommit 0/],
  ])("refuses retention %j at construction", (retention, message) => {
    expect(() => start(retention)).toThrow(ServiceConfigError);
    expect(() => start(retention)).toThrow(message);
  });
});

describe("below the floor", () => {
  beforeEach(async () => {
    await initializeScope(pruning, ada);
    await fiveBundles(pruning);
    expect(await floorOf("ada")).toEqual({ floor: 3, latest: 5 });
  });

  it("pull answers history_pruned for after < floor and serves from the floor on", async () => {
    const below = await rejection(pruning.pull(ada, { after_bundle_seq: 2 }));
    expect([below.code, below.status, below.message]).toEqual([
      "history_pruned",
      409,
      "after_bundle_seq 2 is below retained floor 3",
    ]);
    expect((await rejection(pruning.pull(ada, { after_bundle_seq: 0 }))).code).toBe("history_pruned");
    const fromFloor = await pruning.pull(ada, { after_bundle_seq: 3 });
    decodePullResponse(fromFloor, { afterBundleSeq: 3, targetBundleSeq: undefined });
    expect([fromFloor.stable_bundle_seq, fromFloor.bundles.map((b) => b.bundle_seq)]).toEqual([5, [4, 5]]);
  });

  it("pull answers checkpoint_ahead past the latest bundle, before any floor check", async () => {
    const ahead = await rejection(pruning.pull(ada, { after_bundle_seq: 99 }));
    expect([ahead.code, ahead.status, ahead.message]).toEqual([
      "checkpoint_ahead",
      409,
      "requested checkpoint 99 is ahead of current committed bundle sequence 5",
    ]);
    expect((await rejection(pruning.pull(ada, { after_bundle_seq: 3, target_bundle_seq: 6 }))).code).toBe(
      "checkpoint_ahead",
    );
  });

  it("committed rows answer history_pruned at or below the floor", async () => {
    for (const seq of [1, 3]) {
      const error = await rejection(pruning.getCommittedBundleRows(ada, { bundle_seq: seq }));
      expect([error.code, error.status]).toEqual(["history_pruned", 409]);
    }
    expect((await pruning.getCommittedBundleRows(ada, { bundle_seq: 4 })).bundle_seq).toBe(4);
  });

  it("push create: already_committed only above the floor, history_pruned at or below it", async () => {
    const create = (sourceBundleId: number) =>
      pruning.createPushSession(ada, {
        source_bundle_id: sourceBundleId,
        planned_row_count: 1,
        canonical_request_hash: canonicalRequestHash([docRow("z", "z")]),
      });
    for (const id of [1, 3]) {
      const error = await rejection(create(id));
      expect([error.code, error.status]).toEqual(["history_pruned", 409]);
    }
    expect(await create(4)).toMatchObject({
      status: "already_committed",
      bundle_seq: 4,
      source_bundle_id: 4,
    });
    expect((await rejection(create(7))).code).toBe("source_sequence_out_of_order");
    expect(await create(6)).toMatchObject({ status: "staging" });
  });

  it("counts every history_pruned answer in history_pruned_error_count, and nothing else", async () => {
    expect((await pruning.status()).history_pruned_error_count).toBe(0);
    await rejection(pruning.pull(ada, { after_bundle_seq: 1 }));
    await rejection(pruning.getCommittedBundleRows(ada, { bundle_seq: 2 }));
    await rejection(
      pruning.createPushSession(ada, {
        source_bundle_id: 2,
        planned_row_count: 1,
        canonical_request_hash: canonicalRequestHash([docRow("z", "z")]),
      }),
    );
    await rejection(pruning.pull(ada, { after_bundle_seq: 99 }));
    await pruning.pull(ada, { after_bundle_seq: 3 });
    expect((await pruning.status()).history_pruned_error_count).toBe(3);
  });
});

describe("a seed push retried after its bundle was pruned", () => {
  it("answers history_pruned, as the same retry without initialization_id does", async () => {
    const seed = actor("dora", "laptop");
    const connected = await pruning.connect(seed, { has_local_pending_rows: true });
    expect(connected.resolution).toBe("initialize_local");
    const initializationId = connected.initialization_id!;
    await push(pruning, seed, 1, [docRow("s1", "x")], { initializationId });
    const retry = () =>
      pruning.createPushSession(seed, {
        source_bundle_id: 1,
        planned_row_count: 1,
        canonical_request_hash: canonicalRequestHash([docRow("s1", "x")]),
        initialization_id: initializationId,
      });
    expect(await retry()).toMatchObject({ status: "already_committed", bundle_seq: 1 });
    await push(pruning, seed, 2, [docRow("s2", "x")]);
    await push(pruning, seed, 3, [docRow("s3", "x")]);
    expect(await floorOf("dora")).toEqual({ floor: 1, latest: 3 });
    expect((await rejection(retry())).code).toBe("history_pruned");
  });
});

describe("setRetainedFloor", () => {
  beforeEach(async () => {
    await initializeScope(kept, ada);
    await fiveBundles(kept);
  });

  it("moves the floor to latest and deletes the history below, leaving row_state whole", async () => {
    await kept.setRetainedFloor("ada", 5);
    expect(await floorOf("ada")).toEqual({ floor: 5, latest: 5 });
    expect(await storedHistory("ada")).toEqual({ log: [], rows: [] });
    expect(await rowState("ada")).toEqual(FULL_ROW_STATE);
    expect(await docs("ada")).toEqual(FULL_DOCS);
    // An up-to-date client is not sent to rebuild; one behind is.
    expect(await kept.pull(ada, { after_bundle_seq: 5 })).toEqual({
      stable_bundle_seq: 5,
      bundles: [],
      has_more: false,
    });
    expect((await rejection(kept.pull(ada, { after_bundle_seq: 4 }))).code).toBe("history_pruned");
    // The same floor again is a no-op.
    await kept.setRetainedFloor("ada", 5);
    expect(await floorOf("ada")).toEqual({ floor: 5, latest: 5 });
  });

  it("moves part way: bundles above the new floor stay served", async () => {
    await kept.setRetainedFloor("ada", 2);
    expect(await storedHistory("ada")).toEqual({ log: [3, 4, 5], rows: [3, 4, 5] });
    const page = await kept.pull(ada, { after_bundle_seq: 2 });
    expect(page.bundles.map((b) => b.bundle_seq)).toEqual([3, 4, 5]);
  });

  it.each([
    ["above the latest bundle", 6, /above the latest committed bundle 5/],
    ["negative", -1, /non-negative integer/],
    ["fractional", 1.5, /non-negative integer/],
  ])("refuses a floor %s with invalid_request and changes nothing", async (_case, floor, message) => {
    const error = await rejection(kept.setRetainedFloor("ada", floor));
    expect([error.code, error.status]).toEqual(["invalid_request", 400]);
    expect(error.message).toMatch(message);
    expect(await floorOf("ada")).toEqual({ floor: 0, latest: 5 });
    expect((await storedHistory("ada")).log).toEqual([1, 2, 3, 4, 5]);
  });

  it("refuses to lower the floor, whose history is already gone", async () => {
    await kept.setRetainedFloor("ada", 3);
    const error = await rejection(kept.setRetainedFloor("ada", 2));
    expect([error.code, error.message]).toEqual([
      "invalid_request",
      "retained_bundle_floor 2 is below the current floor 3, whose history is already deleted",
    ]);
    expect(await floorOf("ada")).toEqual({ floor: 3, latest: 5 });
  });

  it("answers a user without sync state with user_state_not_found (404)", async () => {
    const error = await rejection(kept.setRetainedFloor("nobody", 0));
    expect([error.code, error.status]).toEqual(["user_state_not_found", 404]);
    const { rows } = await db.pool.query("SELECT 1 FROM sync.user_state WHERE user_id = 'nobody'");
    expect(rows).toHaveLength(0);
  });

  it("turns a database fault into retention_floor_update_failed (500), logged, and changes nothing", async () => {
    await db.pool.query(`
      CREATE FUNCTION public.refuse_floor() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'floor updates refused by test trigger'; END $$;
      CREATE TRIGGER refuse_floor BEFORE UPDATE OF retained_bundle_floor ON sync.user_state
        FOR EACH ROW EXECUTE FUNCTION public.refuse_floor();`);
    const error = await rejection(kept.setRetainedFloor("ada", 5));
    expect([error.code, error.status]).toEqual(["retention_floor_update_failed", 500]);
    expect(error.message).not.toContain("test trigger");
    expect(faults).toEqual(["retained floor update failed"]);
    expect(await floorOf("ada")).toEqual({ floor: 0, latest: 5 });
    expect((await storedHistory("ada")).log).toEqual([1, 2, 3, 4, 5]);
  });

  it("answers service_unavailable once the service is closing", async () => {
    await kept.close();
    expect((await rejection(kept.setRetainedFloor("ada", 5))).code).toBe("service_unavailable");
  });
});

describe("status counters", () => {
  it("report floors, windows and retained totals across users", async () => {
    const bob = actor("bob", "tablet");
    const cleo = actor("cleo", "watch");
    await initializeScope(pruning, ada);
    await fiveBundles(pruning); // floor 3, latest 5
    await initializeScope(kept, bob);
    for (let i = 1; i <= 3; i++) await push(kept, bob, i, [docRow(`b${i}`, "x")]);
    await kept.setRetainedFloor("bob", 3); // floor 3, latest 3
    await initializeScope(kept, cleo);
    await push(kept, cleo, 1, [docRow("c1", "x")]); // floor 0, latest 1
    const status = await kept.status();
    expect(status).toMatchObject({
      status: "healthy",
      user_state_retention_floor_ahead_count: 0,
      latest_bundle_seq_max: 5,
      retained_bundle_floor_min: 0,
      retained_bundle_floor_max: 3,
      retained_bundle_window_min: 0,
      retained_bundle_window_max: 2,
      committed_bundle_count: 3,
      history_pruned_error_count: 0,
    });
  });
});

describe("pruning then recovery", () => {
  it("a device behind the floor is refused, rebuilds from a complete snapshot, and pulls on from there", async () => {
    const phone = actor("ada", "phone");
    const tablet = actor("ada", "tablet");
    await initializeScope(pruning, phone);
    await push(pruning, phone, 1, [docRow("d1", "v1"), docRow("d2", "v1")]);
    // The tablet attaches and pulls bundle 1, then goes offline.
    expect((await pruning.connect(tablet, { has_local_pending_rows: false })).resolution).toBe(
      "remote_authoritative",
    );
    const first = await pruning.pull(tablet, { after_bundle_seq: 0 });
    expect(first.stable_bundle_seq).toBe(1);
    // Meanwhile the phone commits four more bundles; bundles 1..3 are pruned.
    await push(pruning, phone, 2, [docRow("d1", "v2", { op: "UPDATE", base: 1 })]);
    await push(pruning, phone, 3, [docRow("d3", "v1")]);
    await push(pruning, phone, 4, [docRow("d2", null, { op: "DELETE", base: 1 })]);
    await push(pruning, phone, 5, [docRow("d4", "v1")]);
    expect(await floorOf("ada")).toEqual({ floor: 3, latest: 5 });

    // Back online, the tablet's incremental pull is refused: it must rebuild.
    expect((await rejection(pruning.pull(tablet, { after_bundle_seq: 1 }))).code).toBe("history_pruned");
    // The rebuild source of truth is whole: row_state has every key at its latest version
    // (tombstone included) and the business rows hold the current values.
    expect(await rowState("ada")).toEqual(FULL_ROW_STATE);
    expect(await docs("ada")).toEqual(FULL_DOCS);
    // The snapshot it rebuilds from holds the complete current state, pruned bundles' rows included.
    const rebuilt = await snapshot(pruning, tablet);
    expect(rebuilt.seq).toBe(5);
    expect(rebuilt.rows.map((row) => [row.key.doc_id, row.row_version, row.payload.body])).toEqual([
      ["d1", 2, "v2"],
      ["d3", 3, "v1"],
      ["d4", 5, "v1"],
    ]);
    expect(await pruning.pull(tablet, { after_bundle_seq: rebuilt.seq })).toEqual({
      stable_bundle_seq: 5,
      bundles: [],
      has_more: false,
    });
    // A device rebuilt at the floor catches up incrementally, and keeps doing so as bundles land.
    const caughtUp = await pruning.pull(tablet, { after_bundle_seq: 3 });
    expect(caughtUp.bundles.map((b) => b.bundle_seq)).toEqual([4, 5]);
    expect(caughtUp.bundles.flatMap((b) => b.rows.map((row) => `${row.op} ${row.key.doc_id}`))).toEqual([
      "DELETE d2",
      "INSERT d4",
    ]);
    await push(pruning, tablet, 1, [docRow("t1", "v1")]);
    const next = await pruning.pull(tablet, { after_bundle_seq: 5 });
    expect(next.bundles.map((b) => [b.bundle_seq, b.source_id])).toEqual([[6, "tablet"]]);
    expect(await floorOf("ada")).toEqual({ floor: 4, latest: 6 });
  });
});
