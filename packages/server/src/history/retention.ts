/**
 * Retention: how much committed history (`sync.bundle_log` / `sync.bundle_rows`) each scope keeps.
 *
 * A scope's `retained_bundle_floor` says which bundles are gone: every seq at or below it is answered
 * `history_pruned` (pull from below it, committed rows at or below it, push-create of a tuple whose
 * bundle is at or below it), and the client recovers from a snapshot. Pruning only ever deletes
 * history: `row_state`, source watermarks and business rows stay, so a snapshot still holds the
 * complete current state. The invariant kept here is that nothing at or below the floor is stored,
 * which is why the floor never moves down.
 */
import { OversyncError } from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { findScope, latestBundleSeq, lockScope } from "../scope/scope-state.js";
import { ServiceConfigError } from "../service/service-options.js";

/**
 * The `retention` option of createSyncService. Absent (the default), every bundle is kept: pruning
 * sends any client whose checkpoint falls below the floor to a full snapshot rebuild, so how long
 * an offline device may stay away before that happens is the host's choice, not ours.
 */
export interface RetentionOptions {
  /**
   * Newest committed bundles kept per scope (an integer ≥ 1). After each commit the floor moves to
   * latest − keepBundles. Small windows make more clients rebuild: a device that pushes one bundle
   * and then reads its committed rows back after more than keepBundles other bundles landed gets
   * `history_pruned`.
   */
  readonly keepBundles: number;
  /**
   * Most bundles one commit prunes (default 1000). Turning retention on over a long history then
   * spreads the deletes over later commits instead of holding one commit's transaction for all of
   * them.
   */
  readonly maxPrunedPerCommit?: number;
}

/** Retention with its defaults filled in. */
export interface ResolvedRetention {
  readonly keepBundles: number;
  readonly maxPrunedPerCommit: number;
}

/** Bundles one commit prunes when the host sets no batch size. */
export const DEFAULT_MAX_PRUNED_PER_COMMIT = 1000;

/** Checks the option; undefined means keep everything. */
export function resolveRetention(options: RetentionOptions | undefined): ResolvedRetention | undefined {
  if (options === undefined) return undefined;
  const { keepBundles, maxPrunedPerCommit = DEFAULT_MAX_PRUNED_PER_COMMIT } = options;
  for (const [name, value] of [
    ["keepBundles", keepBundles],
    ["maxPrunedPerCommit", maxPrunedPerCommit],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ServiceConfigError(`retention.${name} ${value} must be an integer of at least 1`);
    }
  }
  return { keepBundles, maxPrunedPerCommit };
}

/**
 * Applies the policy after a bundle of `scopeId` committed, inside that bundle's transaction (which
 * holds the scope's lock): the floor moves to latest − keepBundles, by at most maxPrunedPerCommit,
 * and the history at or below it is deleted. Returns the new floor, or undefined when it stayed.
 */
export async function applyRetention(
  client: SqlQueryable,
  scopeId: string,
  policy: ResolvedRetention,
): Promise<number | undefined> {
  const { rows } = await client.query<{ user_pk: unknown; retained_bundle_floor: unknown }>(
    `UPDATE sync.user_state
        SET retained_bundle_floor = LEAST(next_bundle_seq - 1 - $2, retained_bundle_floor + $3)
      WHERE user_id = $1 AND retained_bundle_floor < next_bundle_seq - 1 - $2
      RETURNING user_pk, retained_bundle_floor`,
    [scopeId, policy.keepBundles, policy.maxPrunedPerCommit],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  const floor = toSafeInt(row.retained_bundle_floor);
  await deleteHistory(client, row.user_pk, floor);
  return floor;
}

/**
 * Moves `scopeId`'s floor to `floor` and deletes the history at or below it, in the caller's
 * transaction. `floor` must lie between the current floor and the latest bundle: below the current
 * floor the history is already gone, above the latest there is nothing to prune (the layout's CHECK
 * forbids it too). Errors: OversyncError `invalid_request`, `user_state_not_found`.
 */
export async function moveRetainedFloor(client: SqlQueryable, scopeId: string, floor: number): Promise<void> {
  if (!Number.isSafeInteger(floor) || floor < 0) {
    throw new OversyncError(
      "invalid_request",
      `retained_bundle_floor ${floor} must be a non-negative integer`,
    );
  }
  await lockScope(client, scopeId);
  const scope = await findScope(client, scopeId);
  if (scope === undefined) {
    throw new OversyncError("user_state_not_found", `scope ${JSON.stringify(scopeId)} has no sync state`);
  }
  const latest = latestBundleSeq(scope);
  if (floor > latest) {
    throw new OversyncError(
      "invalid_request",
      `retained_bundle_floor ${floor} is above the latest committed bundle ${latest}`,
    );
  }
  if (floor < scope.retainedBundleFloor) {
    throw new OversyncError(
      "invalid_request",
      `retained_bundle_floor ${floor} is below the current floor ${scope.retainedBundleFloor}, whose history is already deleted`,
    );
  }
  if (floor === scope.retainedBundleFloor) return;
  await client.query("UPDATE sync.user_state SET retained_bundle_floor = $2 WHERE user_pk = $1", [
    scope.scopePk,
    floor,
  ]);
  await deleteHistory(client, scope.scopePk, floor);
}

/** Deletes the scope's committed bundles at or below `floor`, rows first (they carry no FK). */
async function deleteHistory(client: SqlQueryable, scopePk: unknown, floor: number): Promise<void> {
  await client.query("DELETE FROM sync.bundle_rows WHERE user_pk = $1 AND bundle_seq <= $2", [
    scopePk,
    floor,
  ]);
  await client.query("DELETE FROM sync.bundle_log WHERE user_pk = $1 AND bundle_seq <= $2", [scopePk, floor]);
}

/**
 * Counts one `history_pruned` answer in the status counter. A sequence, so call it outside the
 * refusing transaction: a read-only one cannot advance it, and a rolled-back one would not matter.
 */
export async function countHistoryPruned(db: SqlQueryable): Promise<void> {
  await db.query("SELECT nextval('sync.history_pruned_error_seq')");
}
