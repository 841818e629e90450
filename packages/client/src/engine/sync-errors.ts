/**
 * The engine's typed failures that carry details beyond a code and a message. Every one is an
 * `OversyncClientError` with one code of its own, so `switch (error.code)` over the client's error
 * family (`SyncClientError`, ../errors.ts) narrows to the subclass and the fields a caller needs to
 * act (a recovery reason, counts, the conflict that was misresolved).
 */
import type { SourceRecoveryReason } from "./results.js";
import { OversyncClientError } from "../errors.js";
import type { OutboxState } from "../store/runtime-state.js";
import type { ConflictContext, ConflictResolution } from "./conflict-resolvers.js";

/** The server refused this source's bundle stream; `rebuild()` continues on a new source. */
export class SourceRecoveryRequiredError extends OversyncClientError<"source_recovery_required"> {
  override readonly name = "SourceRecoveryRequiredError";

  constructor(
    /** The server's reason, persisted until the recovery rebuild finishes. */
    readonly reason: SourceRecoveryReason,
  ) {
    super(
      "source_recovery_required",
      `the server refused this source (${reason}); local writes to synced tables are blocked until rebuild() moves the pending changes to a new source`,
    );
  }
}

/** The server names a replacement source other than the one already reserved locally. */
export class SourceReplacementDivergedError extends OversyncClientError<"source_replacement_diverged"> {
  override readonly name = "SourceReplacementDivergedError";

  constructor(
    readonly localReplacementSourceId: string,
    readonly remoteReplacementSourceId: string,
  ) {
    super(
      "source_replacement_diverged",
      `the server retired this source in favour of ${remoteReplacementSourceId}, but ${localReplacementSourceId} is already reserved locally; nothing was changed, contact support with both ids`,
    );
  }
}

/** Why checkpoint recovery could not start. */
export type CheckpointRecoveryBlockedReason = "push_failed";

/** Checkpoint recovery needs local work pushed first and that did not succeed; nothing was lost. */
export class CheckpointRecoveryBlockedError extends OversyncClientError<"checkpoint_recovery_blocked"> {
  override readonly name = "CheckpointRecoveryBlockedError";

  constructor(
    readonly reason: CheckpointRecoveryBlockedReason,
    readonly dirtyRowCount: bigint,
    readonly outboxRowCount: bigint,
    /** The frozen outbox's state when recovery stopped. */
    readonly replayState: OutboxState,
    options?: { cause?: unknown },
  ) {
    super(
      "checkpoint_recovery_blocked",
      `checkpoint recovery is blocked (${reason}): ${dirtyRowCount} dirty and ${outboxRowCount} outbox rows must reach the server before the snapshot rebuild; they are kept, retry sync() once the cause is fixed`,
      options,
    );
  }
}

/** Conflicts kept coming back after the automatic retries; the intent stays in dirty rows. */
export class PushConflictRetryExhaustedError extends OversyncClientError<"push_conflict_retry_exhausted"> {
  override readonly name = "PushConflictRetryExhaustedError";

  constructor(
    readonly retryCount: number,
    readonly remainingDirtyRowCount: bigint,
  ) {
    super(
      "push_conflict_retry_exhausted",
      `push conflicts persisted after ${retryCount} automatic retries; ${remainingDirtyRowCount} changes stay queued for the next pushPending()`,
    );
  }
}

/** The resolver's answer does not fit the conflict; the whole rejected bundle went back to dirty rows. */
export class InvalidConflictResolutionError extends OversyncClientError<"invalid_conflict_resolution"> {
  override readonly name = "InvalidConflictResolutionError";

  constructor(
    readonly conflict: ConflictContext,
    readonly resolution: ConflictResolution | undefined,
    reason: string,
  ) {
    super(
      "invalid_conflict_resolution",
      `${reason}; the rejected changes are queued again, fix the conflict resolver and push again`,
    );
  }
}

/** A frozen push bundle must reach the server before this operation. */
export class PendingPushReplayError extends OversyncClientError<"pending_push_replay"> {
  override readonly name = "PendingPushReplayError";

  constructor(
    operation: string,
    readonly outboxRowCount: bigint,
  ) {
    super(
      "pending_push_replay",
      `${operation} cannot run while ${outboxRowCount} frozen outbox rows await upload; run pushPending() or sync() first`,
    );
  }
}

/** A table whose sync key differs between client and server (a field of TableContractMismatchError). */
export interface TableKeyMismatch {
  readonly table: string;
  readonly clientSyncKeyColumns: readonly string[];
  readonly serverSyncKeyColumns: readonly string[];
}

/** The server's registered tables differ from the configured ones. */
export class TableContractMismatchError extends OversyncClientError<"table_contract_mismatch"> {
  override readonly name = "TableContractMismatchError";

  constructor(
    message: string,
    readonly serverOnlyTables: readonly string[] = [],
    readonly clientOnlyTables: readonly string[] = [],
    readonly syncKeyMismatches: readonly TableKeyMismatch[] = [],
  ) {
    super("table_contract_mismatch", message);
  }
}

/** The durable rebuild gate is set; `rebuild()`, `pullToStable()` or `sync()` clears it. */
export function rebuildRequiredError(): OversyncClientError {
  return new OversyncClientError(
    "rebuild_required",
    "the local checkpoint must be rebuilt from a server snapshot before ordinary sync; run pullToStable(), sync() or rebuild()",
  );
}
