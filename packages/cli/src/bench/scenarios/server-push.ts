/**
 * Server push, pull and snapshot through the service (no HTTP), against PostgreSQL writing and
 * reading the same rows with no sync: the ratio is what sync costs per row on the server (staging,
 * validation, capture, hashing, the bundle log). A snapshot freezes the user's rows and reads them
 * back in chunks, so it is set against the same SELECT.
 */
import { randomUUID } from "node:crypto";
import { canonicalRequestHash } from "@oversync/protocol";
import { type Actor, type SyncRuntime, createSyncService } from "@oversync/server";
import { BENCH_APP, BENCH_TABLES, itemsFor, pushRowsOf } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { postgresInsert, postgresSelect } from "../limits.js";
import { timed } from "../stats.js";

const CHUNK_ROWS = 1000;

export async function runServerPush(ctx: BenchContext): Promise<void> {
  const { rows } = ctx.sizes;
  const db = await ctx.database();
  const service = createSyncService({
    pool: db.pool,
    appName: BENCH_APP,
    registeredTables: BENCH_TABLES,
    maxSupportedSchemaVersion: 1,
    limits: { max_rows_per_push_chunk: CHUNK_ROWS },
  });
  ctx.defer(() => service.close());
  await service.bootstrap();
  const times = {
    insert: [] as number[],
    push: [] as number[],
    select: [] as number[],
    pull: [] as number[],
  };
  const snapshot: number[] = [];
  for (let round = 0; round < ctx.rounds; round++) {
    ctx.progress(`round ${round + 1}/${ctx.rounds}`);
    const user = `bench-${round}-${randomUUID()}`;
    const actor: Actor = { scopeId: user, userId: user, sourceId: `${user}-device` };
    await service.connect(actor, { has_local_pending_rows: false });
    const items = itemsFor(rows);
    times.insert.push(await postgresInsert(db.pool, user, items));
    times.push.push(await timed(() => pushAll(service, actor, pushRowsOf(items))));
    times.select.push(await postgresSelect(db.pool, user));
    times.pull.push(
      await timed(async () => {
        const page = await service.pull(actor, { after_bundle_seq: 0 });
        if (page.bundles[0]?.rows.length !== rows) throw new Error("pull returned the wrong rows");
      }),
    );
    snapshot.push(await timed(() => readSnapshot(service, actor, rows)));
  }
  const count = rows.toLocaleString("en-US");
  const f = ctx.figures;
  f.add("server-push.insert", `PostgreSQL INSERT of ${count} rows`, "ms", times.insert, {
    rows,
    isLimit: true,
  });
  f.add("server-push.push", `service push of ${count} rows`, "ms", times.push, {
    rows,
    limit: "server-push.insert",
  });
  f.add("server-push.select", `PostgreSQL SELECT of ${count} rows`, "ms", times.select, {
    rows,
    isLimit: true,
  });
  f.add("server-push.pull", `service pull of ${count} rows`, "ms", times.pull, {
    rows,
    limit: "server-push.select",
  });
  f.add("server-push.snapshot", `service snapshot of ${count} rows (create + all chunks)`, "ms", snapshot, {
    rows,
    limit: "server-push.select",
  });
}

async function pushAll(service: SyncRuntime, actor: Actor, rows: ReturnType<typeof pushRowsOf>) {
  const created = await service.createPushSession(actor, {
    source_bundle_id: 1,
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

/** Creates a snapshot session and reads every chunk at the server's default chunk size. */
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
