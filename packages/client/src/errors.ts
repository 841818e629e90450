/**
 * The client's error family. Everything a client call throws is a `SyncClientError`: a local
 * failure (`OversyncClientError` and its subclasses, `SqliteError` among them), a failed exchange
 * (`TransportError`, `RetryExhaustedError`) or the server's answer (`OversyncError`,
 * `SnapshotCapacityError`, `HttpStatusError`, `ProtocolViolationError`). Every member has a stable
 * `code` and no code belongs to two members, so `switch (error.code)` narrows to the member. The
 * wire classes stay those of `@oversync/protocol`, shared with the server, so the family is a union
 * with one guard rather than one base class (engine README, "Errors").
 */
import {
  HttpStatusError,
  OversyncError,
  ProtocolViolationError,
  type ErrorCode,
  type SnapshotCapacityCode,
} from "@oversync/protocol";
import type { SqliteError } from "./drivers/sqlite-error.js";
import type {
  CheckpointRecoveryBlockedError,
  InvalidConflictResolutionError,
  PendingPushReplayError,
  PushConflictRetryExhaustedError,
  SourceRecoveryRequiredError,
  SourceReplacementDivergedError,
  TableContractMismatchError,
} from "./engine/sync-errors.js";
import {
  RetryExhaustedError,
  type SnapshotCapacityError,
  TransportError,
} from "./transport/transport-errors.js";

/** Stable machine codes of local client failures; switch on these, not on messages. */
export type ClientErrorCode =
  /** The sync configuration does not fit the local schema; the message says what to change. */
  | "config_invalid"
  /** SQLite rejected a statement; see `SqliteError` for the SQLite result code. */
  | "sqlite_error"
  /** A value given to the driver is not one SQLite can store exactly (see `SqliteValue`). */
  | "sql_param_invalid"
  /**
   * An INTEGER read as a JS number (`integers: "number"` of @oversync/kysely) lies beyond
   * ±(2^53−1), so a number cannot hold it exactly; read it as bigint (`integers: "bigint"`).
   */
  | "integer_out_of_range"
  /** The driver was used after `close()`, or a transaction handle after its unit of work ended. */
  | "driver_closed"
  /** The SQLite binding is not available in this runtime (e.g. `node:sqlite` before Node 22.5). */
  | "driver_unavailable"
  /** The durable `_sync_*` state breaks an invariant (missing singleton row, bad value). */
  | "store_invalid"
  /** A row payload or key does not match its table (unknown/missing column, bad value). */
  | "payload_invalid"
  /** An argument of a public call is unusable (a blank user id, a limit below 1); fix the call. */
  | "invalid_argument"
  /** The client was closed (or sync uninstalled); create a new client. */
  | "client_closed"
  /**
   * Another open client in this process already owns the database, or (sqlite-wasm) another tab or
   * worker has the database's OPFS pool open; close it there first.
   */
  | "database_already_owned"
  /** Another public operation of this client is running; retry once it has finished. */
  | "sync_operation_in_progress"
  /**
   * (@oversync/client/tabs) The tab that owned the database went away while it ran this write or
   * sync call, so whether it took effect is unknown; read the rows (or `pendingSyncStatus()`) to
   * check, and retry it if it is missing. Another tab owns the database by the time this is thrown.
   */
  | "owner_tab_lost"
  /** `open()` has not completed on this client; call it first. */
  | "open_required"
  /** The operation needs `attach(userId)` in this process; call it first. */
  | "attach_required"
  /** A durable remote replacement is pending; finish it with `attach` or cancel it with `detach`. */
  | "destructive_transition_in_progress"
  /** The server does not advertise `connect_lifecycle`; point the client at a newer server. */
  | "attach_lifecycle_unsupported"
  /** The database is attached to another user; `detach()` first. */
  | "attach_binding_conflict"
  /** A pending remote replacement belongs to another user; `detach()` to cancel it. */
  | "attach_local_state_conflict"
  /** The server's registered tables differ from the configured ones; align client and server. */
  | "table_contract_mismatch"
  /** A frozen push bundle must be uploaded first; run `pushPending()` (or `sync()`). */
  | "pending_push_replay"
  /** The local checkpoint can no longer be trusted; run `rebuild()`, `pullToStable()` or `sync()`. */
  | "rebuild_required"
  /** The server refused this source's stream; run `rebuild()` to continue on a new source. */
  | "source_recovery_required"
  /** The server named a replacement source other than the one reserved locally; needs support. */
  | "source_replacement_diverged"
  /**
   * The server refused the source replacement of a recovery rebuild (its `source_replacement_invalid`,
   * the cause); the reserved replacement is kept, contact support.
   */
  | "source_replacement_refused"
  /** Checkpoint recovery cannot start while local work is pending; see `reason` on the error. */
  | "checkpoint_recovery_blocked"
  /** Push conflicts kept coming back after the automatic retries; the changes stay queued. */
  | "push_conflict_retry_exhausted"
  /** The conflict resolver returned a resolution that does not fit the conflict; changes stay queued. */
  | "invalid_conflict_resolution"
  /** The scope-initialization lease expired or was replaced; `attach(userId)` again. */
  | "initialization_lease_invalid";

/**
 * A local client failure with a stable `code` and a message that says what to do. A subclass fixes
 * `C` to its one code, so the family's code switch narrows to the subclass and its fields.
 */
export class OversyncClientError<C extends ClientErrorCode = ClientErrorCode> extends Error {
  override readonly name: string = "OversyncClientError";
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True when `error` is an OversyncClientError with `code`. */
export function isClientError(error: unknown, code?: ClientErrorCode): error is OversyncClientError {
  return error instanceof OversyncClientError && (code === undefined || error.code === code);
}

/** The local failures with a class of their own, for the fields a caller acts on. */
type DetailedClientError =
  | SqliteError
  | SourceRecoveryRequiredError
  | SourceReplacementDivergedError
  | CheckpointRecoveryBlockedError
  | PushConflictRetryExhaustedError
  | InvalidConflictResolutionError
  | PendingPushReplayError
  | TableContractMismatchError;

/** The codes a plain OversyncClientError carries (the others each have their subclass). */
type PlainClientErrorCode = Exclude<ClientErrorCode, DetailedClientError["code"]>;

/** The server's answer with a wire code; the two capacity codes come as SnapshotCapacityError. */
type ServerError = OversyncError & { readonly code: Exclude<ErrorCode, SnapshotCapacityCode> };

/**
 * Every error a client call can throw, each with a stable `code`. Branch with
 * `switch (error.code)`: each case narrows to one member (`error.reason` of
 * `source_recovery_required`, `error.status` of a server code, …) and a `never` default keeps the
 * switch exhaustive. Errors thrown by the app's own callbacks (token provider, resolver, listeners)
 * and the app's abort reasons pass through unchanged and are not members.
 */
export type SyncClientError =
  | OversyncClientError<PlainClientErrorCode>
  | DetailedClientError
  | TransportError
  | RetryExhaustedError
  | ServerError
  | SnapshotCapacityError
  | HttpStatusError
  | ProtocolViolationError;

/** Every code of the family: the local, transport and retry codes, the wire codes, "http_status". */
export type SyncClientErrorCode = SyncClientError["code"];

/** True when `error` belongs to the client's error family (see SyncClientError). */
export function isSyncClientError(error: unknown): error is SyncClientError {
  return (
    error instanceof OversyncClientError ||
    error instanceof TransportError ||
    error instanceof RetryExhaustedError ||
    error instanceof OversyncError ||
    error instanceof HttpStatusError ||
    error instanceof ProtocolViolationError
  );
}
