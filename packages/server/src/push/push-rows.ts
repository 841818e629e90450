/**
 * Uploaded push rows: validation at chunk time (before any database work) and the stored form
 * they are staged in until commit.
 *
 * A row must name a registered table by its exact schema and table names, key it by the table's
 * sync key column alone, and — for INSERT and UPDATE — carry the table's visible columns with values
 * the column codec accepts; the payload's key column must equal the key. A client built before a
 * column was added may leave it out: an INSERT then takes the column's default (or NULL), an UPDATE
 * leaves it unchanged; only a NOT NULL column without a default must always be sent. The staged
 * form keeps the wire payload as canonical JSON text, so commit can recompute the request hash over
 * the rows exactly as received.
 */
import { type CanonicalRowTexts, type PushRow, canonicalJson, OversyncError } from "@oversync/protocol";
import type { BoundValue, ColumnCodec } from "../codec/column-codec.js";
import { OP_CODES, OP_NAMES, type OpCode } from "../schema/op-codes.js";
import { type RegisteredTable, type TableDirectory, rowKey } from "../schema/table-catalog.js";

/** A validated row as staged in `sync.push_session_rows`. */
export interface StagedRow {
  readonly table: RegisteredTable;
  readonly keyText: string;
  readonly op: OpCode;
  readonly baseRowVersion: number;
  /** Canonical JSON of the wire payload; null for DELETE. */
  readonly payloadWire: string | null;
}

function invalid(message: string): OversyncError {
  return new OversyncError("push_chunk_invalid", message);
}

/**
 * Validates a chunk's rows. Throws OversyncError `push_chunk_invalid` whose message starts with
 * the failing field's path (`rows[2].payload.rating: …`).
 */
export function validatePushRows(directory: TableDirectory, rows: readonly PushRow[]): StagedRow[] {
  const staged: StagedRow[] = [];
  const targets = new Map<string, number>();
  rows.forEach((row, index) => {
    const at = `rows[${index}]`;
    const table = directory.byName(row.schema, row.table);
    if (table === undefined) {
      throw invalid(`${at}: table ${row.schema}.${row.table} is not registered on this server`);
    }
    const keyNames = Object.keys(row.key);
    if (keyNames.length !== 1 || keyNames[0] !== table.keyColumn) {
      throw invalid(
        `${at}.key: must have exactly one member, the sync key column ${JSON.stringify(table.keyColumn)} of ${row.schema}.${row.table}`,
      );
    }
    const keyText = row.key[table.keyColumn]!;
    table.keyCodec.fromWire(keyText, `${at}.key.${table.keyColumn}`);
    const target = rowKey(table.tableId, keyText);
    const earlier = targets.get(target);
    if (earlier !== undefined) {
      throw invalid(`${at}: targets the same row as rows[${earlier}]; send each row once per push`);
    }
    targets.set(target, index);

    let payloadWire: string | null = null;
    if (row.op === "DELETE") {
      if (row.payload !== undefined && row.payload !== null) {
        throw invalid(`${at}.payload: must be absent or null for DELETE`);
      }
    } else {
      const payload = row.payload;
      if (payload === undefined || payload === null)
        throw invalid(`${at}.payload: is required for ${row.op}`);
      checkPayload(table, row.op, payload, keyText, at);
      payloadWire = canonicalJson(payload);
    }
    staged.push({ table, keyText, op: OP_CODES[row.op], baseRowVersion: row.base_row_version, payloadWire });
  });
  return staged;
}

function checkPayload(
  table: RegisteredTable,
  op: "INSERT" | "UPDATE",
  payload: Readonly<Record<string, unknown>>,
  keyText: string,
  at: string,
): void {
  for (const name of Object.keys(payload)) {
    if (!table.columnsByName.has(name)) {
      throw invalid(`${at}.payload.${name}: is not a column of ${table.schema}.${table.table}`);
    }
  }
  const required = table.columns.filter(
    (column) =>
      !Object.hasOwn(payload, column.name) &&
      (column.name === table.keyColumn || (op === "INSERT" && !column.optionalOnInsert)),
  );
  if (required.length > 0) {
    throw invalid(
      `${at}.payload: must carry ${required.map((c) => c.name).join(", ")} of ${table.schema}.${table.table} (NOT NULL without a default, or the key)`,
    );
  }
  for (const column of payloadColumns(table, payload)) {
    column.fromWire(payload[column.name], `${at}.payload.${column.name}`);
  }
  if (payload[table.keyColumn] !== keyText) {
    throw invalid(`${at}.payload.${table.keyColumn}: must equal the row key ${JSON.stringify(keyText)}`);
  }
}

/** A staged row in the shape `canonical_request_hash` is computed over (its payload is canonical already). */
export function requestHashRow(row: StagedRow): CanonicalRowTexts & { base_row_version: number } {
  return {
    schema: row.table.schema,
    table: row.table.table,
    keyJson: canonicalJson({ [row.table.keyColumn]: row.keyText }),
    op: OP_NAMES[row.op],
    base_row_version: row.baseRowVersion,
    payloadJson: row.payloadWire,
  };
}

/** The columns a payload carries, in table order (the table's own array when it carries all). */
function payloadColumns(table: RegisteredTable, payload: Readonly<Record<string, unknown>>) {
  const present = table.columns.filter((column) => Object.hasOwn(payload, column.name));
  return present.length === table.columns.length ? table.columns : present;
}

/** A staged upsert's columns and their bound values, in table order. */
export function bindPayload(row: StagedRow): { columns: readonly ColumnCodec[]; values: BoundValue[] } {
  const payload = JSON.parse(row.payloadWire!) as Record<string, unknown>;
  const columns = payloadColumns(row.table, payload);
  return {
    columns,
    values: columns.map((column) => column.fromWire(payload[column.name], `payload.${column.name}`)),
  };
}
