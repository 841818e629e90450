/**
 * The default example application the reference server syncs: schema `business` with the eight
 * tables of the `business-rich-v0` contract, the shape the upstream KMP and Dart live suites push and
 * pull (protocol-latest §5). The table description here serves every built-in example
 * (samplesync-schema.ts uses it too): one description drives both the DDL and the check of an
 * existing schema, so the two cannot drift apart.
 *
 * Every table is owned per user: `_sync_scope_id text NOT NULL` leads the primary key and every
 * foreign key, and every foreign key is DEFERRABLE INITIALLY DEFERRED so a bundle may arrive in any
 * row order (the teams <-> team_members cycle needs that).
 */
import { EXAMPLE_SERVER_APP_NAME } from "@oversync/protocol";
import type { SqlQueryable } from "@oversync/server";

/** The `app_name` the upstream live suites require from `/syncx/status`. */
export const EXAMPLE_APP_NAME = EXAMPLE_SERVER_APP_NAME;

/** The PostgreSQL schema holding the example tables. */
export const EXAMPLE_SCHEMA = "business";

/** One column: its PostgreSQL type as `format_type` prints it. */
export interface ExampleColumn {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
  /** Filled in by PostgreSQL when an insert leaves it out. */
  readonly defaultNow?: true;
  /** A constant default as SQL (e.g. `true`), for server-side inserts that leave the column out. */
  readonly defaultValue?: string;
}

/** A foreign key `(_sync_scope_id, column)` -> `table(_sync_scope_id, id)`. */
export interface ExampleForeignKey {
  readonly column: string;
  readonly table: string;
  readonly onDelete: "CASCADE" | "NO ACTION";
}

/** An index on `(_sync_scope_id, ...columns)`; a unique one is unique per user, as sync requires. */
export interface ExampleIndex {
  readonly columns: readonly string[];
  readonly unique?: true;
}

/** One example table; its sync key is `id`. */
export interface ExampleTable {
  readonly name: string;
  /** Visible columns, `id` first; `_sync_scope_id` is added to every table. */
  readonly columns: readonly ExampleColumn[];
  readonly foreignKeys: readonly ExampleForeignKey[];
  /** Indexes beyond the primary key: created when missing, not part of the shape check. */
  readonly indexes?: readonly ExampleIndex[];
}

const id: ExampleColumn = { name: "id", type: "uuid", nullable: false };
const text = (name: string, nullable = false): ExampleColumn => ({ name, type: "text", nullable });
const uuidRef = (name: string, nullable: boolean): ExampleColumn => ({ name, type: "uuid", nullable });
const stamp = (name: string): ExampleColumn => ({
  name,
  type: "timestamp with time zone",
  nullable: false,
  defaultNow: true,
});

/** The eight tables, parents before children (the teams/team_members cycle aside). */
export const EXAMPLE_TABLES: readonly ExampleTable[] = [
  {
    name: "users",
    columns: [id, text("name"), text("email"), stamp("created_at"), stamp("updated_at")],
    foreignKeys: [],
  },
  {
    name: "posts",
    columns: [
      id,
      text("title"),
      text("content"),
      uuidRef("author_id", true),
      stamp("created_at"),
      stamp("updated_at"),
    ],
    foreignKeys: [{ column: "author_id", table: "users", onDelete: "NO ACTION" }],
  },
  {
    name: "categories",
    columns: [id, text("name"), uuidRef("parent_id", true)],
    foreignKeys: [{ column: "parent_id", table: "categories", onDelete: "CASCADE" }],
  },
  {
    name: "teams",
    columns: [id, text("name"), uuidRef("captain_member_id", true)],
    foreignKeys: [{ column: "captain_member_id", table: "team_members", onDelete: "NO ACTION" }],
  },
  {
    name: "team_members",
    columns: [id, text("name"), uuidRef("team_id", false)],
    foreignKeys: [{ column: "team_id", table: "teams", onDelete: "CASCADE" }],
  },
  {
    name: "files",
    columns: [id, text("name"), { name: "data", type: "bytea", nullable: false }],
    foreignKeys: [],
  },
  {
    name: "file_reviews",
    columns: [id, text("review"), uuidRef("file_id", false)],
    foreignKeys: [{ column: "file_id", table: "files", onDelete: "CASCADE" }],
  },
  {
    name: "typed_rows",
    columns: [
      id,
      text("name"),
      text("note", true),
      { name: "count_value", type: "bigint", nullable: true },
      { name: "small_count", type: "smallint", nullable: true },
      { name: "medium_count", type: "integer", nullable: true },
      { name: "exact_amount", type: "numeric(30,10)", nullable: true },
      { name: "enabled_flag", type: "boolean", nullable: false },
      { name: "rating", type: "double precision", nullable: true },
      { name: "float4_value", type: "real", nullable: true },
      { name: "data", type: "bytea", nullable: true },
      { name: "created_at", type: "timestamp with time zone", nullable: true },
    ],
    foreignKeys: [],
  },
];

