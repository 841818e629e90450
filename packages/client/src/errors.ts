/**
 * Local client errors: failures that happen on the device (configuration, SQLite, local state), as
 * opposed to the wire errors of `@oversync/protocol` (`OversyncError`), which carry an HTTP status.
 */

/** Stable machine codes of local client failures; switch on these, not on messages. */
export type ClientErrorCode =
  /** The sync configuration does not fit the local schema; the message says what to change. */
  | "config_invalid"
  /** SQLite rejected a statement; see `SqliteError` for the SQLite result code. */
  | "sqlite_error"
  /** A value given to the driver is not one SQLite can store exactly (see `SqliteValue`). */
  | "sql_param_invalid"
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
  /** Another open client in this process already owns the database; close it first. */
  | "database_already_owned"
  /** Another public operation of this client is running; retry once it has finished. */
  | "sync_operation_in_progress"
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
  /** The server refused the source replacement of a recovery rebuild. */
  | "source_replacement_invalid"
  /** Checkpoint recovery cannot start while local work is pending; see `reason` on the error. */
  | "checkpoint_recovery_blocked"
  /** Push conflicts kept coming back after the automatic retries; the changes stay queued. */
  | "push_conflict_retry_exhausted"
  /** The conflict resolver returned a resolution that does not fit the conflict; changes stay queued. */
  | "invalid_conflict_resolution"
  /** The scope-initialization lease expired or was replaced; `attach(userId)` again. */
  | "initialization_lease_invalid";

/** A local client failure with a stable `code` and a message that says what to do. */
export class OversyncClientError extends Error {
  override readonly name: string = "OversyncClientError";
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True when `error` is an OversyncClientError with `code`. */
export function isClientError(error: unknown, code?: ClientErrorCode): error is OversyncClientError {
  return error instanceof OversyncClientError && (code === undefined || error.code === code);
}
