/**
 * Pull (protocol-latest §1.8): pages of complete committed bundles after the client's checkpoint, up
 * to a frozen stable seq. Runs in a REPEATABLE READ snapshot, so a page never mixes states, and
 * serves each row's payload exactly as it was stored at commit.
 */
import { type BundleRow, OversyncError, type PullResponse } from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import type { TableDirectory } from "../schema/table-catalog.js";
import { latestBundleSeq, requireInitializedScope } from "../scope/scope-state.js";
import { DEFAULT_BUNDLES_PER_PULL, type ResolvedLimits } from "../service/service-options.js";
import type { Actor, PullInput } from "../service/sync-service.js";
import { type StoredBundleRow, toBundleRow } from "./committed-rows.js";

/**
 * A pull page. The order of checks: scope initialized; `checkpoint_ahead` when after or target
 * is beyond the latest bundle; `history_pruned` when after is below the retained floor (the bundles
 * the client still needs are gone); then bundles after `after` up to `stable` (the target when given,
 * else the latest), at most `max_bundles` and about `rowBudget` rows, always whole bundles.
 */
export async function readPullPage(
  client: SqlQueryable,
  directory: TableDirectory,
  actor: Actor,
  query: PullInput,
  limits: ResolvedLimits,
  rowBudget: number,
): Promise<PullResponse> {
  const scope = await requireInitializedScope(client, actor.scopeId);
  const latest = latestBundleSeq(scope);
  const after = query.after_bundle_seq;
  if (after > latest) {
    throw new OversyncError(
      "checkpoint_ahead",
      `requested checkpoint ${after} is ahead of current committed bundle sequence ${latest}`,
    );
  }
  const target = query.target_bundle_seq;
  if (target !== undefined && target > latest) {
    throw new OversyncError(
      "checkpoint_ahead",
      `requested target_bundle_seq ${target} is ahead of current committed bundle sequence ${latest}`,
    );
  }
  if (after < scope.retainedBundleFloor) {
    throw new OversyncError(
      "history_pruned",
      `after_bundle_seq ${after} is below retained floor ${scope.retainedBundleFloor}`,
    );
  }
  const stable = target ?? latest;
  if (after >= stable) return { stable_bundle_seq: stable, bundles: [], has_more: false };

  const maxBundles = Math.min(query.max_bundles ?? DEFAULT_BUNDLES_PER_PULL, limits.max_bundles_per_pull);
  const { rows: headers } = await client.query<{
    bundle_seq: unknown;
    source_id: string;
    source_bundle_id: unknown;
    row_count: number;
    bundle_hash: string;
  }>(
    `SELECT bundle_seq, source_id, source_bundle_id, row_count, encode(bundle_hash, 'hex') AS bundle_hash
       FROM sync.bundle_log
      WHERE user_pk = $1 AND bundle_seq > $2 AND bundle_seq <= $3
      ORDER BY bundle_seq LIMIT $4`,
    [scope.scopePk, after, stable, maxBundles + 1],
  );
  let taken = 0;
  let rowsTaken = 0;
  while (taken < Math.min(headers.length, maxBundles)) {
    const rowCount = headers[taken]!.row_count;
    if (taken > 0 && rowsTaken + rowCount > rowBudget) break;
    rowsTaken += rowCount;
    taken++;
  }
  const page = headers.slice(0, taken);
  const last = page.length === 0 ? after : toSafeInt(page[page.length - 1]!.bundle_seq);
  const { rows } = await client.query<StoredBundleRow>(
    `SELECT bundle_seq, row_ordinal, table_id, key_text, op, payload_wire FROM sync.bundle_rows
      WHERE user_pk = $1 AND bundle_seq > $2 AND bundle_seq <= $3
      ORDER BY bundle_seq, row_ordinal`,
    [scope.scopePk, after, last],
  );
  const rowsBySeq = new Map<number, BundleRow[]>();
  for (const row of rows) {
    const seq = toSafeInt(row.bundle_seq);
    const list = rowsBySeq.get(seq) ?? [];
    if (list.length === 0) rowsBySeq.set(seq, list);
    list.push(toBundleRow(directory, row, seq));
  }
  return {
    stable_bundle_seq: stable,
    bundles: page.map((header) => {
      const seq = toSafeInt(header.bundle_seq);
      return {
        bundle_seq: seq,
        source_id: header.source_id,
        source_bundle_id: toSafeInt(header.source_bundle_id),
        row_count: header.row_count,
        bundle_hash: header.bundle_hash,
        rows: rowsBySeq.get(seq) ?? [],
      };
    }),
    has_more: last < stable,
  };
}
