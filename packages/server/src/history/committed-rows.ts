/**
 * Serving one committed bundle's rows page by page (protocol-latest §1.7), and the stored-row to
 * wire-row rendering pull shares. Reads run in a REPEATABLE READ snapshot, so a page never mixes
 * states, and serve each row's payload exactly as it was stored at commit.
 */
import { type BundleRow, type CommittedRowsResponse, OversyncError } from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { OP_NAMES, type OpCode } from "../schema/op-codes.js";
import type { TableDirectory } from "../schema/table-catalog.js";
import { findScope } from "../scope/scope-state.js";
import type { ResolvedLimits } from "../service/service-options.js";
import type { Actor, CommittedRowsRequest } from "../service/sync-service.js";

/** A `sync.bundle_rows` row as the reads select it. */
export interface StoredBundleRow {
  bundle_seq: unknown;
  row_ordinal: number;
  table_id: number;
  /** NULL for an upsert committed by this layout: its key is in the payload. */
  key_text: string | null;
  op: OpCode;
  payload_wire: string | null;
}

/** A stored row as the wire carries it, at `row_version` `bundleSeq`. */
export function toBundleRow(directory: TableDirectory, row: StoredBundleRow, bundleSeq: number): BundleRow {
  const table = directory.byId(row.table_id);
  const payload =
    row.payload_wire === null ? undefined : (JSON.parse(row.payload_wire) as BundleRow["payload"]);
  // The payload's key value is the key's text: uuid keys are stored and sent lowercase dashed.
  const key = row.key_text ?? (payload?.[table.keyColumn] as string);
  const bundleRow: BundleRow = {
    schema: table.schema,
    table: table.table,
    key: { [table.keyColumn]: key },
    op: OP_NAMES[row.op],
    row_version: bundleSeq,
  };
  if (payload !== undefined) bundleRow.payload = payload;
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
      `committed bundle ${bundleSeq} does not exist in this scope`,
    );
  const scope = await findScope(client, actor.scopeId);
  if (scope === undefined) throw notFound();
  if (bundleSeq <= scope.retainedBundleFloor) {
    throw new OversyncError(
      "history_pruned",
      `committed bundle ${bundleSeq} is at or below retained floor ${scope.retainedBundleFloor}; rebuild from a snapshot`,
    );
  }
  const { rows: headers } = await client.query<{
    source_id: string;
    source_bundle_id: unknown;
    row_count: number;
    bundle_hash: string;
    canonical_request_hash: string;
  }>(
    `SELECT source_id, source_bundle_id, row_count, encode(bundle_hash, 'hex') AS bundle_hash,
            encode(canonical_request_hash, 'hex') AS canonical_request_hash
       FROM sync.bundle_log WHERE user_pk = $1 AND bundle_seq = $2`,
    [scope.scopePk, bundleSeq],
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
  const { rows } = await client.query<StoredBundleRow>(
    `SELECT bundle_seq, row_ordinal, table_id, key_text, op, payload_wire FROM sync.bundle_rows
      WHERE user_pk = $1 AND bundle_seq = $2 AND row_ordinal > $3::bigint
      ORDER BY row_ordinal LIMIT $4`,
    [scope.scopePk, bundleSeq, after, maxRows + 1],
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
