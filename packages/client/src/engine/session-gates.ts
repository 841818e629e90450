/**
 * Preconditions checked before an operation touches the network, and the status views built from
 * durable state (pending counts, authority, source info).
 */
import { SOURCE_REPLACEMENT_REASONS } from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import type { AttachmentState, OperationState, RuntimeState } from "../store/runtime-state.js";
import { storeError } from "../store/runtime-state.js";
import { type EngineContext, openStore, toWireInt } from "./engine-context.js";
import type { PendingSyncStatus, SourceInfo, SourceRecoveryReason, SyncStatus } from "./results.js";
import { SourceRecoveryRequiredError } from "./sync-errors.js";

/** The durable binding of a connected session. */
export interface ConnectedSession {
  readonly attachment: AttachmentState;
  readonly operation: OperationState;
  readonly userId: string;
}

/**
 * Requires `attach` to have succeeded in this process for the attached user, with no remote
 * replacement pending; fails with `open_required`, `attach_required` or
 * `destructive_transition_in_progress` before any request.
 */
export async function requireConnected(ctx: EngineContext, operation: string): Promise<ConnectedSession> {
  const store = openStore(ctx, operation);
  const { attachment, operationState } = await store.read(async (state) => ({
    attachment: await state.readAttachment(),
    operationState: await state.readOperation(),
  }));
  if (operationState.kind === "remote_replace") {
    throw new OversyncClientError(
      "destructive_transition_in_progress",
      `${operation} cannot run while a remote replacement for ${operationState.targetUserId} is pending; call attach(userId) to finish it or detach() to cancel it`,
    );
  }
  if (attachment.bindingState !== "attached" || attachment.attachedUserId === "" || !ctx.connected) {
    throw new OversyncClientError(
      "attach_required",
      `${operation} needs attach(userId) to have succeeded since open(); call attach first`,
    );
  }
  // Requests carry the durable source: it is the one the outbox and the sequence belong to.
  ctx.sourceId = attachment.currentSourceId;
  return { attachment, operation: operationState, userId: attachment.attachedUserId };
}

const RECOVERY_REASONS: ReadonlySet<string> = new Set(SOURCE_REPLACEMENT_REASONS);

/** True for one of the four source-recovery reason codes. */
export function isSourceRecoveryReason(reason: string): reason is SourceRecoveryReason {
  return RECOVERY_REASONS.has(reason);
}

/** The persisted reason of a source recovery; an unknown one is damaged state, never remapped. */
export function sourceRecoveryReasonOf(operation: OperationState): SourceRecoveryReason {
  if (!isSourceRecoveryReason(operation.reason)) {
    throw storeError(
      `source recovery is pending with unknown reason ${JSON.stringify(operation.reason)} (expected one of ${SOURCE_REPLACEMENT_REASONS.join(", ")})`,
    );
  }
  return operation.reason;
}

/** Fails with `source_recovery_required` while source recovery is pending. */
export function requireNoSourceRecovery(operation: OperationState): void {
  if (operation.kind === "source_recovery") {
    throw new SourceRecoveryRequiredError(sourceRecoveryReasonOf(operation));
  }
}

/** Dirty plus outbox rows. */
export async function pendingRowCount(state: RuntimeState): Promise<bigint> {
  return (await state.countDirtyRows()) + (await state.countOutboxRows());
}

/** Pending local changes and whether they block a detach. */
export async function pendingSyncStatus(state: RuntimeState): Promise<PendingSyncStatus> {
  const count = await pendingRowCount(state);
  const rejected = await state.countRejections();
  const attachment = await state.readAttachment();
  return {
    hasPendingSyncData: count > 0n,
    pendingRowCount: Number(count),
    rejectedRowCount: Number(rejected),
    blocksDetach: attachment.bindingState === "attached" && count + rejected > 0n,
  };
}

/** The attached database's authority, pending changes and checkpoint. */
export async function syncStatus(state: RuntimeState): Promise<SyncStatus> {
  const attachment = await state.readAttachment();
  const authority =
    attachment.pendingInitializationId !== ""
      ? "pending_local_seed"
      : (await state.countLiveRowStates()) === 0n
        ? "authoritative_empty"
        : "authoritative_materialized";
  return {
    authority,
    pending: await pendingSyncStatus(state),
    lastBundleSeqSeen: toWireInt(attachment.lastBundleSeqSeen, "last_bundle_seq_seen"),
  };
}

/** The current source and recovery flags. */
export async function sourceInfo(state: RuntimeState): Promise<SourceInfo> {
  const attachment = await state.readAttachment();
  const operation = await state.readOperation();
  const recovering = operation.kind === "source_recovery";
  const info: SourceInfo = {
    currentSourceId: attachment.currentSourceId,
    rebuildRequired: attachment.rebuildRequired || recovering,
    sourceRecoveryRequired: recovering,
  };
  return recovering && isSourceRecoveryReason(operation.reason)
    ? { ...info, sourceRecoveryReason: operation.reason }
    : info;
}

/** Reads the connected session's sync status in its own transaction. */
export async function readSyncStatus(ctx: EngineContext): Promise<SyncStatus> {
  return openStore(ctx, "syncStatus()").read(syncStatus);
}
