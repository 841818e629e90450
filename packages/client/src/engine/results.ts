/**
 * What the public operations return: plain JSON (`JSON.stringify` works on every report). Counts
 * and sequence numbers are numbers, exactly: local row counts stay far below 2^53, and sequence
 * numbers are checked against the wire's bound (2^53 − 1) when they are read.
 */
import type { SOURCE_REPLACEMENT_REASONS } from "@oversync/protocol";
import type { ResolvedConflict } from "./conflict-events.js";

/** Why the server refused a source's stream (the four source-recovery codes). */
export type SourceRecoveryReason = (typeof SOURCE_REPLACEMENT_REASONS)[number];

/** Local changes not yet on the server. */
export interface PendingSyncStatus {
  readonly hasPendingSyncData: boolean;
  /** Dirty rows plus frozen outbox rows. */
  readonly pendingRowCount: number;
  /** Changes the server refused for good, waiting for the app (`SyncClient.rejectedChanges()`). */
  readonly rejectedRowCount: number;
  /** True while attached with pending or rejected rows: `detach()` would be blocked. */
  readonly blocksDetach: boolean;
}

/** Whose data the attached database holds. */
export type AuthorityStatus = "pending_local_seed" | "authoritative_empty" | "authoritative_materialized";

/** The attached database's sync position. */
export interface SyncStatus {
  readonly authority: AuthorityStatus;
  readonly pending: PendingSyncStatus;
  readonly lastBundleSeqSeen: number;
}

/** The snapshot a restore applied. */
export interface RestoreSummary {
  readonly bundleSeq: number;
  readonly rowCount: number;
}

/** How an attach connected. */
export type AttachOutcome =
  | "resumed_attached_state"
  | "used_remote_state"
  | "seeded_from_local"
  | "started_empty";

/** The result of `attach(userId)`. */
export type AttachResult =
  | {
      readonly status: "connected";
      readonly outcome: AttachOutcome;
      readonly syncStatus: SyncStatus;
      /** Set when the remote state was restored from a snapshot. */
      readonly restore?: RestoreSummary;
    }
  | {
      /** Another device is initializing the account; call `attach` again after the delay. */
      readonly status: "retry_later";
      readonly retryAfterSeconds: number;
    };

/** What a detach did. */
export type DetachOutcome = "detached" | "blocked_unsynced_data";

/** The result of `detach()`. */
export interface DetachResult {
  readonly outcome: DetachOutcome;
  /** Pending and rejected rows that blocked the detach (0 when detached). */
  readonly pendingRowCount: number;
}

/** What a push did. */
export type PushOutcome = "no_change" | "committed";

/** The result of `pushPending()`. */
export interface PushReport {
  readonly outcome: PushOutcome;
  readonly syncStatus: SyncStatus;
  /** The push conflicts the resolver settled, oldest first (see `SyncClient.onConflict`). */
  readonly conflicts: readonly ResolvedConflict[];
}

/** What a download did. */
export type RemoteSyncOutcome = "already_at_target" | "applied_incremental" | "applied_snapshot";

/** The result of `pullToStable()` and `rebuild()`. */
export interface RemoteSyncReport {
  readonly outcome: RemoteSyncOutcome;
  readonly syncStatus: SyncStatus;
  readonly restore?: RestoreSummary;
}

/** The result of `sync()`: a push followed by a download. */
export interface SyncReport {
  readonly pushOutcome: PushOutcome;
  readonly remoteOutcome: RemoteSyncOutcome;
  readonly syncStatus: SyncStatus;
  readonly restore?: RestoreSummary;
  /** The push conflicts the resolver settled, oldest first (see `SyncClient.onConflict`). */
  readonly conflicts: readonly ResolvedConflict[];
}

/** The result of `syncThenDetach()`. */
export interface SyncThenDetachResult {
  readonly lastSync: SyncReport;
  readonly detach: DetachOutcome;
  readonly syncRounds: number;
  readonly remainingPendingRowCount: number;
  /** True when the database ended detached. */
  readonly isSuccess: boolean;
}

/** The runtime's source identity (for diagnostics). */
export interface SourceInfo {
  readonly currentSourceId: string;
  /** True while a rebuild is needed before ordinary sync (also during source recovery). */
  readonly rebuildRequired: boolean;
  readonly sourceRecoveryRequired: boolean;
  /** Set during source recovery when the persisted reason is one of the four known codes. */
  readonly sourceRecoveryReason?: SourceRecoveryReason;
}
