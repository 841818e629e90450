/**
 * Rebuilding local state from a server snapshot:
 * - keep-source: the checkpoint cannot be trusted (history pruned, checkpoint ahead, explicit
 *   rebuild); the source and its bundle sequence stay;
 * - rotated: leaves source recovery on the reserved replacement source, carrying the frozen outbox;
 * - checkpoint recovery: what pull and sync do while the rebuild gate is set (push pending work
 *   first, then keep-source);
 * - remote replace: the snapshot an attach to an initialized account restores, staged durably so a
 *   restart resumes it.
 */
import { OversyncError, type SnapshotSession } from "@oversync/protocol";
import type { SourceReplacement } from "../transport/sync-transport.js";
import { isTransientFailure } from "../transport/retry-policy.js";
import { OversyncClientError } from "../errors.js";
import { HttpStatusError } from "@oversync/protocol";
import { negotiateSnapshot } from "./capability-gate.js";
import { type EngineContext, openStore, toWireInt } from "./engine-context.js";
import { CommittedReplayPrunedError, pushPending } from "./push.js";
import type { RemoteSyncReport, RestoreSummary } from "./results.js";
import { sourceRecoveryReasonOf, syncStatus } from "./session-gates.js";
import {
  type SnapshotApplyMode,
  applyStagedSnapshot,
  createSnapshotSession,
  downloadSnapshot,
} from "./snapshot.js";
import { enterSourceRecovery, sourceRecoveryDemandOf } from "./source-recovery.js";
import {
  CheckpointRecoveryBlockedError,
  PendingPushReplayError,
  SourceRecoveryRequiredError,
} from "./sync-errors.js";
import { wireReaction } from "./wire-reactions.js";

/** Reasons kept in the operation state while the rebuild gate is set outside source recovery. */
const CHECKPOINT_RECOVERY_REASONS = new Set(["history_pruned", "checkpoint_ahead", "explicit_rebuild"]);

/** True when the rebuild gate is set outside source recovery (pull and sync then recover). */
export async function checkpointRecoveryRequired(ctx: EngineContext): Promise<boolean> {
  return openStore(ctx, "checkpoint recovery").read(
    async (state) =>
      (await state.readAttachment()).rebuildRequired &&
      (await state.readOperation()).kind !== "source_recovery",
  );
}

/** Sets the rebuild gate durably, keeping an earlier checkpoint-recovery reason, so a restart resumes. */
export async function markCheckpointRecovery(ctx: EngineContext, reason: string): Promise<void> {
  await openStore(ctx, "checkpoint recovery").write(async (state) => {
    await state.writeAttachment({ ...(await state.readAttachment()), rebuildRequired: true });
    const operation = await state.readOperation();
    if (operation.kind !== "none") return;
    if (!CHECKPOINT_RECOVERY_REASONS.has(operation.reason))
      await state.writeOperation({ ...operation, reason });
  });
}

/**
 * Keep-source rebuild. `afterCommittedPush` finishes a pruned committed outbox instead of refusing
 * it; otherwise pending outbox rows refuse the rebuild before anything changes. Dirty rows do not:
 * they, and every write the app makes while the snapshot downloads, are kept over the snapshot.
 */
export async function rebuildKeepSource(
  ctx: EngineContext,
  options: { readonly afterCommittedPush?: boolean } = {},
): Promise<RemoteSyncReport> {
  const store = openStore(ctx, "rebuild()");
  await store.read(async (state) => {
    const outbox = await state.readOutboxBundle();
    const outboxRows = await state.countOutboxRows();
    if (outboxRows > 0n && !(options.afterCommittedPush && outbox.state === "committed_remote")) {
      throw new PendingPushReplayError("rebuild()", outboxRows);
    }
  });
  const limits = await negotiateSnapshot(ctx);
  if (!options.afterCommittedPush) await markCheckpointRecovery(ctx, "explicit_rebuild");
  const restore = await downloadAndApply(ctx, undefined, limits, {
    kind: options.afterCommittedPush ? "keep_source_after_committed_push" : "keep_source",
  });
  return snapshotReport(ctx, restore);
}

/**
 * Leaves source recovery: a snapshot session that retires the current source in favour of the
 * reserved replacement, then the rotating apply. The reservation survives failed attempts. Dirty
 * rows (writes between the freeze and the refusal) do not block it: they are kept over the
 * snapshot, so the database never gets stuck in recovery.
 */
export async function rebuildRotatingSource(ctx: EngineContext): Promise<RemoteSyncReport> {
  const store = openStore(ctx, "rebuild()");
  const replacement = await store.read(async (state) => {
    const operation = await state.readOperation();
    const reason = sourceRecoveryReasonOf(operation);
    const outboxRows = await state.countOutboxRows();
    if (outboxRows > 0n && (await state.readOutboxBundle()).state === "none") {
      throw new PendingPushReplayError("rebuild()", outboxRows);
    }
    return {
      previousSourceId: ctx.sourceId,
      newSourceId: operation.replacementSourceId,
      reason,
    } satisfies SourceReplacement;
  });
  const limits = await negotiateSnapshot(ctx);
  const restore = await downloadAndApply(ctx, replacement, limits, {
    kind: "rotate_source",
    newSourceId: replacement.newSourceId,
  });
  return snapshotReport(ctx, restore);
}

