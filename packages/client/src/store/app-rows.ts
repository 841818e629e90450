/**
 * Authoritative writes to application tables. Only reachable inside `SyncStore.apply`, which turns
 * apply mode on (capture triggers skip these writes, guard triggers let them through) and defers
 * foreign keys until commit, so the rows of one bundle or snapshot may arrive in any order.
 */
import type { RowOp } from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import { type KeyValue, type RowValues, localKeyJson } from "./payload-codec.js";
import { RuntimeState } from "./runtime-state.js";
import { quoteIdent, rowsPerStatement, valuesPlaceholders } from "./sql-text.js";
import type { ColumnInfo, ManagedTable } from "./table-metadata.js";

/** The whole-row upsert statement of each table, built once: remote applies run it for every row. */
const UPSERT_SQL = new WeakMap<ManagedTable, string>();

/** The upsert of `rowCount` rows naming `columns` (INSERT … VALUES … ON CONFLICT DO UPDATE). */
function upsertSql(table: ManagedTable, columns: readonly ColumnInfo[], rowCount = 1): string {
  const whole = columns.length === table.columns.length && rowCount === 1;
  let sql = whole ? UPSERT_SQL.get(table) : undefined;
  if (sql === undefined) {
    const names = columns.map((column) => quoteIdent(column.name));
    const updates = columns
      .filter((column) => column !== table.keyColumn)
      .map((column) => `${quoteIdent(column.name)} = excluded.${quoteIdent(column.name)}`);
    const onConflict = updates.length === 0 ? "DO NOTHING" : `DO UPDATE SET ${updates.join(", ")}`;
    sql =
      `INSERT INTO ${quoteIdent(table.sqlName)} (${names.join(", ")}) VALUES ${valuesPlaceholders(names.length, rowCount)} ` +
      `ON CONFLICT (${quoteIdent(table.keyColumn.name)}) ${onConflict}`;
    if (whole) UPSERT_SQL.set(table, sql);
  }
  return sql;
}

/** One authoritative row to apply: an upsert with every column's value, or a delete. */
export interface RemoteRow {
  readonly tableName: string;
  readonly op: RowOp;
  /** The key value (TEXT keys a string, UUID keys 16 bytes). */
  readonly key: KeyValue;
  /** Every column's exact value, keyed by lower-cased name; required for INSERT and UPDATE. */
  readonly values?: RowValues;
  /** The row's authoritative version (the bundle that last wrote it). */
  readonly rowVersion: bigint;
}

/** Durable state plus authoritative application writes; handed out by `SyncStore.apply`. */
export class ApplyState extends RuntimeState {
  /**
   * Applies one authoritative row: upserts or deletes the application row and records its row
   * state (live or tombstone) at `rowVersion`. Dirty rows are left alone; the engine decides.
   */
  async applyRemoteRow(row: RemoteRow): Promise<void> {
    const table = this.schema.table(row.tableName);
    const keyJson = localKeyJson(table, row.key);
    if (row.op === "DELETE") {
      await this.deleteAppRow(table.name, row.key);
    } else {
      if (row.values === undefined) {
        throw new OversyncClientError(
          "payload_invalid",
          `${row.op} of ${table.name} ${keyJson} has no payload`,
        );
      }
      await this.upsertRemoteRows(table.name, [{ keyJson, values: row.values }]);
    }
    await this.putRowState(table.name, keyJson, { rowVersion: row.rowVersion, deleted: row.op === "DELETE" });
  }

  /**
   * Upserts authoritative rows of one table, each with every column's value and the local key JSON
   * of its key, in multi-row statements (a snapshot apply writes 100k of them); refuses values whose
   * key column names another row. The caller records the row states.
   */
  async upsertRemoteRows(
    tableName: string,
    rows: readonly { readonly keyJson: string; readonly values: RowValues }[],
  ): Promise<void> {
    const table = this.schema.table(tableName);
    for (const { keyJson, values } of rows) {
      const keyValue = values[table.keyColumn.payloadName];
      if (
        keyValue === undefined ||
        keyValue === null ||
        localKeyJson(table, keyValue as KeyValue) !== keyJson
      ) {
        throw new OversyncClientError(
          "payload_invalid",
          `payload of ${table.name} ${keyJson} carries a different ${table.keyColumn.payloadName}`,
        );
      }
    }
    const batchRows = rowsPerStatement(table.columns.length);
    for (let start = 0; start < rows.length; start += batchRows) {
      const batch = rows.slice(start, start + batchRows);
      await this.db.run(
        upsertSql(table, table.columns, batch.length),
        batch.flatMap(({ values }) => table.columns.map((column) => values[column.payloadName] ?? null)),
      );
    }
  }

  /**
   * Inserts or updates an application row in place (INSERT … ON CONFLICT DO UPDATE, never delete
   * and re-insert, so ON DELETE CASCADE children survive an update of their parent). `values` names
   * the key and usually every column; a queued change captured before a column was added locally
   * leaves it out, and that column then keeps its value (or takes its default on insert).
   */
  async upsertAppRow(tableName: string, values: RowValues): Promise<void> {
    const table = this.schema.table(tableName);
    const unknown = Object.keys(values).filter((name) => !table.columnsByPayloadName.has(name));
    if (!(table.keyColumn.payloadName in values) || unknown.length > 0) {
      throw new OversyncClientError(
        "payload_invalid",
        `values for ${table.name} must name the key ${table.keyColumn.payloadName} and only the table's columns (unknown: ${unknown.join(", ") || "none"})`,
      );
    }
    const columns = table.columns.filter((column) => column.payloadName in values);
    await this.db.run(
      upsertSql(table, columns),
      columns.map((column) => values[column.payloadName] ?? null),
    );
  }

  /** Deletes the application row with key value `key` (a no-op when absent). */
  async deleteAppRow(tableName: string, key: KeyValue): Promise<void> {
    const table = this.schema.table(tableName);
    await this.db.run(
      `DELETE FROM ${quoteIdent(table.sqlName)} WHERE ${quoteIdent(table.keyColumn.name)} = ?`,
      [key],
    );
  }

  /**
   * Empties an application table and forgets its row states. Accepts any registered table name,
   * including ones no longer in the configuration; a table that no longer exists is skipped.
   */
  async clearAppTable(tableName: string): Promise<void> {
    const found = await this.db.query<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = ?",
      [tableName.toLowerCase()],
    );
    const sqlName = found[0]?.name;
    if (sqlName !== undefined) await this.db.run(`DELETE FROM ${quoteIdent(sqlName)}`);
    await this.clearRowStates(tableName.toLowerCase());
  }
}
