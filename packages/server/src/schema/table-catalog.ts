/**
 * `sync.table_catalog`: a small stable id per registered table, used in every runtime table instead
 * of names. Ids are never reused or renumbered, so a table can be added to the registered set later;
 * its sync key column can't change, because stored keys would then mean something else.
 */
import type { ColumnCodec } from "../codec/column-codec.js";
import { qualifiedName } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { SyncLayoutError } from "./schema-errors.js";
import type { ValidatedTable } from "./schema-validation.js";

/** A validated table with its catalog id and lookups the runtime needs on every row. */
export interface RegisteredTable extends ValidatedTable {
  readonly tableId: number;
  /** `"schema"."table"`, quoted for SQL. */
  readonly sqlName: string;
  /** Visible columns by name. */
  readonly columnsByName: ReadonlyMap<string, ColumnCodec>;
  /** The sync key column's codec. */
  readonly keyCodec: ColumnCodec;
}

/** The registered set, looked up by id or by wire names. */
export interface TableDirectory {
  readonly tables: readonly RegisteredTable[];
  byId(tableId: number): RegisteredTable;
  byName(schema: string, table: string): RegisteredTable | undefined;
}

/** A map key naming one row of a registered table: its table id and sync key text. */
export function rowKey(tableId: number, keyText: string): string {
  return `${tableId}\u0000${keyText}`;
}

/**
 * Records the validated tables in `sync.table_catalog` (inside the caller's transaction), keeping
 * existing ids and giving new tables the next free ones in name order.
 */
export async function syncTableCatalog(
  client: SqlQueryable,
  tables: readonly ValidatedTable[],
): Promise<TableDirectory> {
  const { rows } = await client.query<{
    table_id: number;
    schema_name: string;
    table_name: string;
    sync_key_column: string;
  }>("SELECT table_id, schema_name, table_name, sync_key_column FROM sync.table_catalog ORDER BY table_id");
  const existing = new Map(rows.map((row) => [`${row.schema_name}.${row.table_name}`, row]));
  let nextId = rows.reduce((max, row) => Math.max(max, row.table_id), 0) + 1;
  const registered: RegisteredTable[] = [];
  for (const table of tables) {
    const known = existing.get(`${table.schema}.${table.table}`);
    let tableId: number;
    if (known === undefined) {
      tableId = nextId++;
      await client.query(
        "INSERT INTO sync.table_catalog (table_id, schema_name, table_name, sync_key_column) VALUES ($1, $2, $3, $4)",
        [tableId, table.schema, table.table, table.keyColumn],
      );
    } else if (known.sync_key_column !== table.keyColumn) {
      throw new SyncLayoutError(
        `${table.schema}.${table.table} was registered with sync key ${JSON.stringify(known.sync_key_column)} and is now registered with ${JSON.stringify(table.keyColumn)}; a table's sync key cannot change while sync history exists (drop the "sync" schema to start over)`,
      );
    } else {
      tableId = known.table_id;
    }
    const columnsByName = new Map(table.columns.map((column) => [column.name, column]));
    registered.push({
      ...table,
      tableId,
      sqlName: qualifiedName(table.schema, table.table),
      columnsByName,
      keyCodec: columnsByName.get(table.keyColumn)!,
    });
  }
  return tableDirectory(registered);
}

function tableDirectory(tables: readonly RegisteredTable[]): TableDirectory {
  const ids = new Map(tables.map((table) => [table.tableId, table]));
  const names = new Map(tables.map((table) => [`${table.schema}\u0000${table.table}`, table]));
  return {
    tables,
    byId(tableId) {
      const table = ids.get(tableId);
      if (table === undefined) {
        throw new Error(
          `table id ${tableId} is not registered in this server; was the registered set changed?`,
        );
      }
      return table;
    },
    byName(schema, table) {
      return names.get(`${schema}\u0000${table}`);
    },
  };
}