/**
 * What pull and sync run while the rebuild gate is set: pending work is pushed first (a failure
 * there blocks recovery with a typed error and keeps the work), then a keep-source rebuild, which
 * keeps whatever the app wrote meanwhile.
 */
export async function recoverCheckpoint(ctx: EngineContext): Promise<RemoteSyncReport> {
  const store = openStore(ctx, "checkpoint recovery");
  const counts = () =>
    store.read(async (state) => ({
      dirty: await state.countDirtyRows(),
      outbox: await state.countOutboxRows(),
      replayState: (await state.readOutboxBundle()).state,
    }));
  const before = await counts();
  if (before.dirty > 0n || before.outbox > 0n) {
    try {
      await pushPending(ctx, { allowCheckpointRecovery: true });
    } catch (error) {
      if (error instanceof CommittedReplayPrunedError)
        return rebuildKeepSource(ctx, { afterCommittedPush: true });
      if (error instanceof SourceRecoveryRequiredError || isTransientFailure(error) || isAuthFailure(error)) {
        throw error;
      }
      const now = await counts();
      throw new CheckpointRecoveryBlockedError("push_failed", now.dirty, now.outbox, now.replayState, {
        cause: error,
      });
    }
  }
  return rebuildKeepSource(ctx);
}

/**
 * Finishes a pending remote replacement: reuses a completely staged snapshot (no network), or
 * clears a partial stage and stages a fresh session, then applies it and binds `userId`.
 */
export async function finishRemoteReplace(ctx: EngineContext, userId: string): Promise<RestoreSummary> {
  const store = openStore(ctx, "attach(userId)");
  const staged = await store.read(async (state) => {
    const operation = await state.readOperation();
    if (!operation.snapshotStageComplete || operation.stagedSnapshotId === "") return undefined;
    const count = await state.countSnapshotStage(operation.stagedSnapshotId);
    return count === operation.snapshotRowCount ? operation : undefined;
  });
  if (staged !== undefined) {
    ctx.progress.phase("applying_remote_state");
    return applyStagedSnapshot(ctx, sessionOfOperation(staged), { kind: "remote_replace", userId });
  }
  // Forget an incomplete stage's session before the stage itself, so a crash never finds a
  // "complete" record over an emptied stage.
  const recordStage = (staged: SnapshotSession | undefined, complete: boolean) =>
    store.write(async (state) => {
      await state.writeOperation({
        ...(await state.readOperation()),
        stagedSnapshotId: staged?.snapshot_id ?? "",
        snapshotBundleSeq: BigInt(staged?.snapshot_bundle_seq ?? 0),
        snapshotRowCount: BigInt(staged?.row_count ?? 0),
        snapshotByteCount: BigInt(staged?.byte_count ?? 0),
        snapshotStageComplete: complete,
      });
    });
  await recordStage(undefined, false);
  const limits = await negotiateSnapshot(ctx);
  ctx.progress.phase("staging_remote_state");
  const session = await downloadSnapshot(ctx, limits, () => createSnapshotSession(ctx), recordStage);
  ctx.progress.phase("applying_remote_state");
  return applyStagedSnapshot(ctx, session, { kind: "remote_replace", userId });
}

async function downloadAndApply(
  ctx: EngineContext,
  replacement: SourceReplacement | undefined,
  limits: Awaited<ReturnType<typeof negotiateSnapshot>>,
  mode: SnapshotApplyMode,
): Promise<RestoreSummary> {
  ctx.progress.phase("staging_remote_state");
  const session = await downloadSnapshot(ctx, limits, async () => {
    try {
      return await createSnapshotSession(ctx, { sourceReplacement: replacement });
    } catch (error) {
      const demand = sourceRecoveryDemandOf(error, "snapshot");
      if (demand !== undefined) return enterSourceRecovery(ctx, demand);
      if (error instanceof OversyncError && wireReaction(error.code, "snapshot") === "keep_recovery") {
        throw new OversyncClientError(
          "source_replacement_refused",
          `the server refused the source replacement (${error.message}); the recovery reservation is kept, contact support`,
          { cause: error },
        );
      }
      throw error;
    }
  });
  ctx.progress.phase("applying_remote_state");
  return applyStagedSnapshot(ctx, session, mode);
}

async function snapshotReport(ctx: EngineContext, restore: RestoreSummary): Promise<RemoteSyncReport> {
  return {
    outcome: "applied_snapshot",
    syncStatus: await openStore(ctx, "rebuild()").read(syncStatus),
    restore,
  };
}

function sessionOfOperation(operation: {
  stagedSnapshotId: string;
  snapshotBundleSeq: bigint;
  snapshotRowCount: bigint;
  snapshotByteCount: bigint;
}): SnapshotSession {
  return {
    snapshot_id: operation.stagedSnapshotId,
    snapshot_bundle_seq: toWireInt(operation.snapshotBundleSeq, "snapshot_bundle_seq"),
    row_count: toWireInt(operation.snapshotRowCount, "snapshot_row_count"),
    byte_count: toWireInt(operation.snapshotByteCount, "snapshot_byte_count"),
    expires_at: "",
  };
}

function isAuthFailure(error: unknown): boolean {
  return (
    (error instanceof OversyncError || error instanceof HttpStatusError) &&
    (error.status === 401 || error.status === 403)
  );
}
