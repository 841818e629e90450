/**
 * Protocol constants and the capabilities contract (protocol-latest §0, §4): version, source header,
 * feature flags, bundle limits with their defaults, and the limit checks clients run.
 */
import { ProtocolViolationError } from "./protocol-violation.js";

/** The only protocol version the clients accept. */
export const PROTOCOL_VERSION = "v1";

/** The request header carrying the client's source identity. */
export const SOURCE_ID_HEADER = "Oversync-Source-ID";

/** The canonical JSON / value-encoding contract the outbox is frozen under. */
export const CANONICAL_JSON_CONTRACT = "jcs_uniform_numeric_strings_v1";

/** A valid source id: one or more characters in 0x21–0x7E (not necessarily a UUID). */
export const SOURCE_ID_PATTERN = /^[\x21-\x7e]+$/;

/** True for a valid source id (SOURCE_ID_PATTERN). */
export function isValidSourceId(value: unknown): value is string {
  return typeof value === "string" && SOURCE_ID_PATTERN.test(value);
}

/** The 20 feature flags the server advertises (June's set). */
export const FEATURE_NAMES = [
  "bundle_pull",
  "push_session_chunking",
  "committed_bundle_row_fetch",
  "snapshot_chunking",
  "status_endpoint",
  "graceful_shutdown",
  "capabilities_endpoint",
  "history_pruned_errors",
  "bundle_push",
  "structured_sync_keys",
  "registered_write_rejection_enforced",
  "accepted_push_replay_visibility",
  "committed_bundle_visibility",
  "retained_floor_visibility",
  "retained_window_visibility",
  "history_pruned_visibility",
  "connect_lifecycle",
  "scope_initialization_leases",
  "server_checkpoint_tracking",
  "bundle_change_watch",
] as const;

/** A feature flag name. */
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** The `features` object: every flag true except `server_checkpoint_tracking`; watch as configured. */
export function serverFeatures(options: { bundleChangeWatch: boolean }): Record<FeatureName, boolean> {
  const features = Object.fromEntries(FEATURE_NAMES.map((name) => [name, true])) as Record<
    FeatureName,
    boolean
  >;
  features.server_checkpoint_tracking = false;
  features.bundle_change_watch = options.bundleChangeWatch;
  return features;
}

/** Limits both clients require, each > 0 (§4 "Required limits"). */
export const REQUIRED_LIMIT_NAMES = [
  "default_rows_per_snapshot_chunk",
  "max_rows_per_snapshot_chunk",
  "default_bytes_per_snapshot_chunk",
  "max_bytes_per_snapshot_chunk",
  "max_bytes_per_snapshot_row",
  "max_concurrent_snapshot_builds",
  "max_concurrent_snapshot_chunk_requests",
] as const;

/** Limits clients read as 0 when absent and do not enforce (§4 "Optional limits"). */
export const OPTIONAL_LIMIT_NAMES = [
  "max_rows_per_bundle",
  "max_bytes_per_bundle",
  "max_bundles_per_pull",
  "default_rows_per_push_chunk",
  "max_rows_per_push_chunk",
  "push_session_ttl_seconds",
  "default_rows_per_committed_bundle_chunk",
  "max_rows_per_committed_bundle_chunk",
  "snapshot_session_ttl_seconds",
  "max_rows_per_snapshot_session",
  "max_bytes_per_snapshot_session",
  "snapshot_materialization_batch_rows",
  "snapshot_materialization_batch_bytes",
  "initialization_lease_ttl_seconds",
] as const;

/** A required limit name. */
export type RequiredLimitName = (typeof REQUIRED_LIMIT_NAMES)[number];
/** An optional limit name. */
export type OptionalLimitName = (typeof OPTIONAL_LIMIT_NAMES)[number];
/** Any `bundle_limits` member name. */
export type LimitName = RequiredLimitName | OptionalLimitName;

/**
 * Limits KMP decodes as 64-bit Long; every other limit (and `schema_version`) is a 32-bit Int there,
 * so it must stay ≤ 2147483647.
 */
export const INT64_LIMIT_NAMES: ReadonlySet<LimitName> = new Set<LimitName>([
  "max_rows_per_snapshot_session",
  "max_bytes_per_snapshot_session",
  "default_bytes_per_snapshot_chunk",
  "max_bytes_per_snapshot_chunk",
  "max_bytes_per_snapshot_row",
  "snapshot_materialization_batch_bytes",
]);

