/**
 * What a host passes to createSyncService, the limits resolved from it, and the error for options
 * it cannot run with.
 */
import {
  type BundleLimits,
  DEFAULT_BUNDLE_LIMITS,
  INT32_MAX,
  INT64_LIMIT_NAMES,
  type LimitName,
  OPTIONAL_LIMIT_NAMES,
  REQUIRED_LIMIT_NAMES,
  negotiateSnapshotLimits,
} from "@oversync/protocol";
import type { SqlPool } from "../db/sql-pool.js";
import type { RetentionOptions } from "../history/retention.js";
import type { TableRegistration } from "../schema/schema-validation.js";
import type { SnapshotSessionOptions } from "../snapshot/snapshot-sessions.js";
import type { SyncLogger } from "../telemetry/sync-logger.js";
import type { TelemetryRecorder } from "../telemetry/telemetry-recorder.js";
import type { BundleChangeWatchOptions } from "../watch/bundle-watch.js";

/** createSyncService was given options it cannot run with. */
export class ServiceConfigError extends Error {
  override readonly name = "ServiceConfigError";
  readonly code = "invalid_service_options";
}

/** Options of createSyncService. */
export interface SyncServiceOptions {
  /** A pg Pool, or anything with the same `query` and `connect()` (see db/sql-pool.ts). */
  readonly pool: SqlPool;
  /**
   * Runs the runtime's statements as named (prepared) statements, parsed and planned once per
   * connection (default true). It needs clients that take node-postgres' `query({ name, text,
   * values })`, as pg.Pool's do: turn it off for a pool whose clients do not, or behind PgBouncer's
   * transaction pooling before 1.21 (later versions need `max_prepared_statements` above 0).
   */
  readonly preparedStatements?: boolean;
  /** Reported by capabilities and status. */
  readonly appName: string;
  /** The tables to sync; bootstrap validates them and refuses anything outside the envelope. */
  readonly registeredTables: readonly TableRegistration[];
  /** Advertised as capabilities `schema_version`. */
  readonly maxSupportedSchemaVersion: number;
  /**
   * Overrides of the advertised and enforced limits, by their wire names. `max_bytes_per_snapshot_row`
   * also bounds every row a push or server-originated write commits (snapshot-row-size.ts).
   */
  readonly limits?: Partial<BundleLimits>;
  /** Most rows a pull page carries before it stops at a bundle boundary (at least one bundle is always sent). */
  readonly pullPageRowBudget?: number;
  /**
   * Faults turned into 5xx answers, a lost database, and (when it takes `info`) each committed
   * bundle. Defaults to warnings and errors on the console.
   */
  readonly logger?: SyncLogger;
  /**
   * Where commits, conflicts, history_pruned answers, watch streams, snapshot sessions and capacity
   * waits, pool waits and the retained-floor counters are recorded, and commits traced (pass the
   * handler the same recorder). Records nothing when absent.
   */
  readonly telemetry?: TelemetryRecorder;
  /** Enables `GET /sync/watch` (and the NOTIFY every committed bundle sends); disabled when absent. */
  readonly watch?: BundleChangeWatchOptions;
  /** Snapshot session settings beyond the advertised limits (snapshot-sessions.ts). */
  readonly snapshots?: SnapshotSessionOptions;
  /**
   * Per-scope history retention, applied as each bundle commits (retention.ts). Absent, every bundle
   * is kept: pruning makes clients behind the floor rebuild from a snapshot, a trade-off the host
   * must choose.
   */
  readonly retention?: RetentionOptions;
}

/** Limits the runtime enforces itself, so they must be set (> 0) even though they are optional on the wire. */
const ENFORCED_LIMITS = [
  "max_bundles_per_pull",
  "max_rows_per_push_chunk",
  "push_session_ttl_seconds",
  "default_rows_per_committed_bundle_chunk",
  "max_rows_per_committed_bundle_chunk",
  "initialization_lease_ttl_seconds",
  "snapshot_session_ttl_seconds",
] as const satisfies readonly LimitName[];

/** The limits with every enforced one present. */
export type ResolvedLimits = BundleLimits & Record<(typeof ENFORCED_LIMITS)[number], number>;

/** Rows per pull page when the host sets no budget. */
export const DEFAULT_PULL_PAGE_ROW_BUDGET = 10_000;

/** Pull pages hold this many bundles unless the client asks for fewer. */
export const DEFAULT_BUNDLES_PER_PULL = 1000;

/**
 * Merges the host's limits over the defaults and checks them: integers within the width clients
 * decode them with, enforced limits positive, defaults not above maxima, and snapshot limits the
 * default KMP and Dart clients accept. Zero-valued optional limits are dropped (omitted on the wire).
 */
export function resolveLimits(overrides: Partial<BundleLimits> = {}): ResolvedLimits {
  const merged: Record<string, number> = { ...DEFAULT_BUNDLE_LIMITS };
  for (const [name, value] of Object.entries(overrides)) {
    if (value !== undefined) merged[name] = value;
  }
  const known = new Set<string>([...REQUIRED_LIMIT_NAMES, ...OPTIONAL_LIMIT_NAMES]);
  for (const [name, value] of Object.entries(merged)) {
    if (!known.has(name)) throw new ServiceConfigError(`limits.${name} is not a known bundle limit`);
    const max = INT64_LIMIT_NAMES.has(name as LimitName) ? Number.MAX_SAFE_INTEGER : INT32_MAX;
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new ServiceConfigError(`limits.${name} ${value} must be an integer between 0 and ${max}`);
    }
    if (value === 0) delete merged[name];
  }
  for (const name of ENFORCED_LIMITS) {
    if (!((merged[name] ?? 0) > 0)) throw new ServiceConfigError(`limits.${name} must be positive`);
  }
  const pairs: [string, string][] = [
    ["default_rows_per_push_chunk", "max_rows_per_push_chunk"],
    ["default_rows_per_committed_bundle_chunk", "max_rows_per_committed_bundle_chunk"],
  ];
  for (const [low, high] of pairs) {
    if (merged[low] !== undefined && merged[low] > merged[high]!) {
      throw new ServiceConfigError(`limits.${low} ${merged[low]} exceeds limits.${high} ${merged[high]}`);
    }
  }
  const limits = merged as ResolvedLimits;
  try {
    negotiateSnapshotLimits(limits);
  } catch (error) {
    throw new ServiceConfigError(`snapshot limits would be refused by clients: ${(error as Error).message}`);
  }
  return limits;
}