/** A table registration for the sync service (the shape of the server's TableRegistration). */
export interface ExampleRegistration {
  readonly schema: string;
  readonly table: string;
  readonly syncKeyColumns: readonly string[];
}

/** The tables the reference server registers: all eight, keyed by `id`. */
export const EXAMPLE_REGISTERED_TABLES: readonly ExampleRegistration[] = EXAMPLE_TABLES.map((table) => ({
  schema: EXAMPLE_SCHEMA,
  table: table.name,
  syncKeyColumns: ["id"],
}));

/** The idempotent DDL of the business example (see tablesDdl). */
export function exampleSchemaDdl(): string {
  return tablesDdl(EXAMPLE_SCHEMA, EXAMPLE_TABLES);
}

/**
 * Idempotent DDL for `tables` in `schema`: tables with IF NOT EXISTS, then each foreign key unless
 * already present, then the indexes.
 */
export function tablesDdl(schema: string, tables: readonly ExampleTable[]): string {
  const statements = [`CREATE SCHEMA IF NOT EXISTS ${schema};`];
  for (const table of tables) {
    const columns = table.columns.map((column) => {
      let sql = `  ${column.name} ${column.type}${column.nullable ? "" : " NOT NULL"}`;
      if (column.defaultNow) sql += " DEFAULT now()";
      if (column.defaultValue !== undefined) sql += ` DEFAULT ${column.defaultValue}`;
      return sql;
    });
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${schema}.${table.name} (\n` +
        `  _sync_scope_id text NOT NULL,\n${columns.join(",\n")},\n` +
        `  CONSTRAINT ${table.name}_pkey PRIMARY KEY (_sync_scope_id, id)\n);`,
    );
  }
  // Foreign keys come last so a cycle (business: teams <-> team_members) can be closed.
  for (const table of tables) {
    for (const key of table.foreignKeys) {
      const name = foreignKeyName(table.name, key.column);
      statements.push(
        `DO $$ BEGIN\n  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = '${name}'` +
          ` AND conrelid = '${schema}.${table.name}'::regclass) THEN\n` +
          `    ALTER TABLE ${schema}.${table.name} ADD CONSTRAINT ${name}\n` +
          `      FOREIGN KEY (_sync_scope_id, ${key.column}) REFERENCES ${schema}.${key.table} (_sync_scope_id, id)\n` +
          `      ON DELETE ${key.onDelete} DEFERRABLE INITIALLY DEFERRED;\n  END IF;\nEND $$;`,
      );
    }
    for (const index of table.indexes ?? []) {
      const name = `${table.name}_${index.columns.join("_")}_${index.unique ? "key" : "idx"}`;
      statements.push(
        `CREATE ${index.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${name}` +
          ` ON ${schema}.${table.name} (_sync_scope_id, ${index.columns.join(", ")});`,
      );
    }
  }
  return statements.join("\n");
}

function foreignKeyName(table: string, column: string): string {
  return `${table}_${column}_fkey`;
}

/** A table as the catalog describes it. */
export interface CatalogTable {
  readonly name: string;
  readonly columns: readonly { name: string; type: string; nullable: boolean }[];
  readonly primaryKey: readonly string[];
  readonly foreignKeys: readonly CatalogForeignKey[];
}

/** A foreign key as the catalog describes it. */
export interface CatalogForeignKey {
  readonly columns: readonly string[];
  readonly targetTable: string;
  readonly targetColumns: readonly string[];
  readonly onDelete: string;
  readonly deferrable: boolean;
  readonly initiallyDeferred: boolean;
}

const DELETE_ACTIONS: Readonly<Record<string, string>> = {
  a: "NO ACTION",
  r: "RESTRICT",
  c: "CASCADE",
  n: "SET NULL",
  d: "SET DEFAULT",
};

/** Reads the ordinary tables of `schema` from pg_catalog, sorted by name. */
export async function readSchemaCatalog(db: SqlQueryable, schema: string): Promise<CatalogTable[]> {
  const columns = await db.query<{ table: string; name: string; type: string; not_null: boolean }>(
    `SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [schema],
  );
  const constraints = await db.query<{
    table: string;
    kind: string;
    columns: string[];
    target_table: string | null;
    target_columns: string[] | null;
    delete_action: string;
    deferrable: boolean;
    deferred: boolean;
  }>(
    `SELECT c.relname AS table, k.contype AS kind,
            ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                   ORDER BY u.ord) AS columns,
            t.relname::text AS target_table,
            CASE WHEN k.contype = 'f' THEN
              ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
                     ORDER BY u.ord)
            END AS target_columns,
            k.confdeltype::text AS delete_action, k.condeferrable AS deferrable, k.condeferred AS deferred
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class t ON t.oid = k.confrelid
      WHERE n.nspname = $1 AND k.contype IN ('p', 'f')
      ORDER BY c.relname, k.conname`,
    [schema],
  );
  const tables = new Map<string, CatalogTable & { columns: CatalogTable["columns"][number][] }>();
  for (const row of columns.rows) {
    let table = tables.get(row.table);
    if (table === undefined) {
      table = { name: row.table, columns: [], primaryKey: [], foreignKeys: [] };
      tables.set(row.table, table);
    }
    table.columns.push({ name: row.name, type: row.type, nullable: !row.not_null });
  }
  const result: CatalogTable[] = [];
  for (const table of [...tables.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const own = constraints.rows.filter((row) => row.table === table.name);
    result.push({
      ...table,
      primaryKey: own.find((row) => row.kind === "p")?.columns ?? [],
      foreignKeys: own
        .filter((row) => row.kind === "f")
        .map((row) => ({
          columns: row.columns,
          targetTable: row.target_table ?? "",
          targetColumns: row.target_columns ?? [],
          onDelete: DELETE_ACTIONS[row.delete_action] ?? row.delete_action,
          deferrable: row.deferrable,
          initiallyDeferred: row.deferred,
        })),
    });
  }
  return result;
}

/** Every way `catalog` differs from EXAMPLE_TABLES, as short sentences; empty when it matches. */
export function compareExampleSchema(catalog: readonly CatalogTable[]): string[] {
  return compareTables(EXAMPLE_TABLES, catalog);
}

/**
 * Every way `catalog` differs from `tables` (columns, nullability, primary key, foreign keys), as
 * short sentences; empty when it matches. Tables of the catalog not in `tables` are left alone, so
 * two examples may share one PostgreSQL schema.
 */
export function compareTables(tables: readonly ExampleTable[], catalog: readonly CatalogTable[]): string[] {
  const problems: string[] = [];
  for (const expected of tables) {
    const actual = catalog.find((table) => table.name === expected.name);
    if (actual === undefined) {
      problems.push(`table ${expected.name} is missing`);
      continue;
    }
    const wanted = [{ name: "_sync_scope_id", type: "text", nullable: false }, ...expected.columns];
    for (const column of wanted) {
      const found = actual.columns.find((candidate) => candidate.name === column.name);
      if (found === undefined) problems.push(`${expected.name}.${column.name} is missing`);
      else if (found.type !== column.type || found.nullable !== column.nullable) {
        problems.push(
          `${expected.name}.${column.name} is ${describeType(found)}, expected ${describeType(column)}`,
        );
      }
    }
    for (const column of actual.columns) {
      if (!wanted.some((candidate) => candidate.name === column.name)) {
        problems.push(`${expected.name}.${column.name} is not part of the example`);
      }
    }
    if (actual.primaryKey.join(",") !== "_sync_scope_id,id") {
      problems.push(
        `${expected.name} primary key is (${actual.primaryKey.join(", ")}), expected (_sync_scope_id, id)`,
      );
    }
    for (const key of expected.foreignKeys) {
      const found = actual.foreignKeys.some(
        (candidate) =>
          candidate.columns.join(",") === `_sync_scope_id,${key.column}` &&
          candidate.targetTable === key.table &&
          candidate.targetColumns.join(",") === "_sync_scope_id,id" &&
          candidate.onDelete === key.onDelete &&
          candidate.deferrable &&
          candidate.initiallyDeferred,
      );
      if (!found) {
        problems.push(
          `${expected.name} lacks FOREIGN KEY (_sync_scope_id, ${key.column}) -> ${key.table} ON DELETE ${key.onDelete} DEFERRABLE INITIALLY DEFERRED`,
        );
      }
    }
    if (actual.foreignKeys.length !== expected.foreignKeys.length) {
      problems.push(
        `${expected.name} has ${actual.foreignKeys.length} foreign keys, expected ${expected.foreignKeys.length}`,
      );
    }
  }
  return problems;
}

function describeType(column: { type: string; nullable: boolean }): string {
  return `${column.type}${column.nullable ? " NULL" : " NOT NULL"}`;
}
