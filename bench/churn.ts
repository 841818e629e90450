/**
 * Churn tables under sustained load: N users push small bundles and take snapshots through the
 * service for a fixed time, and the on-disk size of the tables that only hold work in progress
 * (push and snapshot sessions, staged rows, the capture stage) is sampled as it goes. Bounded
 * means the last samples are no larger than the ones halfway through.
 *
 * BENCH_CHURN_SECONDS (default 60) and BENCH_CHURN_USERS (default 8) size the run.
 */
import { randomUUID } from "node:crypto";
import { OversyncError, canonicalRequestHash } from "@oversync/protocol";
import { type Actor, createSyncService } from "@oversync/server";
import { createTestDatabase } from "../test/support/postgres.js";

const CHURN_TABLES = [
  "push_sessions",
  "push_session_rows",
  "bundle_capture_stage",
  "snapshot_sessions",
  "snapshot_session_rows",
];

/** One sample: seconds into the run, bundles so far, and each churn table's total size in KiB. */
export interface ChurnSample {
  readonly second: number;
  readonly bundles: number;
  readonly kib: Readonly<Record<string, number>>;
}

/** Runs `call` again while the server answers that its snapshot builds are all busy, as clients do. */
async function withCapacityRetry<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof OversyncError && error.code === "snapshot_build_capacity")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function benchChurn(seconds: number, users: number): Promise<ChurnSample[]> {
  const db = await createTestDatabase("oversync_bench_churn");
  await db.pool.query(`CREATE SCHEMA bench;
    CREATE TABLE bench.items (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL,
      PRIMARY KEY (_sync_scope_id, id));`);
  const service = createSyncService({
    pool: db.pool,
    appName: "oversync-bench",
    registeredTables: [{ schema: "bench", table: "items", syncKeyColumns: ["id"] }],
    maxSupportedSchemaVersion: 1,
  });
  const samples: ChurnSample[] = [];
  try {
    await service.bootstrap();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let bundles = 0;
    const sizes = async () => {
      const { rows } = await db.pool.query<{ name: string; kib: number }>(
        `SELECT c.relname AS name, (pg_total_relation_size(c.oid) / 1024)::int AS kib
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'sync' AND c.relname = ANY ($1)`,
        [CHURN_TABLES],
      );
      return Object.fromEntries(rows.map((row) => [row.name, row.kib]));
    };
    const user = async (actor: Actor) => {
      await service.connect(actor, { has_local_pending_rows: false });
      for (let bundle = 1; performance.now() < deadline; bundle++) {
        const rows = Array.from({ length: 10 }, () => {
          const id = randomUUID();
          return {
            schema: "bench",
            table: "items",
            key: { id },
            op: "INSERT" as const,
            base_row_version: 0,
            payload: { id, name: "x".repeat(100) },
          };
        });
        const created = await service.createPushSession(actor, {
          source_bundle_id: bundle,
          planned_row_count: rows.length,
          canonical_request_hash: canonicalRequestHash(rows),
        });
        if (created.status !== "staging") throw new Error("expected a staging session");
        await service.uploadPushChunk(actor, created.push_id, { start_row_ordinal: 0, rows });
        await service.commitPushSession(actor, created.push_id);
        bundles++;
        if (bundle % 20 === 0) {
          const session = await withCapacityRetry(() => service.createSnapshotSession(actor, {}));
          await service.getSnapshotChunk(actor, { snapshot_id: session.snapshot_id, max_rows: 1000 });
          await service.deleteSnapshotSession(actor, session.snapshot_id);
        }
      }
    };
    const sampler = (async () => {
      while (performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5000));
        samples.push({
          second: Math.round((performance.now() - started) / 1000),
          bundles,
          kib: await sizes(),
        });
      }
    })();
    await Promise.all(
      Array.from({ length: users }, (_, index) => user({ userId: `churn-${index}`, sourceId: "d" })),
    );
    await sampler;
    return samples;
  } finally {
    await service.close();
    await db.drop();
  }
}
