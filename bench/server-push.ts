/**
 * Server push, pull and snapshot throughput against the physical limit, in one run.
 *
 * The limit is PostgreSQL writing and reading the same rows with no sync at all: one multi-row
 * INSERT … SELECT FROM unnest(…) into an unregistered twin table in one transaction, and a plain
 * SELECT of them. oversync does the same write plus staging, validation, capture, hashing and the
 * bundle log, so the ratio says what sync costs per row. A snapshot freezes the user's rows (a
 * write of their JSON texts) and reads them back in chunks, so it is set against the same SELECT.
 */
import { randomUUID } from "node:crypto";
import { type PushRow, canonicalRequestHash } from "@oversync/protocol";
import { type Actor, type SyncRuntime, createSyncService } from "@oversync/server";
import { createTestDatabase } from "../test/support/postgres.js";
import { type Measurement, median, timed } from "./measure.js";

const SCHEMA_SQL = `
  CREATE SCHEMA bench;
  CREATE TABLE bench.items (
    _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, count int8 NOT NULL,
    amount numeric(14,2) NOT NULL, ratio float8, PRIMARY KEY (_sync_scope_id, id));
  CREATE TABLE bench.items_raw (LIKE bench.items INCLUDING ALL);`;

const CHUNK_ROWS = 1000;

function rowsFor(count: number): PushRow[] {
  return Array.from({ length: count }, (_, index) => {
    const id = randomUUID();
    return {
      schema: "bench",
      table: "items",
      key: { id },
      op: "INSERT",
      base_row_version: 0,
      payload: {
        id,
        name: `item ${index} with a name of ordinary length`,
        count: String(9_007_199_254_740_993n + BigInt(index)),
        amount: `${index}.25`,
        ratio: String(index / 7),
      },
    };
  });
}

async function pushAll(service: SyncRuntime, actor: Actor, sourceBundleId: number, rows: PushRow[]) {
  const created = await service.createPushSession(actor, {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  });
  if (created.status !== "staging") throw new Error("expected a staging session");
  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    await service.uploadPushChunk(actor, created.push_id, {
      start_row_ordinal: start,
      rows: rows.slice(start, start + CHUNK_ROWS),
    });
  }
  return service.commitPushSession(actor, created.push_id);
}

/** Runs the scenario `rounds` times with `rowCount` rows per push; returns the measurements. */
export async function benchServerPush(rowCount: number, rounds: number): Promise<Measurement[]> {
  const db = await createTestDatabase("oversync_bench");
  try {
    await db.pool.query(SCHEMA_SQL);
    const service = createSyncService({
      pool: db.pool,
      appName: "oversync-bench",
      registeredTables: [{ schema: "bench", table: "items", syncKeyColumns: ["id"] }],
      maxSupportedSchemaVersion: 1,
      limits: { max_rows_per_push_chunk: CHUNK_ROWS },
    });
    await service.bootstrap();
    const raw: number[] = [];
    const push: number[] = [];
    const rawRead: number[] = [];
    const pull: number[] = [];
    const snapshot: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const user = `bench-${round}-${randomUUID()}`;
      const actor: Actor = { userId: user, sourceId: `${user}-device` };
      await service.connect(actor, { has_local_pending_rows: false });
      const rows = rowsFor(rowCount);

      raw.push(await timed(() => rawInsert(db.pool, user, rows)));
      push.push(await timed(() => pushAll(service, actor, 1, rows)));
      rawRead.push(
        await timed(() => db.pool.query("SELECT * FROM bench.items_raw WHERE _sync_scope_id = $1", [user])),
      );
      pull.push(
        await timed(async () => {
          const page = await service.pull(actor, { after_bundle_seq: 0 });
          if (page.bundles[0]?.rows.length !== rowCount) throw new Error("pull returned the wrong rows");
        }),
      );
      snapshot.push(await timed(() => readSnapshot(service, actor, rowCount)));
    }
    await service.close();
    return [
      { name: `PostgreSQL INSERT of ${rowCount} rows (limit)`, millis: median(raw), rows: rowCount },
      { name: `oversync push of ${rowCount} rows`, millis: median(push), rows: rowCount, limit: median(raw) },
      { name: `PostgreSQL SELECT of ${rowCount} rows (limit)`, millis: median(rawRead), rows: rowCount },
      {
        name: `oversync pull of ${rowCount} rows`,
        millis: median(pull),
        rows: rowCount,
        limit: median(rawRead),
      },
      {
        name: `oversync snapshot of ${rowCount} rows (create + all chunks)`,
        millis: median(snapshot),
        rows: rowCount,
        limit: median(rawRead),
      },
    ];
  } finally {
    await db.drop();
  }
}

/** Creates a snapshot session and reads every chunk at the server's default (largest) chunk size. */
async function readSnapshot(service: SyncRuntime, actor: Actor, rowCount: number) {
  const session = await service.createSnapshotSession(actor, {});
  let after = 0;
  for (;;) {
    const chunk = await service.getSnapshotChunk(actor, {
      snapshot_id: session.snapshot_id,
      after_row_ordinal: after,
    });
    after = chunk.next_row_ordinal;
    if (!chunk.has_more) break;
  }
  await service.deleteSnapshotSession(actor, session.snapshot_id);
  if (after !== rowCount) throw new Error(`snapshot returned ${after} rows, expected ${rowCount}`);
}

async function rawInsert(
  pool: { query: (text: string, values: unknown[]) => Promise<unknown> },
  user: string,
  rows: PushRow[],
) {
  const column = (name: string) => rows.map((row) => row.payload![name]);
  await pool.query(
    `INSERT INTO bench.items_raw (_sync_scope_id, id, name, count, amount, ratio)
     SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::numeric[], $6::float8[])`,
    [user, column("id"), column("name"), column("count"), column("amount"), column("ratio")],
  );
}
