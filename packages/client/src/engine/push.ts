/**
 * `pushPending`: freeze (or resume) the outbox, upload and commit it, fetch and verify the committed
 * bundle, replay it locally. Each step's result is durable before the next starts, so a crash at
 * any point resumes from the outbox: `prepared` re-uploads from row 0 in a fresh session,
 * `committed_remote` skips straight to fetching the committed rows.
 *
 * Server answers that change durable state: a source-recovery code enters source recovery; a
 * pruned committed bundle or a request-hash mismatch on a committed outbox sets the rebuild gate;
 * an expired or stale seeding lease drops the binding (the outbox is kept); a structured conflict
 * goes to the resolver and the push retries (see EXTRA_CONFLICT_RETRIES); a refusal for good
 * (`push_chunk_invalid`, `push_commit_invalid`) is narrowed down by pushing halves of the bundle
 * until the refused row is alone, which then becomes a rejected change (rejected-changes.ts).
 */
import {
  type CommittedBundleIdentity,
  OversyncError,
  ProtocolViolationError,
  type PushConflict,
} from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import { NO_OPERATION } from "../store/runtime-state.js";
import { decodeAuthoritativeRow } from "./authoritative-rows.js";
import { type EngineContext, openStore, stopPoint, toWireInt } from "./engine-context.js";
import { resolvePushConflict } from "./push-conflict.js";
import { type Outbox, outboxBundleHash, resumeOrFreezeOutbox, returnOutboxToQueue } from "./push-freeze.js";
import { replayCommittedBundle, replayUploadedBundle } from "./push-replay.js";
import { isPermanentRefusal, oversizedRow, rejectOutboxRow } from "./rejected-changes.js";
import { fetchCommittedBundle, uploadAndCommit } from "./push-upload.js";
import type { PushOutcome } from "./results.js";
import { enterSourceRecovery, sourceRecoveryDemandOf } from "./source-recovery.js";
import { PushConflictRetryExhaustedError, rebuildRequiredError } from "./sync-errors.js";
import { wireReaction } from "./wire-reactions.js";

/**
 * The server reports one conflicting row per refused commit, and each resolution settles that row
 * (accepting the server's drops it, keeping the local one rebases it on the server's version), so a
 * bundle of n rows needs at most n retries. A push retries up to n + EXTRA_CONFLICT_RETRIES times,
 * n taken from the first frozen bundle; the extra ones absorb rows other devices change meanwhile.
 */
export const EXTRA_CONFLICT_RETRIES = 2;

/** The committed bundle of our own outbox is no longer in the server's history. */
export class CommittedReplayPrunedError extends Error {
  override readonly name = "CommittedReplayPrunedError";
}

/** Options of a push. */
export interface PushOptions {
  /** Checkpoint recovery pushes pending work while the rebuild gate is set. */
  readonly allowCheckpointRecovery?: boolean;
  /**
   * `rebuild()` pushes a prepared outbox first: when the server holds a different bundle under this
   * source's tuple, the source cannot continue, so enter source recovery instead of reporting
   * `source_sequence_mismatch`.
   */
  readonly recoverSequenceMismatch?: boolean;
}

/**
 * Pushes pending changes and maps durable-state answers (see the module comment). With
 * `allowCheckpointRecovery`, a pruned committed bundle surfaces as CommittedReplayPrunedError.
 */
