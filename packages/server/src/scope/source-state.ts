/**
 * Source sequencing (`sync.source_state`): each (scope, source) commits `source_bundle_id` 1, 2, 3, …
 * with no gaps; a retired source commits nothing more and names its replacement.
 */
import { OversyncError } from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";

/** A source's sequencing row; absent rows read as active with nothing committed. */
export interface SourceState {
  readonly state: "active" | "reserved" | "retired";
  readonly maxCommittedSourceBundleId: number;
  readonly replacedBySourceId: string | null;
}

/** Reads the source's row (a missing row means a new source: active, nothing committed). */
export async function loadSourceState(
  client: SqlQueryable,
  scopePk: number,
  sourceId: string,
): Promise<SourceState> {
  const { rows } = await client.query<{
    state: SourceState["state"];
    max_committed_source_bundle_id: unknown;
    replaced_by_source_id: string | null;
  }>(
    `SELECT state, max_committed_source_bundle_id, replaced_by_source_id
       FROM sync.source_state WHERE user_pk = $1 AND source_id = $2`,
    [scopePk, sourceId],
  );
  const row = rows[0];
  if (row === undefined) return { state: "active", maxCommittedSourceBundleId: 0, replacedBySourceId: null };
  return {
    state: row.state,
    maxCommittedSourceBundleId: toSafeInt(row.max_committed_source_bundle_id),
    replacedBySourceId: row.replaced_by_source_id,
  };
}

/** The structured 409 for a retired source: `source_id` is the failing request's source. */
export function sourceRetiredError(sourceId: string, source: SourceState): OversyncError {
  const replacement = source.replacedBySourceId ?? undefined;
  return new OversyncError(
    "source_retired",
    `source ${sourceId} is retired${replacement === undefined ? "" : ` and replaced by ${replacement}`}; continue with the replacement source`,
    { extras: { source_id: sourceId, replaced_by_source_id: replacement } },
  );
}

/**
 * Checks a push-create's `source_bundle_id` against the next expected one: below it is
 * `history_pruned` (that tuple's bundle is gone or never existed), above it is
 * `source_sequence_out_of_order`.
 */
export function checkCreateSequence(sourceId: string, sourceBundleId: number, source: SourceState): void {
  if (source.state === "retired") throw sourceRetiredError(sourceId, source);
  const expected = source.maxCommittedSourceBundleId + 1;
  if (sourceBundleId < expected) {
    throw new OversyncError(
      "history_pruned",
      `source_bundle_id ${sourceBundleId} of source ${sourceId} is below the next expected ${expected} and its bundle is no longer retained; recover the source`,
    );
  }
  if (sourceBundleId > expected) {
    throw new OversyncError(
      "source_sequence_out_of_order",
      `source_bundle_id ${sourceBundleId} of source ${sourceId} skips ahead of the next expected ${expected}; recover the source`,
    );
  }
}

/** Rechecks the tuple at commit: anything but the next expected id is `source_sequence_changed`. */
export function checkCommitSequence(sourceId: string, sourceBundleId: number, source: SourceState): void {
  if (source.state === "retired") throw sourceRetiredError(sourceId, source);
  const expected = source.maxCommittedSourceBundleId + 1;
  if (sourceBundleId !== expected) {
    throw new OversyncError(
      "source_sequence_changed",
      `source ${sourceId} now expects source_bundle_id ${expected}, but this session commits ${sourceBundleId}; recover the source`,
    );
  }
}

/** Records a committed tuple: the source becomes active with `sourceBundleId` as its latest. */
export async function recordSourceCommit(
  client: SqlQueryable,
  scopePk: number,
  sourceId: string,
  sourceBundleId: number,
): Promise<void> {
  await client.query(
    `INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id)
     VALUES ($1, $2, 'active', $3)
     ON CONFLICT (user_pk, source_id) DO UPDATE
       SET state = 'active', max_committed_source_bundle_id = EXCLUDED.max_committed_source_bundle_id,
           updated_at = now()`,
    [scopePk, sourceId, sourceBundleId],
  );
}
