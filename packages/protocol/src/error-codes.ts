/**
 * Every error code the server sends, with the one HTTP status it is sent with (protocol-latest §1,
 * §1.14, §5; server digest §1). The clients check code and status together, so a code is never sent
 * with another status.
 */
export const ERROR_STATUS = {
  // Any endpoint.
  invalid_request: 400,
  authentication_failed: 401,
  method_not_allowed: 405,
  // The HTTP layer: an unknown route, an oversized body, a fault on a route without a 5xx code.
  not_found: 404,
  request_too_large: 413,
  internal_error: 500,
  service_unavailable: 503,
  scope_uninitialized: 409,
  scope_initializing: 409,
  // Connect.
  connect_invalid: 400,
  connect_failed: 500,
  // Push sessions.
  push_session_invalid: 400,
  push_session_create_failed: 500,
  initialization_stale: 409,
  initialization_expired: 410,
  history_pruned: 409,
  source_sequence_out_of_order: 409,
  source_sequence_changed: 409,
  source_retired: 409,
  push_chunk_invalid: 400,
  push_session_not_found: 404,
  push_session_forbidden: 403,
  push_session_expired: 410,
  push_chunk_out_of_order: 409,
  push_chunk_failed: 500,
  push_commit_invalid: 400,
  push_conflict: 409,
  push_session_commit_failed: 500,
  push_session_delete_failed: 500,
  // Committed rows.
  committed_bundle_not_found: 404,
  committed_bundle_chunk_invalid: 400,
  committed_bundle_rows_failed: 500,
  // Pull.
  checkpoint_ahead: 409,
  pull_invalid: 400,
  pull_failed: 500,
  // Snapshot sessions.
  snapshot_build_capacity: 429,
  snapshot_session_limit_exceeded: 409,
  source_replacement_invalid: 409,
  snapshot_session_invalid: 400,
  snapshot_session_create_failed: 500,
  snapshot_chunk_too_small: 400,
  snapshot_chunk_capacity: 429,
  snapshot_chunk_invalid: 400,
  snapshot_session_not_found: 404,
  snapshot_session_forbidden: 403,
  snapshot_session_expired: 410,
  snapshot_chunk_failed: 500,
  snapshot_session_delete_failed: 500,
  // Watch.
  bundle_change_watch_forbidden: 403,
  bundle_change_watch_disabled: 503,
  bundle_change_watch_failed: 500,
  // This server's own: the user already holds the most watch streams one server process serves per
  // user (BundleChangeWatchOptions.maxStreamsPerUser). Sent with Retry-After; clients that do not
  // know the code treat it as any failed watch setup and reconnect later.
  bundle_change_watch_limit_exceeded: 429,
  // Health, status and the test helpers.
  health_failed: 500,
  status_failed: 500,
  user_state_not_found: 404,
  retention_floor_update_failed: 500,
} as const;

/** A wire error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** All wire error codes. */
export const ERROR_CODES: readonly ErrorCode[] = Object.keys(ERROR_STATUS) as ErrorCode[];

/** True when `code` is one of our wire error codes. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** The snapshot capacity codes: 429 with a Retry-After header the clients wait for before retrying. */
export const SNAPSHOT_CAPACITY_ERROR_CODES = ["snapshot_build_capacity", "snapshot_chunk_capacity"] as const;

/** A snapshot capacity code. */
export type SnapshotCapacityCode = (typeof SNAPSHOT_CAPACITY_ERROR_CODES)[number];

/** Which quantity a `snapshot_session_limit_exceeded` error reports. */
export const SNAPSHOT_LIMIT_DIMENSIONS = ["row_count", "byte_count", "row_byte_count"] as const;

/** A `snapshot_session_limit_exceeded` dimension. */
export type SnapshotLimitDimension = (typeof SNAPSHOT_LIMIT_DIMENSIONS)[number];