export async function pushPending(ctx: EngineContext, options: PushOptions = {}): Promise<PushOutcome> {
  try {
    return await pushWithConflictRetries(ctx, options);
  } catch (error) {
    // The committed fetch's own history_pruned has become CommittedReplayPrunedError already.
    const demand = sourceRecoveryDemandOf(error, "push");
    if (demand !== undefined) return enterSourceRecovery(ctx, demand);
    if (error instanceof CommittedReplayPrunedError) {
      await setRebuildRequired(ctx);
      if (options.allowCheckpointRecovery) throw error;
      throw rebuildRequiredError();
    }
    if (error instanceof ProtocolViolationError && error.code === "source_sequence_mismatch") {
      const outbox = await openStore(ctx, "push").read((state) => state.readOutboxBundle());
      if (outbox.state === "committed_remote") {
        // The server committed a different request under our tuple: only a snapshot can reconcile.
        await setRebuildRequired(ctx);
        throw rebuildRequiredError();
      }
      // Another copy of this database (a restored backup, a cloned device) committed under our
      // tuple first. By default the error is reported and the outbox kept (push/basic-insert.json).
      if (options.recoverSequenceMismatch) {
        return enterSourceRecovery(ctx, { reason: "source_sequence_changed", replacedBySourceId: undefined });
      }
      throw new ProtocolViolationError(
        "source_sequence_mismatch",
        `${error.message}; another copy of this database (a restored backup or a copied device) pushed under this source first; call rebuild() to continue on a fresh source, the pending changes are kept`,
        { cause: error },
      );
    }
    if (error instanceof OversyncError && wireReaction(error.code, "push") === "reattach") {
      await dropStaleBinding(ctx);
      throw new OversyncClientError(
        "initialization_lease_invalid",
        `the account's initialization lease is no longer valid (${error.code}); attach(userId) again, the frozen changes are kept`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function pushWithConflictRetries(ctx: EngineContext, options: PushOptions): Promise<PushOutcome> {
  const store = openStore(ctx, "pushPending()");
  let maxConflictRetries: number | undefined;
  let conflictRetries = 0;
  // After a refusal for good: freeze only this many rows, halving until the refused row is alone.
  let freezeLimit: number | undefined;
  let rejected = false;
  let committedPart = false;
  for (;;) {
    stopPoint(ctx);
    const partial = freezeLimit !== undefined;
    const { outbox, initializationId } = await store.write(async (state) => {
      const attachment = await state.readAttachment();
      if (attachment.rebuildRequired && !options.allowCheckpointRecovery) throw rebuildRequiredError();
      return {
        outbox: await resumeOrFreezeOutbox(
          state,
          ctx.sourceId,
          attachment.pendingInitializationId,
          freezeLimit,
        ),
        initializationId: attachment.pendingInitializationId,
      };
    });
    if (outbox.rows.length === 0) return committedPart ? "committed" : "no_change";
    maxConflictRetries ??= outbox.rows.length + EXTRA_CONFLICT_RETRIES;
    ctx.progress.phase(initializationId === "" ? "pushing" : "seeding");

    let committed: CommittedBundleIdentity;
    if (outbox.bundle.state === "committed_remote") {
      committed = resumedIdentity(ctx, outbox);
    } else {
      const oversized = rejected ? undefined : oversizedRow(ctx, outbox);
      if (oversized !== undefined) {
        await rejectOutboxRow(ctx, outbox, oversized.row, oversized.refusal);
        rejected = true;
        continue;
      }
      try {
        committed = await uploadAndCommit(ctx, outbox, initializationId);
      } catch (error) {
        // One rejection per push: a second refusal for good is more likely the server's fault.
        if (isPermanentRefusal(error) && !rejected) {
          if (outbox.rows.length === 1) {
            await rejectOutboxRow(ctx, outbox, outbox.rows[0]!, error);
            rejected = true;
            freezeLimit = undefined;
          } else {
            await store.write((state) => returnOutboxToQueue(state, outbox.rows));
            freezeLimit = Math.ceil(outbox.rows.length / 2);
          }
          continue;
        }
        const conflict = structuredConflictOf(error);
        if (conflict === undefined || !(await resolvePushConflict(ctx, outbox, conflict))) throw error;
        const remaining = await store.read((state) => state.countDirtyRows());
        if (remaining === 0n) return committedPart ? "committed" : "no_change";
        if (conflictRetries >= maxConflictRetries) {
          throw new PushConflictRetryExhaustedError(conflictRetries, remaining);
        }
        conflictRetries++;
        continue;
      }
      await store.write((state) =>
        state.writeOutboxBundle({
          ...outbox.bundle,
          state: "committed_remote",
          remoteBundleHash: committed.bundle_hash,
          remoteBundleSeq: BigInt(committed.bundle_seq),
        }),
      );
    }

    let rows: Awaited<ReturnType<typeof fetchCommittedBundle>>;
    try {
      rows = await fetchCommittedBundle(ctx, committed);
    } catch (error) {
      if (error instanceof OversyncError && wireReaction(error.code, "committed_rows") === "rebuild") {
        throw new CommittedReplayPrunedError(
          `committed bundle ${committed.bundle_seq} was pruned before it was replayed locally`,
          { cause: error },
        );
      }
      throw error;
    }
    if (committed.canonical_request_hash !== outbox.bundle.canonicalRequestHash) {
      throw new ProtocolViolationError(
        "source_sequence_mismatch",
        `committed canonical_request_hash ${committed.canonical_request_hash} does not match prepared outbox hash ${outbox.bundle.canonicalRequestHash}`,
      );
    }
    if (
      outboxBundleHash(store.schema.schema, outbox.rows, BigInt(committed.bundle_seq)) ===
      committed.bundle_hash
    ) {
      await replayUploadedBundle(ctx, outbox, committed);
    } else {
      const decoded = rows.map((row) => decodeAuthoritativeRow(store.schema, row));
      await replayCommittedBundle(ctx, outbox, committed, decoded);
    }
    if (!partial) return "committed";
    // A part of a bisected bundle: push what is still queued.
    committedPart = true;
    freezeLimit = undefined;
  }
}

/** The committed bundle a `committed_remote` outbox already names. */
function resumedIdentity(ctx: EngineContext, outbox: Outbox): CommittedBundleIdentity {
  const { bundle } = outbox;
  return {
    bundle_seq: toWireInt(bundle.remoteBundleSeq, "remote_bundle_seq"),
    source_id: ctx.sourceId,
    source_bundle_id: toWireInt(bundle.sourceBundleId, "source_bundle_id"),
    row_count: outbox.rows.length,
    bundle_hash: bundle.remoteBundleHash,
    canonical_request_hash: bundle.canonicalRequestHash,
  };
}

function structuredConflictOf(error: unknown): PushConflict | undefined {
  return error instanceof OversyncError && wireReaction(error.code, "push") === "resolve_conflict"
    ? error.extras.conflict
    : undefined;
}

/** Sets the durable rebuild gate. */
export async function setRebuildRequired(ctx: EngineContext): Promise<void> {
  await openStore(ctx, "rebuild gate").write(async (state) => {
    await state.writeAttachment({ ...(await state.readAttachment()), rebuildRequired: true });
  });
}

/** After a lease failure: back to anonymous on the same source, outbox kept, attach needed again. */
async function dropStaleBinding(ctx: EngineContext): Promise<void> {
  await openStore(ctx, "lease reset").write(async (state) => {
    const attachment = await state.readAttachment();
    await state.writeAttachment({
      currentSourceId: attachment.currentSourceId,
      bindingState: "anonymous",
      attachedUserId: "",
      schemaName: "",
      lastBundleSeqSeen: 0n,
      rebuildRequired: false,
      pendingInitializationId: "",
    });
    await state.writeOperation(NO_OPERATION);
  });
  ctx.connected = false;
}