/** Largest value of a limit KMP decodes as a 32-bit Int. */
export const INT32_MAX = 2147483647;

/** The `bundle_limits` object: required members always, optional ones when non-zero. */
export type BundleLimits = Record<RequiredLimitName, number> & Partial<Record<OptionalLimitName, number>>;

/**
 * Our default limits: the required ones as the fixtures show them, the optional ones as June sends
 * them. Zero-valued optional limits (unlimited bundle and snapshot-session sizes) are omitted.
 */
export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = {
  default_rows_per_snapshot_chunk: 1000,
  max_rows_per_snapshot_chunk: 4000,
  default_bytes_per_snapshot_chunk: 4194304,
  max_bytes_per_snapshot_chunk: 16777216,
  max_bytes_per_snapshot_row: 4194304,
  max_concurrent_snapshot_builds: 2,
  max_concurrent_snapshot_chunk_requests: 8,
  max_bundles_per_pull: 5000,
  default_rows_per_push_chunk: 1000,
  max_rows_per_push_chunk: 5000,
  push_session_ttl_seconds: 900,
  default_rows_per_committed_bundle_chunk: 1000,
  max_rows_per_committed_bundle_chunk: 5000,
  snapshot_session_ttl_seconds: 900,
  snapshot_materialization_batch_rows: 1000,
  snapshot_materialization_batch_bytes: 4194304,
  initialization_lease_ttl_seconds: 900,
};

/** The clients' own snapshot budgets, the values both KMP and Dart default to. */
export const CLIENT_SNAPSHOT_DEFAULTS = {
  /** Rows asked per snapshot chunk before min() with the server maximum. */
  chunkRows: 1000,
  /** Bytes asked per snapshot chunk before min() with the server maximum (4 MiB). */
  chunkBytes: 4194304,
  /** Bytes applied per local batch (4 MiB). */
  applyBatchBytes: 4194304,
} as const;

/** The chunk request sizes a client settles on after checking the server's limits. */
export interface SnapshotNegotiation {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxRowBytes: number;
}

/**
 * The client-side limit checks (§4): required limits positive, default ≤ max for rows and bytes,
 * row max ≤ chunk max, and the client's chunk and apply budgets large enough for the biggest row.
 * Throws ProtocolViolationError("invalid_capabilities") naming the broken rule.
 */
export function negotiateSnapshotLimits(
  limits: Readonly<Record<RequiredLimitName, number>>,
  client: { chunkRows: number; chunkBytes: number; applyBatchBytes: number } = CLIENT_SNAPSHOT_DEFAULTS,
): SnapshotNegotiation {
  const fail = (message: string) => {
    throw new ProtocolViolationError("invalid_capabilities", message);
  };
  for (const name of REQUIRED_LIMIT_NAMES) {
    if (!(limits[name] > 0)) fail(`capabilities bundle_limits.${name} ${limits[name]} must be positive`);
  }
  if (limits.default_rows_per_snapshot_chunk > limits.max_rows_per_snapshot_chunk) {
    fail("capabilities default_rows_per_snapshot_chunk exceeds max_rows_per_snapshot_chunk");
  }
  if (limits.default_bytes_per_snapshot_chunk > limits.max_bytes_per_snapshot_chunk) {
    fail("capabilities default_bytes_per_snapshot_chunk exceeds max_bytes_per_snapshot_chunk");
  }
  if (limits.max_bytes_per_snapshot_row > limits.max_bytes_per_snapshot_chunk) {
    fail("capabilities max_bytes_per_snapshot_row exceeds max_bytes_per_snapshot_chunk");
  }
  const maxBytes = Math.min(client.chunkBytes, limits.max_bytes_per_snapshot_chunk);
  if (maxBytes < limits.max_bytes_per_snapshot_row) {
    fail(
      `snapshot chunk byte budget ${maxBytes} is below server max_bytes_per_snapshot_row ${limits.max_bytes_per_snapshot_row}; raise the client chunk byte budget`,
    );
  }
  if (client.applyBatchBytes < limits.max_bytes_per_snapshot_row) {
    fail(
      `snapshot apply batch budget ${client.applyBatchBytes} is below server max_bytes_per_snapshot_row ${limits.max_bytes_per_snapshot_row}; raise the client apply batch budget`,
    );
  }
  return {
    maxRows: Math.min(client.chunkRows, limits.max_rows_per_snapshot_chunk),
    maxBytes,
    maxRowBytes: limits.max_bytes_per_snapshot_row,
  };
}
