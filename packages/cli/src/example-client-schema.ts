/**
 * The local (SQLite) side of the reference server's example application: the same eight tables
 * as EXAMPLE_TABLES, in the column types the `business-rich-v0` contract gives the clients, and the
 * sync configuration that registers them. Demos and tests open a client against `oversync serve`
 * with these; the client checks at attach that its tables equal the server's, so all eight are
 * needed even when a demo writes to one. Browser apps import it as `@oversync/cli/example-client`,
 * which reaches no Node built-in (test/packaging/platform-free.test.ts keeps it so).
 */
import { EXAMPLE_SCHEMA, EXAMPLE_TABLES, type ExampleColumn } from "./example-schema.js";

/** Tables whose uuid keys the contract stores locally as 16-byte BLOBs rather than text. */
const BLOB_KEYED_TABLES: ReadonlySet<string> = new Set(["files", "file_reviews"]);

/** The client configuration for the example tables (schema `business`, keyed by `id`). */
export const EXAMPLE_CLIENT_CONFIG = {
  schema: EXAMPLE_SCHEMA,
  syncTables: EXAMPLE_TABLES.map((table) => ({ tableName: table.name, syncKeyColumnName: "id" })),
} as const;

/** SQLite DDL creating the example tables if they are missing. */
export function exampleClientSchemaSql(): string {
  return EXAMPLE_TABLES.map((table) => {
    const references = new Map(table.foreignKeys.map((key) => [key.column, key]));
    const columns = table.columns.map((column) => {
      const key = references.get(column.name);
      const keyTable = column.name === "id" ? table.name : key?.table;
      let sql = `  ${column.name} ${sqliteType(column, keyTable)}`;
      if (column.name === "id") sql += " PRIMARY KEY";
      if (!column.nullable) sql += " NOT NULL";
      if (column.defaultNow) sql += " DEFAULT CURRENT_TIMESTAMP";
      if (key !== undefined) {
        sql += ` REFERENCES ${key.table}(id)`;
        if (key.onDelete === "CASCADE") sql += " ON DELETE CASCADE";
        // Deferred like the server's keys, so a bundle may apply its rows in any order.
        sql += " DEFERRABLE INITIALLY DEFERRED";
      }
      return sql;
    });
    return `CREATE TABLE IF NOT EXISTS ${table.name} (\n${columns.join(",\n")}\n);`;
  }).join("\n");
}

/** The contract's local type for a server column; `keyTable` is the table a uuid key points into. */
function sqliteType(column: ExampleColumn, keyTable: string | undefined): string {
  switch (column.type) {
    case "uuid":
      return keyTable !== undefined && BLOB_KEYED_TABLES.has(keyTable) ? "BLOB" : "TEXT";
    case "bytea":
      return "BLOB";
    case "bigint":
    case "integer":
    case "smallint":
    case "boolean":
      return "INTEGER";
    case "double precision":
    case "real":
      return "REAL";
    default:
      // text, timestamps and numeric(p,s): decimals travel as text so no digit is lost.
      return "TEXT";
  }
}
