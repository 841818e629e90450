/**
 * `pullToStable`: download complete bundles up to the ceiling the first page reports (later pages
 * ask for exactly that ceiling), each bundle applied with the checkpoint advanced to it in the same
 * authoritative transaction (consecutive small bundles share one). A row already known at the same or a newer version is skipped.
 * A pull never drops a change the app queued, so it runs whatever the app writes meanwhile; the
 * change stays queued on its old base and the next push meets the server's version as a conflict
 * for the resolver. Locally, an upsert the app queued keeps its value over a pulled upsert; a
 * pulled delete, or a pulled upsert over a queued delete, is applied (so the server's rows of the
 * bundle always fit together), and a queued row whose parent the bundle deleted is hidden until the
 * server decides. History the server no longer holds
 * (`history_pruned`) or a checkpoint beyond its history (`checkpoint_ahead`) switches to a
 * keep-source snapshot rebuild, with the rebuild gate set first so a crash resumes it.
 */
import { OversyncError, ProtocolViolationError } from "@oversync/protocol";
import type { ApplyState } from "../store/app-rows.js";
import { type AuthoritativeRow, decodeAuthoritativeRow } from "./authoritative-rows.js";
import {
  type EngineContext,
  applyAuthoritatively,
  openStore,
  stopPoint,
  stoppable,
  toWireInt,
} from "./engine-context.js";
import { hideOrphanedQueuedRows } from "./queued-changes.js";
import {
  checkpointRecoveryRequired,
  markCheckpointRecovery,
  rebuildKeepSource,
  recoverCheckpoint,
} from "./rebuild.js";
import type { RemoteSyncReport } from "./results.js";
import { requireNoSourceRecovery, syncStatus } from "./session-gates.js";
import { PendingPushReplayError, rebuildRequiredError } from "./sync-errors.js";
import { wireReaction } from "./wire-reactions.js";

/** Pulls to the stable ceiling, recovering the checkpoint when needed. */
export async function pullToStable(ctx: EngineContext): Promise<RemoteSyncReport> {
  if (await checkpointRecoveryRequired(ctx)) return recoverCheckpoint(ctx);
  const store = openStore(ctx, "pullToStable()");
  await store.read(async (state) => {
    requireNoSourceRecovery(await state.readOperation());
    if ((await state.readAttachment()).rebuildRequired) throw rebuildRequiredError();
    const outboxRows = await state.countOutboxRows();
    if (outboxRows > 0n) throw new PendingPushReplayError("pullToStable()", outboxRows);
  });
  ctx.progress.phase("pulling");
  try {
    const outcome = await pullIncremental(ctx);
    return { outcome, syncStatus: await store.read(syncStatus) };
  } catch (error) {
    if (error instanceof OversyncError && wireReaction(error.code, "pull") === "rebuild") {
      await markCheckpointRecovery(ctx, error.code);
      return rebuildKeepSource(ctx);
    }
    throw error;
  }
}

/** Rows applied per transaction when a pull page holds many bundles (see pullIncremental). */
const APPLY_GROUP_ROWS = 1000;

/** Applies one pulled bundle inside an authoritative transaction and advances the checkpoint to it. */
async function applyBundle(
  state: ApplyState,
  bundleSeq: bigint,
  rows: readonly AuthoritativeRow[],
): Promise<void> {
  const anyQueued = (await state.countDirtyRows()) > 0n;
  let deleted = false;
  for (const row of rows) {
    const known = await state.readRowState(row.tableName, row.keyJson);
    if (known !== undefined && known.rowVersion >= row.rowVersion) continue;
    if (row.op === "DELETE") deleted = true;
    else if (anyQueued && (await state.readDirtyRow(row.tableName, row.keyJson))?.payload) continue;
    await state.applyRemoteRow(row);
  }
  if (anyQueued && deleted) await hideOrphanedQueuedRows(state);
  const attachment = await state.readAttachment();
  if (bundleSeq > attachment.lastBundleSeqSeen) {
    await state.writeAttachment({ ...attachment, lastBundleSeqSeen: bundleSeq });
  }
}

