/**
 * What the runtime knows about each managed table, read from the live schema with PRAGMAs: its key
 * column, every column's kind (how its values are encoded), its foreign keys and its place in
 * parent-first dependency order. Reading it also validates the configuration against the schema.
 */
import { type ColumnKind, HIDDEN_SCOPE_COLUMN, columnKindOf } from "@oversync/protocol";
import { type NormalizedSyncConfig, type NormalizedSyncTable, configError } from "../config/sync-config.js";
import type { SqliteExecutor } from "../drivers/sqlite-driver.js";
import { OversyncClientError } from "../errors.js";

/** One column of a managed table. */
export interface ColumnInfo {
  /** The name as declared in the table. */
  readonly name: string;
  /** The lower-cased name used as the member name in payloads and keys. */
  readonly payloadName: string;
  readonly declaredType: string;
  /** How values of this column are encoded locally and on the wire. */
  readonly kind: ColumnKind;
  readonly notNull: boolean;
  /** 1-based position in the primary key, 0 when not part of it. */
  readonly primaryKeyPosition: number;
}

/** A single-column foreign key of a managed table (names lower-cased). */
export interface ForeignKeyInfo {
  readonly column: string;
  readonly parentTable: string;
  readonly parentColumn: string;
}

/** A managed table as the runtime sees it. */
export interface ManagedTable {
  /** The lower-cased name used in `_sync_*` rows, trigger names and on the wire. */
  readonly name: string;
  /** The name as stored in sqlite_master, for SQL text. */
  readonly sqlName: string;
  readonly keyColumn: ColumnInfo;
  /** Every column in declaration order; payloads carry exactly these. */
  readonly columns: readonly ColumnInfo[];
  readonly columnsByPayloadName: ReadonlyMap<string, ColumnInfo>;
  readonly foreignKeys: readonly ForeignKeyInfo[];
  /** Position in parent-first dependency order (0 = applied/pushed first among upserts). */
  readonly dependencyRank: number;
}

/** The managed tables of one local database under one logical schema. */
export class SyncSchema {
  /** Tables in dependency order: parents before children, cycles last in configuration order. */
  readonly dependencyOrder: readonly ManagedTable[];
  private readonly byName: ReadonlyMap<string, ManagedTable>;

  constructor(
    /** The logical schema name written into `_sync_*` rows and sent on the wire. */
    readonly schema: string,
    /** Tables in configuration order. */
    readonly tables: readonly ManagedTable[],
  ) {
    this.byName = new Map(tables.map((table) => [table.name, table]));
    this.dependencyOrder = [...tables].sort((a, b) => a.dependencyRank - b.dependencyRank);
  }

  /** The managed table named `name` (case-insensitive); throws `payload_invalid` when unmanaged. */
  table(name: string): ManagedTable {
    const table = this.byName.get(name.toLowerCase());
    if (table === undefined) {
      throw new OversyncClientError(
        "payload_invalid",
        `table ${name} is not managed under schema ${this.schema}; managed tables are ${this.tables.map((t) => t.name).join(", ")}`,
      );
    }
    return table;
  }

  /** True when `name` (case-insensitive) is a managed table. */
  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }
}

interface TableInfoRow {
  readonly name: string;
  readonly type: string;
  readonly notnull: bigint;
  readonly pk: bigint;
}

interface ForeignKeyRow {
  readonly id: bigint;
  readonly table: string;
  readonly from: string;
  readonly to: string | null;
}

interface RawTable {
  readonly config: NormalizedSyncTable;
  readonly sqlName: string;
  readonly columns: readonly ColumnInfo[];
  readonly keyColumn: ColumnInfo;
  readonly foreignKeyGroups: readonly (readonly ForeignKeyRow[])[];
}

/**
 * Reads every configured table's metadata and validates the configuration against the schema.
 * Throws `config_invalid` naming the first problem; it only reads, so nothing is changed.
 */
export async function loadSyncSchema(db: SqliteExecutor, config: NormalizedSyncConfig): Promise<SyncSchema> {
  const raw: RawTable[] = [];
  for (const table of config.tables) raw.push(await readTable(db, table));
  const managed = new Set(raw.map((table) => table.config.tableName));

  const foreignKeysByTable = new Map<string, ForeignKeyInfo[]>();
  for (const table of raw) {
    const composite: string[] = [];
    const missing: string[] = [];
    const foreignKeys: ForeignKeyInfo[] = [];
    for (const group of table.foreignKeyGroups) {
      const first = group[0]!;
      const parentTable = first.table.toLowerCase();
      if (group.length > 1) {
        composite.push(`${table.config.tableName} -> ${parentTable}`);
        continue;
      }
      const parentColumn = (first.to ?? (await primaryKeyColumnOf(db, first.table)) ?? "rowid").toLowerCase();
      const column = first.from.toLowerCase();
      if (!managed.has(parentTable)) {
        missing.push(`${table.config.tableName}.${column} -> ${parentTable}.${parentColumn}`);
      }
      foreignKeys.push({ column, parentTable, parentColumn });
    }
    if (composite.length > 0) {
      throw configError(
        `managed tables contain unsupported composite foreign keys: ${composite.sort().join("; ")}; use single-column foreign keys between synced tables`,
      );
    }
    if (missing.length > 0) {
      throw configError(
        `managed tables are not FK-closed: ${missing.sort().join("; ")}; add the referenced tables to config.syncTables or drop the foreign keys`,
      );
    }
    foreignKeysByTable.set(table.config.tableName, foreignKeys);
  }

  const ranks = dependencyRanks(
    raw.map((table) => table.config.tableName),
    foreignKeysByTable,
  );
  const tables = raw.map((table): ManagedTable => {
    const name = table.config.tableName;
    return {
      name,
      sqlName: table.sqlName,
      keyColumn: table.keyColumn,
      columns: table.columns,
      columnsByPayloadName: new Map(table.columns.map((column) => [column.payloadName, column])),
      foreignKeys: foreignKeysByTable.get(name) ?? [],
      dependencyRank: ranks.get(name)!,
    };
  });
  return new SyncSchema(config.schema, tables);
}

