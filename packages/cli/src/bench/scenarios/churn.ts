/**
 * Tables of work in progress under sustained load: users push bundles of 10 new rows and take a
 * snapshot every 20 bundles through the service for a fixed time, and the on-disk size of the
 * tables that only hold work in progress (push and snapshot sessions, staged rows, the capture
 * stage) is sampled every 5 s. Bounded means the end is no larger than halfway through. That only
 * means something under a steady load, so each user's account stays at WINDOW_BUNDLES bundles of
 * live rows: from then on a bundle also deletes the rows of the bundle that many before it (with
 * ever-growing accounts every snapshot copies more rows than the one before, and the snapshot
 * tables grow with the accounts however promptly sessions are cleaned up). One run: its length is
 * the measure, so --rounds does not repeat it.
 */
import { OversyncError, type PushRow, canonicalRequestHash } from "@oversync/protocol";
import { type Actor, createSyncService } from "@oversync/server";
import { BENCH_APP, BENCH_TABLES, itemsFor, pushRowsOf } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { mib } from "../stats.js";

/** The sync tables that only hold work in progress (sessions, staged rows, the capture stage). */
export const CHURN_TABLES = [
  "push_sessions",
  "push_session_rows",
  "bundle_capture_stage",
  "snapshot_sessions",
  "snapshot_session_rows",
];

const SAMPLE_MS = 5000;

/** Bundles of live rows each user keeps: 1,000 rows of ~256 B, so a snapshot copies ~0.4 MB. */
const WINDOW_BUNDLES = 100;

export async function runChurn(ctx: BenchContext): Promise<void> {
  const { churnSeconds: seconds, churnUsers: users } = ctx.sizes;
  const db = await ctx.database();
  const service = createSyncService({
    pool: db.pool,
    appName: BENCH_APP,
    registeredTables: BENCH_TABLES,
    maxSupportedSchemaVersion: 1,
  });
  ctx.defer(() => service.close());
  await service.bootstrap();
  const sizes = async () => {
    const { rows } = await db.pool.query<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'sync' AND c.relname = ANY ($1)`,
      [CHURN_TABLES],
    );
    return new Map(rows.map((row) => [row.name, Number(row.bytes)]));
  };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let bundles = 0;
  const user = async (actor: Actor) => {
    await service.connect(actor, { has_local_pending_rows: false });
    // The deletes of each live bundle's rows, oldest first, ready to send once it expires.
    const live: PushRow[][] = [];
    for (let bundle = 1; performance.now() < deadline; bundle++) {
      const items = itemsFor(10);
      const rows = [...pushRowsOf(items), ...(live.length >= WINDOW_BUNDLES ? live.shift()! : [])];
      const created = await service.createPushSession(actor, {
        source_bundle_id: bundle,
        planned_row_count: rows.length,
        canonical_request_hash: canonicalRequestHash(rows),
      });
      if (created.status !== "staging") throw new Error("expected a staging session");
      await service.uploadPushChunk(actor, created.push_id, { start_row_ordinal: 0, rows });
      const committed = await service.commitPushSession(actor, created.push_id);
      live.push(
        items.map((item) => ({
          schema: "bench",
          table: "items",
          key: { id: item.id },
          op: "DELETE",
          base_row_version: committed.bundle_seq,
        })),
      );
      bundles++;
      if (bundle % 20 === 0) {
        const session = await withCapacityRetry(() => service.createSnapshotSession(actor, {}));
        await service.getSnapshotChunk(actor, { snapshot_id: session.snapshot_id, max_rows: 1000 });
        await service.deleteSnapshotSession(actor, session.snapshot_id);
      }
    }
  };
  const samples: { second: number; bytes: Map<string, number> }[] = [];
  const sampler = (async () => {
    while (performance.now() + SAMPLE_MS <= deadline + 500) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      const second = Math.round((performance.now() - started) / 1000);
      samples.push({ second, bytes: await sizes() });
      ctx.progress(`${second} s, ${bundles} bundles`);
    }
  })();
  await Promise.all(
    Array.from({ length: users }, (_, index) =>
      user({ scopeId: `churn-${index}`, userId: `churn-${index}`, sourceId: "device" }),
    ),
  );
  await sampler;
  const halfway = samples[Math.floor((samples.length - 1) / 2)];
  const end = samples.at(-1);
  if (halfway === undefined || end === undefined) throw new Error("no size sample was taken");
  const total = (sample: typeof end) => [...sample.bytes.values()].reduce((sum, bytes) => sum + bytes, 0);
  const f = ctx.figures;
  for (const table of CHURN_TABLES) {
    f.add(`churn.${table}.halfway`, `${table} at ${halfway.second} s`, "MiB", [
      mib(halfway.bytes.get(table) ?? 0),
    ]);
    f.add(`churn.${table}`, `${table} at ${end.second} s`, "MiB", [mib(end.bytes.get(table) ?? 0)], {
      baseline: `churn.${table}.halfway`,
    });
  }
  f.add("churn.total.halfway", `all five at ${halfway.second} s`, "MiB", [mib(total(halfway))]);
  f.add("churn.total", `all five at ${end.second} s`, "MiB", [mib(total(end))], {
    baseline: "churn.total.halfway",
  });
  ctx.notes.push(
    `${users} users, ${seconds} s, ${bundles.toLocaleString("en-US")} bundles of 10 new rows committed ` +
      `(${Math.round(bundles / seconds)}/s), each user keeping the rows of its last ${WINDOW_BUNDLES} bundles ` +
      "(a bundle also deletes those of the bundle that many before it), a snapshot every 20 bundles " +
      "per user; service calls. " +
      "Sizes are pg_total_relation_size (heap, indexes, TOAST).",
  );
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
