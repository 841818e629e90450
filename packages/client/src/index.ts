/**
 * `@oversync/client`: what an app needs to sync a local SQLite database. The drivers are entry
 * points of their own (`@oversync/client/better-sqlite3`, `@oversync/client/node-sqlite`,
 * `@oversync/client/sqlite-wasm`), so this one loads no native code and no Node built-in. The
 * store, transport and engine modules are internal; packages/client/api/index.api.md lists this
 * surface with its signatures.
 */
export { type AutomaticSyncOptions, SyncClient, type SyncClientOptions, createSyncClient } from "./client.js";
export type { SyncConfig, SyncTableConfig } from "./config/sync-config.js";

// What the client's calls answer.
export type {
  AttachOutcome,
  AttachResult,
  AuthorityStatus,
  DetachOutcome,
  DetachResult,
  PendingSyncStatus,
  PushOutcome,
  PushReport,
  RemoteSyncOutcome,
  RemoteSyncReport,
  RestoreSummary,
  SourceInfo,
  SourceRecoveryReason,
  SyncReport,
  SyncStatus,
  SyncThenDetachResult,
} from "./engine/results.js";

// Conflict resolution.
export {
  type ConflictContext,
  type ConflictResolution,
  type ConflictResolver,
  clientWins,
  mergeRows,
  serverWins,
} from "./engine/conflict-resolvers.js";
export type {
  ConflictListener,
  ConflictOutcome,
  ResolvedConflict,
  WireRowValues,
} from "./engine/conflict-events.js";
export type { KeyValue, RowValues } from "./store/payload-codec.js";
export type { RowOp, WireKey } from "@oversync/protocol";

// Listeners and tuning.
export type { AutomaticDownloadOptions } from "./engine/automatic-downloads.js";
export type { AutomaticUploadOptions } from "./engine/automatic-uploads.js";
export type {
  ProgressCount,
  ProgressListener,
  SyncOperationName,
  SyncPhase,
  SyncProgress,
} from "./engine/progress.js";
export type {
  AutomaticSyncState,
  ConnectionState,
  SyncClientStatus,
  SyncErrorInfo,
  SyncErrorListener,
  SyncFailureSource,
  SyncStatusListener,
} from "./engine/sync-status.js";
export type { QueryListener, WatchQueryOptions } from "./engine/live-query.js";
export type { ChangeRejectedListener, RejectedChange } from "./engine/rejected-changes.js";
export type { TableChangeOrigin, TablesChanged, TablesChangedListener } from "./engine/table-changes.js";
export {
  type BackoffPolicy,
  DEFAULT_TRANSPORT_BODY_LIMITS,
  DEFAULT_TRANSPORT_TIMEOUTS,
  type RetryClock,
  TRANSIENT_RETRY_POLICY,
  type TransportBodyLimits,
  type TransportTimeouts,
} from "./transport/index.js";

// The driver seam: app queries run through it, and a new SQLite binding implements it.
export type {
  RunResult,
  SqlFunction,
  SqliteDriver,
  SqliteExecutor,
  SqliteRow,
  SqliteValue,
  TransactionBehavior,
} from "./drivers/sqlite-driver.js";
export { type SqliteConnection, createSerialDriver } from "./drivers/serial-driver.js";

// The error family: everything a call throws is a SyncClientError (isSyncClientError).
export {
  type ClientErrorCode,
  OversyncClientError,
  type SyncClientError,
  type SyncClientErrorCode,
  isClientError,
  isSyncClientError,
} from "./errors.js";
export { SqliteError, isInvalidKeyError, isTransitionPendingError } from "./drivers/sqlite-error.js";
export {
  CheckpointRecoveryBlockedError,
  type CheckpointRecoveryBlockedReason,
  InvalidConflictResolutionError,
  PendingPushReplayError,
  PushConflictRetryExhaustedError,
  SourceRecoveryRequiredError,
  SourceReplacementDivergedError,
  TableContractMismatchError,
  type TableKeyMismatch,
} from "./engine/sync-errors.js";
export type { OutboxState } from "./store/runtime-state.js";
export {
  type RetryExhaustedCode,
  RetryExhaustedError,
  SnapshotCapacityError,
  TransportError,
  type TransportErrorCode,
} from "./transport/index.js";
// The server's answers: the wire classes and codes, shared with @oversync/protocol.
export {
  type ErrorBody,
  type ErrorCode,
  HttpStatusError,
  OversyncError,
  type OversyncErrorExtras,
  type ProtocolViolationCode,
  ProtocolViolationError,
  type SnapshotCapacityCode,
} from "@oversync/protocol";
