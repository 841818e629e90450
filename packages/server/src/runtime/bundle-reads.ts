/**
 * Serving committed bundles: one bundle's rows page by page (protocol-latest §1.7) and pull pages of
 * complete bundles up to a frozen stable seq (§1.8). Both run in a REPEATABLE READ snapshot, so a
 * page never mixes states, and serve each row's payload exactly as it was stored at commit.
 */
import {
  type BundleRow,
  type CommittedRowsResponse,
  OversyncError,
  type PullResponse,
} from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { DEFAULT_BUNDLES_PER_PULL, type ResolvedLimits } from "./service-options.js";
import { OP_NAMES } from "./sync-layout.js";
import type { Actor, CommittedRowsRequest, PullInput } from "./sync-service.js";
import type { TableDirectory } from "./table-catalog.js";
import { findUserState, latestBundleSeq, requireInitializedUser } from "./user-scope.js";

interface StoredRow {
  bundle_seq: unknown;
  row_ordinal: number;
  table_id: number;
  key_text: string;
  op: 1 | 2 | 3;
  payload_wire: string | null;
}

function toBundleRow(directory: TableDirectory, row: StoredRow, bundleSeq: number): BundleRow {
  const table = directory.byId(row.table_id);
  const bundleRow: BundleRow = {
    schema: table.schema,
    table: table.table,
    key: { [table.keyColumn]: row.key_text },
    op: OP_NAMES[row.op],
    row_version: bundleSeq,
  };
  if (row.payload_wire !== null) bundleRow.payload = JSON.parse(row.payload_wire) as BundleRow["payload"];
  return bundleRow;
}

/** One page of a committed bundle's rows. */
export async function readCommittedRows(
  client: SqlQueryable,
  directory: TableDirectory,
  actor: Actor,
  request: CommittedRowsRequest,
  limits: ResolvedLimits,
): Promise<CommittedRowsResponse> {
  const bundleSeq = request.bundle_seq;
  const notFound = () =>
    new OversyncError(
      "committed_bundle_not_found",
      `committed bundle ${bundleSeq} does not exist for this user`,
    );
  const user = await findUserState(client, actor.userId);
  if (user === undefined) throw notFound();
  if (bundleSeq <= user.retainedBundleFloor) {
    throw new OversyncError(
      "history_pruned",
      `committed bundle ${bundleSeq} is at or below retained floor ${user.retainedBundleFloor}; rebuild from a snapshot`,
    );
  }
  const { rows: headers } = await client.query<{
    source_id: string;
    source_bundle_id: unknown;
    row_count: number;
    bundle_hash: string;
    canonical_request_hash: string;
  }>(
    `SELECT source_id, source_bundle_id, row_count, bundle_hash, canonical_request_hash
       FROM sync.bundle_log WHERE user_pk = $1 AND bundle_seq = $2`,
    [user.userPk, bundleSeq],
  );
  const header = headers[0];
  if (header === undefined) throw notFound();
  const maxRows = Math.min(
    request.max_rows ?? limits.default_rows_per_committed_bundle_chunk,
    limits.max_rows_per_committed_bundle_chunk,
  );
  const after = request.after_row_ordinal ?? -1;
  // $3 is cast to bigint: the cursor may be any safe integer, and bound as row_ordinal's integer
  // type one beyond 2^31−1 fails the statement (a 500) instead of reading an empty page.
  const { rows } = await client.query<StoredRow>(
    `SELECT bundle_seq, row_ordinal, table_id, key_text, op, payload_wire FROM sync.bundle_rows
      WHERE user_pk = $1 AND bundle_seq = $2 AND row_ordinal > $3::bigint
      ORDER BY row_ordinal LIMIT $4`,
    [user.userPk, bundleSeq, after, maxRows + 1],
  );
  const page = rows.slice(0, maxRows);
  return {
    bundle_seq: bundleSeq,
    source_id: header.source_id,
    source_bundle_id: toSafeInt(header.source_bundle_id),
    row_count: header.row_count,
    bundle_hash: header.bundle_hash,
    canonical_request_hash: header.canonical_request_hash,
    rows: page.map((row) => toBundleRow(directory, row, bundleSeq)),
    next_row_ordinal: after + page.length,
    has_more: rows.length > maxRows,
  };
}

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
  const user = await requireInitializedUser(client, actor.userId);
  const latest = latestBundleSeq(user);
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
  if (after < user.retainedBundleFloor) {
    throw new OversyncError(
      "history_pruned",
      `after_bundle_seq ${after} is below retained floor ${user.retainedBundleFloor}`,
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
    `SELECT bundle_seq, source_id, source_bundle_id, row_count, bundle_hash FROM sync.bundle_log
      WHERE user_pk = $1 AND bundle_seq > $2 AND bundle_seq <= $3
      ORDER BY bundle_seq LIMIT $4`,
    [user.userPk, after, stable, maxBundles + 1],
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
  const { rows } = await client.query<StoredRow>(
    `SELECT bundle_seq, row_ordinal, table_id, key_text, op, payload_wire FROM sync.bundle_rows
      WHERE user_pk = $1 AND bundle_seq > $2 AND bundle_seq <= $3
      ORDER BY bundle_seq, row_ordinal`,
    [user.userPk, after, last],
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