async function readTable(db: SqliteExecutor, table: NormalizedSyncTable): Promise<RawTable> {
  const name = table.configuredName;
  const found = await db.query<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = ?",
    [table.tableName],
  );
  const sqlName = found[0]?.name;
  if (sqlName === undefined) {
    throw configError(`table ${name} does not exist in the local database; create it before opening sync`);
  }
  const infoRows = await db.query<TableInfoRow>(
    'SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid',
    [sqlName],
  );
  const foreignKeyRows = await db.query<ForeignKeyRow>(
    'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq',
    [sqlName],
  );
  if (infoRows.some((column) => column.name.toLowerCase() === HIDDEN_SCOPE_COLUMN)) {
    throw configError(
      `table ${name} must not declare reserved server column ${HIDDEN_SCOPE_COLUMN}; the server adds it, remove it from the local table`,
    );
  }
  const foreignKeyColumns = new Set(foreignKeyRows.map((row) => row.from.toLowerCase()));
  const columns = infoRows.map(
    (row): ColumnInfo => ({
      name: row.name,
      payloadName: row.name.toLowerCase(),
      declaredType: row.type,
      kind: columnKindOf(row.type, row.pk > 0n || foreignKeyColumns.has(row.name.toLowerCase())),
      notNull: row.notnull !== 0n,
      primaryKeyPosition: Number(row.pk),
    }),
  );
  const keyColumn = checkKeyColumn(name, table.keyColumn, columns);
  const groups = new Map<bigint, ForeignKeyRow[]>();
  for (const row of foreignKeyRows) groups.set(row.id, [...(groups.get(row.id) ?? []), row]);
  return { config: table, sqlName, columns, keyColumn, foreignKeyGroups: [...groups.values()] };
}

function checkKeyColumn(table: string, configured: string, columns: readonly ColumnInfo[]): ColumnInfo {
  const primaryKey = columns.filter((column) => column.primaryKeyPosition > 0);
  if (primaryKey.length !== 1) {
    throw configError(
      `table ${table} must declare exactly one local SQLite PRIMARY KEY column for sync (it has ${primaryKey.length})`,
    );
  }
  const column = columns.find((candidate) => candidate.payloadName === configured.toLowerCase());
  if (column === undefined) {
    throw configError(
      `table ${table} does not contain configured primary key column ${configured}; name the table's primary-key column in the sync config`,
    );
  }
  if (column !== primaryKey[0]) {
    throw configError(
      `configured sync key column ${column.name} of table ${table} is not its PRIMARY KEY; configure ${primaryKey[0]!.name} instead`,
    );
  }
  if (column.kind !== "TEXT" && column.kind !== "UUID_BLOB") {
    throw configError(
      `configured primary key column ${column.name} of table ${table} is ${column.declaredType || "untyped"}; sync keys must be TEXT PRIMARY KEY or BLOB PRIMARY KEY (UUID bytes)`,
    );
  }
  if (!column.notNull) {
    throw configError(
      `sync key column ${column.name} of table ${table} must declare NOT NULL explicitly; repair or recreate the local application database before sync initialization`,
    );
  }
  return column;
}

async function primaryKeyColumnOf(db: SqliteExecutor, table: string): Promise<string | undefined> {
  const rows = await db.query<{ name: string }>("SELECT name FROM pragma_table_info(?) WHERE pk = 1", [
    table,
  ]);
  return rows[0]?.name;
}

/**
 * Parent-first order (Kahn's algorithm): among tables whose parents are all placed, the earliest
 * configured goes next; self references are ignored; tables left in cycles follow in configuration
 * order.
 */
function dependencyRanks(
  names: readonly string[],
  foreignKeysByTable: ReadonlyMap<string, readonly ForeignKeyInfo[]>,
): Map<string, number> {
  const parents = new Map<string, Set<string>>();
  for (const name of names) {
    const own = (foreignKeysByTable.get(name) ?? [])
      .map((foreignKey) => foreignKey.parentTable)
      .filter((parent) => parent !== name);
    parents.set(name, new Set(own));
  }
  const placed: string[] = [];
  const remaining = [...names];
  for (;;) {
    const next = remaining.find((name) => [...parents.get(name)!].every((parent) => placed.includes(parent)));
    if (next === undefined) break;
    placed.push(next);
    remaining.splice(remaining.indexOf(next), 1);
  }
  placed.push(...remaining);
  return new Map(placed.map((name, index) => [name, index]));
}