async function pullIncremental(ctx: EngineContext): Promise<"already_at_target" | "applied_incremental"> {
  const store = openStore(ctx, "pullToStable()");
  const initial = await store.read(async (state) => (await state.readAttachment()).lastBundleSeqSeen);
  const start = toWireInt(initial, "last_bundle_seq_seen");
  let after = start;
  let target = 0;
  let bundlesDone = 0;
  let rowsDone = 0;
  for (;;) {
    stopPoint(ctx);
    const page = await ctx.transport.pull(
      {
        afterBundleSeq: after,
        maxBundles: ctx.options.downloadLimit,
        targetBundleSeq: target > 0 ? target : undefined,
      },
      stoppable(ctx),
    );
    if (target === 0) target = page.stable_bundle_seq;
    else if (page.stable_bundle_seq !== target) {
      throw new ProtocolViolationError(
        "invalid_response",
        `pull response stable bundle seq changed from ${target} to ${page.stable_bundle_seq}`,
      );
    }
    // Sequence numbers may skip values, so before the last page the total is an upper bound.
    let index = 0;
    const bundles = (): { done: number; total: number } => ({
      done: bundlesDone,
      total: bundlesDone + (page.has_more ? Math.max(target - after, 0) : page.bundles.length - index),
    });
    if (page.bundles.length > 0 || bundlesDone === 0) {
      ctx.progress.count({ bundles: bundles(), rows: { done: rowsDone } });
    }
    // Consecutive bundles apply together, each with its checkpoint, in one transaction of about
    // APPLY_GROUP_ROWS rows: a catch-up over many small bundles then commits (and syncs to disk)
    // once per group instead of once per bundle. A bundle that fails to decode or to apply stops
    // the page after the bundles before it have been applied.
    let group: { readonly seq: number; readonly rows: AuthoritativeRow[] }[] = [];
    let groupRows = 0;
    const applyGroup = async () => {
      if (group.length === 0) return;
      const applying = group;
      group = [];
      groupRows = 0;
      const applied = (done: typeof applying) => {
        for (const bundle of done) {
          after = bundle.seq;
          bundlesDone++;
          rowsDone += bundle.rows.length;
          index++;
        }
        ctx.progress.count({ bundles: bundles(), rows: { done: rowsDone } });
      };
      try {
        await applyAuthoritatively(ctx, async (state) => {
          for (const bundle of applying) await applyBundle(state, BigInt(bundle.seq), bundle.rows);
        });
      } catch (error) {
        if (applying.length === 1) throw error;
        // A bundle that fails to apply must leave the checkpoint at the last whole bundle before
        // it, so the group is applied again one bundle per transaction up to the failing one.
        for (const bundle of applying) {
          await applyAuthoritatively(ctx, (state) => applyBundle(state, BigInt(bundle.seq), bundle.rows));
          applied([bundle]);
        }
        return;
      }
      applied(applying);
    };
    for (const bundle of page.bundles) {
      let rows: AuthoritativeRow[];
      try {
        rows = bundle.rows.map((row) => decodeAuthoritativeRow(store.schema, row));
      } catch (error) {
        await applyGroup();
        throw error;
      }
      group.push({ seq: bundle.bundle_seq, rows });
      groupRows += rows.length;
      if (groupRows >= APPLY_GROUP_ROWS) {
        await applyGroup();
        // Between groups, each committed with its checkpoint, a stop is safe.
        stopPoint(ctx);
      }
    }
    await applyGroup();
    if (after >= target) {
      return after === start && target === start ? "already_at_target" : "applied_incremental";
    }
    if (!page.has_more) {
      throw new ProtocolViolationError(
        "invalid_response",
        `pull ended early at bundle seq ${after} before stable bundle seq ${target}`,
      );
    }
  }
}
