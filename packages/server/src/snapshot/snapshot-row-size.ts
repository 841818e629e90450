/**
 * The size a row takes in a snapshot (protocol-latest §3.4): the UTF-8 length of the compact text of
 * its row object. One measure for every place that must agree on `max_bytes_per_snapshot_row`:
 *
 * - the snapshot build, which serves that text and refuses a row above the limit (409);
 * - bundle sealing (push commit and server-originated writes), which measures each row's stored
 *   after-image at its new row_version exactly as the build will, and refuses the bundle; so no
 *   committed row can make every later snapshot of its scope fail;
 * - chunk upload, which refuses a row already too large as the client sent it, before staging.
 */
import {
  OversyncError,
  type SnapshotRowText,
  snapshotRowJson,
  snapshotRowJsonOfTexts,
} from "@oversync/protocol";
import type { StagedRow } from "../push/push-rows.js";
import type { RegisteredTable } from "../schema/table-catalog.js";

/** The snapshot row object of a row of `table` at `rowVersion`, serialized once. */
export function snapshotRowText(
  table: RegisteredTable,
  keyText: string,
  rowVersion: number,
  payload: Readonly<Record<string, unknown>>,
): SnapshotRowText {
  return snapshotRowJson({
    schema: table.schema,
    table: table.table,
    key: { [table.keyColumn]: keyText },
    row_version: rowVersion,
    payload,
  });
}

/** The UTF-8 length of the snapshot row object of a row whose payload is canonical JSON text. */
function snapshotRowBytes(
  table: RegisteredTable,
  keyText: string,
  rowVersion: number,
  payloadJson: string,
): number {
  return snapshotRowJsonOfTexts({
    schema: table.schema,
    table: table.table,
    keyJson: JSON.stringify({ [table.keyColumn]: keyText }),
    row_version: rowVersion,
    payloadJson,
  }).byteLength;
}

/** A row being committed whose snapshot text would exceed `max_bytes_per_snapshot_row`. */
export class SnapshotRowTooLargeError extends Error {
  override readonly name = "SnapshotRowTooLargeError";

  constructor(
    readonly table: RegisteredTable,
    readonly keyText: string,
    readonly byteLength: number,
    readonly limit: number,
  ) {
    super(tooLargeMessage(table, keyText, byteLength, limit));
  }
}

/** Throws SnapshotRowTooLargeError when the row's snapshot text is longer than `limit` bytes. */
export function checkSnapshotRowSize(
  table: RegisteredTable,
  keyText: string,
  rowVersion: number,
  payloadJson: string,
  limit: number,
): void {
  const byteLength = snapshotRowBytes(table, keyText, rowVersion, payloadJson);
  if (byteLength > limit) throw new SnapshotRowTooLargeError(table, keyText, byteLength, limit);
}

/**
 * Refuses an uploaded chunk with 400 push_chunk_invalid when one of its upserts is already above
 * `limit` as the client sent it, measured at `base_row_version + 1`, the smallest row_version its
 * commit can give it. The stored form can still differ (defaults filled in, values normalised),
 * which sealing measures exactly.
 */
export function checkUploadedRowSizes(rows: readonly StagedRow[], limit: number): void {
  rows.forEach((row, index) => {
    if (row.payloadWire === null) return;
    const byteLength = snapshotRowBytes(row.table, row.keyText, row.baseRowVersion + 1, row.payloadWire);
    if (byteLength > limit) {
      throw new OversyncError(
        "push_chunk_invalid",
        `rows[${index}]: ${tooLargeMessage(row.table, row.keyText, byteLength, limit)}`,
      );
    }
  });
}

function tooLargeMessage(table: RegisteredTable, keyText: string, byteLength: number, limit: number): string {
  return `row ${table.schema}.${table.table} ${table.keyColumn}=${JSON.stringify(keyText)} would take ${byteLength} bytes in a snapshot, more than max_bytes_per_snapshot_row ${limit}; no snapshot could carry it to a new device, so store less in one row`;
}
