/**
 * A row's payload in its two forms: the stored (pre-wire) jsonb object SQL builds from the row with
 * each column codec's capture SQL — what the capture triggers stage, and what push conflicts and
 * snapshot builds read from the live table — and its wire rendering, every visible column in table
 * order.
 */
import type { WireValue } from "@oversync/protocol";
import { quoteIdent } from "../db/session.js";
import type { RegisteredTable } from "../schema/table-catalog.js";

/** jsonb_build_object takes at most 100 arguments, so wide rows are built in parts joined with ||. */
const COLUMNS_PER_OBJECT = 50;

/** SQL building the stored (pre-wire) payload object of the row aliased `alias`, every visible column. */
export function payloadSql(table: RegisteredTable, alias: string): string {
  const parts: string[] = [];
  for (let start = 0; start < table.columns.length; start += COLUMNS_PER_OBJECT) {
    const members = table.columns
      .slice(start, start + COLUMNS_PER_OBJECT)
      .map(
        (column) =>
          `'${column.name.replaceAll("'", "''")}', ${column.captureSql(`${alias}.${quoteIdent(column.name)}`)}`,
      );
    parts.push(`jsonb_build_object(${members.join(", ")})`);
  }
  return parts.join(" || ");
}

/** A stored payload (from captureSql) with every visible column, in table order, rendered to its wire value. */
export function renderPayload(
  table: RegisteredTable,
  stored: Record<string, unknown>,
): Record<string, WireValue> {
  const payload: Record<string, WireValue> = {};
  for (const column of table.columns) {
    if (!Object.hasOwn(stored, column.name)) {
      throw new Error(
        `captured row of ${table.schema}.${table.table} lacks column ${column.name}; bootstrap again after changing registered tables`,
      );
    }
    payload[column.name] = column.toWire(stored[column.name]);
  }
  return payload;
}
