/**
 * SQL expressions for a row's local key and local payload, shared by the capture triggers, the
 * adoption of pre-existing rows and the re-serialization of live rows, so all three produce the
 * same text for the same row.
 *
 * Local forms (protocol-latest §7): `key_json` is `{"<key>": text}` with BLOB keys as lower-case
 * hex; the payload is a JSON object of every column under its lower-cased name, TEXT raw, INTEGER
 * as decimal text, REAL as `%!.17g` text, BLOB as lower-case hex, NULL as null.
 */
import type { ColumnInfo, ManagedTable } from "./table-metadata.js";
import { quoteIdent, quoteText } from "./sql-text.js";

/** The local-form value expression of `column` of the row `rowRef` (NEW, OLD or a table alias). */
function localValueSql(column: ColumnInfo, rowRef: string): string {
  const value = `${rowRef}.${quoteIdent(column.name)}`;
  switch (column.kind) {
    case "TEXT":
      return value;
    case "INTEGER":
      // CAST keeps NULL as NULL.
      return `CAST(${value} AS TEXT)`;
    case "REAL":
      return `CASE WHEN ${value} IS NULL THEN NULL ELSE printf('%!.17g', ${value}) END`;
    case "BLOB":
    case "UUID_BLOB":
      return `CASE WHEN ${value} IS NULL THEN NULL ELSE lower(hex(${value})) END`;
  }
}

/** The `key_json` expression of the row `rowRef`. */
export function keyJsonSql(table: ManagedTable, rowRef: string): string {
  const key = table.keyColumn;
  const value = `${rowRef}.${quoteIdent(key.name)}`;
  const text = key.kind === "UUID_BLOB" ? `lower(hex(${value}))` : value;
  return `json_object(${quoteText(key.payloadName)}, ${text})`;
}

/** The local payload expression of the row `rowRef`. */
export function localPayloadSql(table: ManagedTable, rowRef: string): string {
  const members = table.columns.map(
    (column) => `${quoteText(column.payloadName)}, ${localValueSql(column, rowRef)}`,
  );
  return `json_object(${members.join(", ")})`;
}
