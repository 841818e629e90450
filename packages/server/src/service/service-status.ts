/** The database side of `/syncx/status`: retention windows, bundle totals and the status counters. */
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";

/**
 * Counters read from the `sync` schema. `user_state_retention_floor_ahead_count` counts users whose
 * retained floor is ahead of their latest bundle (always 0 when healthy).
 */
export interface ServiceCounters {
  readonly user_state_retention_floor_ahead_count: number;
  readonly latest_bundle_seq_max: number;
  readonly retained_bundle_floor_min: number;
  readonly retained_bundle_floor_max: number;
  readonly retained_bundle_window_min: number;
  readonly retained_bundle_window_max: number;
  readonly history_pruned_error_count: number;
  readonly accepted_push_replay_count: number;
  readonly rejected_registered_write_count: number;
  readonly committed_bundle_count: number;
  readonly committed_bundle_bytes: number;
}

const sequenceValue = (name: string) =>
  `(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync.${name})`;

/** Reads the counters in one statement (no client is held: callers may be outside any operation). */
export async function readServiceCounters(db: SqlQueryable): Promise<ServiceCounters> {
  const { rows } = await db.query<Record<keyof ServiceCounters, unknown>>(
    `SELECT count(*) FILTER (WHERE u.retained_bundle_floor > u.next_bundle_seq - 1)
              AS user_state_retention_floor_ahead_count,
            coalesce(max(u.next_bundle_seq - 1), 0) AS latest_bundle_seq_max,
            coalesce(min(u.retained_bundle_floor), 0) AS retained_bundle_floor_min,
            coalesce(max(u.retained_bundle_floor), 0) AS retained_bundle_floor_max,
            coalesce(min(u.next_bundle_seq - 1 - u.retained_bundle_floor), 0) AS retained_bundle_window_min,
            coalesce(max(u.next_bundle_seq - 1 - u.retained_bundle_floor), 0) AS retained_bundle_window_max,
            ${sequenceValue("history_pruned_error_seq")} AS history_pruned_error_count,
            ${sequenceValue("accepted_push_replay_seq")} AS accepted_push_replay_count,
            ${sequenceValue("rejected_registered_write_seq")} AS rejected_registered_write_count,
            (SELECT count(*) FROM sync.bundle_log) AS committed_bundle_count,
            (SELECT coalesce(sum(byte_count), 0) FROM sync.bundle_log) AS committed_bundle_bytes
       FROM sync.user_state u`,
  );
  const row = rows[0]!;
  return Object.fromEntries(
    Object.entries(row).map(([name, value]) => [name, toSafeInt(value)]),
  ) as unknown as ServiceCounters;
}
