/**
 * Fail-closed validation of the registered tables. Every table must fit the envelope the runtime
 * relies on; each problem found is collected, and bootstrap refuses with one UnsupportedSchemaError
 * listing them all.
 *
 * The envelope: an ordinary table with lower-case names; a hidden owner column `_sync_scope_id text
 * NOT NULL`; exactly one NOT NULL sync key of type uuid or text; plain visible columns of types the
 * column codec carries; unique indexes that all include the owner column (one of them exactly
 * (owner, key)) and are neither partial nor on expressions; foreign keys that stay inside the
 * registered set, include the owner column, target the parent's sync key, are DEFERRABLE, and use
 * actions that cannot move a row to another scope.
 */
import { HIDDEN_SCOPE_COLUMN } from "@oversync/protocol";
import { type ColumnCodec, UnsupportedColumnTypeError, describeColumn } from "../codec/column-codec.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { type SchemaRule, type SchemaViolation, UnsupportedSchemaError } from "./schema-errors.js";

/** A table the host registers for sync. `syncKeyColumns` must name exactly one column. */
export interface TableRegistration {
  readonly schema: string;
  readonly table: string;
  readonly syncKeyColumns: readonly string[];
}

/** The type of a sync key column. */
export type SyncKeyKind = "uuid" | "text";

/** A registered table that passed validation, with a codec per visible column. */
export interface ValidatedTable {
  readonly schema: string;
  readonly table: string;
  readonly keyColumn: string;
  readonly keyKind: SyncKeyKind;
  /** Visible columns (every column but `_sync_scope_id`) in table order. */
  readonly columns: readonly ColumnCodec[];
}

interface CatalogColumn {
  attnum: number;
  name: string;
  type_name: string;
  typmod: number;
  not_null: boolean;
  has_default: boolean;
  generated: string;
  identity: string;
}

interface CatalogIndex {
  name: string;
  partial: boolean;
  expression: boolean;
  columns: string[];
}

interface CatalogForeignKey {
  name: string;
  target_schema: string;
  target_table: string;
  deferrable: boolean;
  delete_action: string;
  update_action: string;
  match_type: string;
  columns: string[];
  target_columns: string[];
  delete_set_columns: number[] | null;
}

const ACTION_NAMES: Readonly<Record<string, string>> = {
  a: "NO ACTION",
  r: "RESTRICT",
  c: "CASCADE",
  n: "SET NULL",
  d: "SET DEFAULT",
};

/**
 * Validates the registrations against the live catalog. Returns one ValidatedTable per
 * registration, sorted by `schema.table`, or throws UnsupportedSchemaError listing every violation.
 */
export async function validateRegisteredTables(
  client: SqlQueryable,
  registrations: readonly TableRegistration[],
): Promise<ValidatedTable[]> {
  const violations: SchemaViolation[] = [];
  const add = (schema: string, table: string, rule: SchemaRule, message: string) =>
    violations.push({ schema, table, rule, message });

  if (registrations.length === 0) {
    add("", "", "registration", "no tables are registered; register at least one table");
  }
  const seen = new Set<string>();
  const registered = new Map<string, TableRegistration>();
  for (const registration of registrations) {
    const { schema, table } = registration;
    const name = `${schema}.${table}`;
    if (seen.has(name)) {
      add(schema, table, "registration", "is registered more than once; register each table once");
      continue;
    }
    seen.add(name);
    if (schema === "" || table === "") {
      add(schema, table, "registration", "schema and table names must be non-empty");
      continue;
    }
    if (registration.syncKeyColumns.length !== 1) {
      add(
        schema,
        table,
        "registration",
        `syncKeyColumns names ${registration.syncKeyColumns.length} columns; register exactly one sync key column`,
      );
    }
    registered.set(name, registration);
  }

  const tables: ValidatedTable[] = [];
  for (const registration of [...registered.values()].sort(compareRegistrations)) {
    const table = await validateTable(client, registration, registered, add);
    if (table !== undefined) tables.push(table);
  }
  if (violations.length > 0) throw new UnsupportedSchemaError(violations);
  return tables;
}

function compareRegistrations(a: TableRegistration, b: TableRegistration): number {
  const left = `${a.schema}.${a.table}`;
  const right = `${b.schema}.${b.table}`;
  return left < right ? -1 : left > right ? 1 : 0;
}

type AddViolation = (schema: string, table: string, rule: SchemaRule, message: string) => void;

async function validateTable(
  client: SqlQueryable,
  registration: TableRegistration,
  registered: ReadonlyMap<string, TableRegistration>,
  add: AddViolation,
): Promise<ValidatedTable | undefined> {
  const { schema, table } = registration;
  const fail = (rule: SchemaRule, message: string) => add(schema, table, rule, message);
  for (const name of [schema, table]) {
    if (name !== name.toLowerCase()) {
      fail(
        "lowercase_names",
        `name ${JSON.stringify(name)} must be lower-case; clients send lower-case names`,
      );
    }
  }

  const { rows: relations } = await client.query<{ oid: number; relkind: string }>(
    `SELECT c.oid::int AS oid, c.relkind::text AS relkind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  const relation = relations[0];
  if (relation === undefined) {
    fail("table_exists", "does not exist; create it before bootstrap or remove the registration");
    return undefined;
  }
  if (relation.relkind !== "r") {
    fail(
      "table_exists",
      "is not an ordinary table (views, partitioned and foreign tables are not supported)",
    );
    return undefined;
  }

  const columns = await readColumns(client, relation.oid);
  const byName = new Map(columns.map((column) => [column.name, column]));

  const scope = byName.get(HIDDEN_SCOPE_COLUMN);
  if (scope === undefined) {
    fail("scope_column", `has no ${HIDDEN_SCOPE_COLUMN} column; add "${HIDDEN_SCOPE_COLUMN} text NOT NULL"`);
  } else if (scope.type_name !== "text" || !scope.not_null) {
    fail(
      "scope_column",
      `column ${HIDDEN_SCOPE_COLUMN} is ${scope.type_name}${scope.not_null ? " NOT NULL" : " (nullable)"}; it must be "text NOT NULL"`,
    );
  }

  const keyColumn = registration.syncKeyColumns.length === 1 ? registration.syncKeyColumns[0]! : undefined;
  let keyKind: SyncKeyKind | undefined;
  if (keyColumn !== undefined) {
    const key = byName.get(keyColumn);
    if (keyColumn === HIDDEN_SCOPE_COLUMN) {
      fail("sync_key", `the sync key cannot be the hidden ${HIDDEN_SCOPE_COLUMN} column`);
    } else if (key === undefined) {
      fail("sync_key", `sync key column ${JSON.stringify(keyColumn)} does not exist`);
    } else if (key.type_name !== "uuid" && key.type_name !== "text") {
      fail(
        "sync_key",
        `sync key column ${JSON.stringify(keyColumn)} is ${key.type_name}; it must be uuid or text`,
      );
    } else if (!key.not_null) {
      fail("sync_key", `sync key column ${JSON.stringify(keyColumn)} must be NOT NULL`);
    } else {
      keyKind = key.type_name;
    }
  }

  const codecs: ColumnCodec[] = [];
  for (const column of columns) {
    if (column.name === HIDDEN_SCOPE_COLUMN) continue;
    if (column.name !== column.name.toLowerCase()) {
      fail("lowercase_names", `column ${JSON.stringify(column.name)} must have a lower-case name`);
    }
    if (column.generated !== "") {
      fail(
        "writable_columns",
        `column ${JSON.stringify(column.name)} is generated; clients write every column`,
      );
    }
    if (column.identity === "a") {
      fail(
        "writable_columns",
        `column ${JSON.stringify(column.name)} is GENERATED ALWAYS AS IDENTITY; use GENERATED BY DEFAULT or a plain column`,
      );
    }
    try {
      codecs.push(
        describeColumn({
          name: column.name,
          dataType: column.type_name,
          typmod: column.typmod,
          notNull: column.not_null,
          hasDefault: column.has_default,
        }),
      );
    } catch (error) {
      if (!(error instanceof UnsupportedColumnTypeError)) throw error;
      fail("column_type", error.message);
    }
  }

  await checkUniqueIndexes(client, relation.oid, keyColumn, fail);
  await checkForeignKeys(client, relation.oid, columns, registered, fail);

  if (keyColumn === undefined || keyKind === undefined) return undefined;
  return { schema, table, keyColumn, keyKind, columns: codecs };
}

async function readColumns(client: SqlQueryable, oid: number): Promise<CatalogColumn[]> {
  // Only built-in types go to the codec by bare name; a domain or user type keeps its schema so
  // the codec reports it instead of mistaking it for a built-in of the same name.
  const { rows } = await client.query<CatalogColumn>(
    `SELECT a.attnum::int AS attnum, a.attname::text AS name,
            CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype = 'b'
                 THEN t.typname::text ELSE format_type(a.atttypid, NULL) END AS type_name,
            a.atttypmod::int AS typmod, a.attnotnull AS not_null,
            (a.atthasdef OR a.attidentity <> '') AS has_default,
            a.attgenerated::text AS generated, a.attidentity::text AS identity
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  return rows;
}

async function checkUniqueIndexes(
  client: SqlQueryable,
  oid: number,
  keyColumn: string | undefined,
  fail: (rule: SchemaRule, message: string) => void,
): Promise<void> {
  const { rows: indexes } = await client.query<CatalogIndex>(
    `SELECT i.indexrelid::regclass::text AS name,
            i.indpred IS NOT NULL AS partial,
            i.indexprs IS NOT NULL AS expression,
            ARRAY(SELECT a.attname::text
                    FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE k.ord <= i.indnkeyatts
                   ORDER BY k.ord) AS columns
       FROM pg_index i
      WHERE i.indrelid = $1 AND i.indisunique
      ORDER BY 1`,
    [oid],
  );
  let hasKeyIndex = false;
  for (const index of indexes) {
    if (index.partial) {
      fail("unique_keys", `unique index ${index.name} is partial; partial unique indexes are not supported`);
      continue;
    }
    if (index.expression) {
      fail("unique_keys", `unique index ${index.name} is on an expression; index plain columns only`);
      continue;
    }
    if (!index.columns.includes(HIDDEN_SCOPE_COLUMN)) {
      fail(
        "unique_keys",
        `unique index ${index.name} (${index.columns.join(", ")}) does not include ${HIDDEN_SCOPE_COLUMN}; every unique key must be per scope`,
      );
      continue;
    }
    if (
      keyColumn !== undefined &&
      index.columns.length === 2 &&
      index.columns.includes(keyColumn) &&
      keyColumn !== HIDDEN_SCOPE_COLUMN
    ) {
      hasKeyIndex = true;
    }
  }
  if (keyColumn !== undefined && !hasKeyIndex) {
    fail(
      "unique_keys",
      `needs a unique index or primary key on exactly (${HIDDEN_SCOPE_COLUMN}, ${keyColumn})`,
    );
  }
}

async function checkForeignKeys(
  client: SqlQueryable,
  oid: number,
  columns: readonly CatalogColumn[],
  registered: ReadonlyMap<string, TableRegistration>,
  fail: (rule: SchemaRule, message: string) => void,
): Promise<void> {
  // confdelsetcols (PostgreSQL 15+) is read through to_jsonb so older servers simply report none.
  const { rows: foreignKeys } = await client.query<CatalogForeignKey>(
    `SELECT con.conname::text AS name, tn.nspname::text AS target_schema, tc.relname::text AS target_table,
            con.condeferrable AS deferrable, con.confdeltype::text AS delete_action,
            con.confupdtype::text AS update_action, con.confmatchtype::text AS match_type,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS target_columns,
            CASE WHEN jsonb_typeof(to_jsonb(con) -> 'confdelsetcols') = 'array'
                 THEN ARRAY(SELECT value::int FROM jsonb_array_elements_text(to_jsonb(con) -> 'confdelsetcols'))
            END AS delete_set_columns
       FROM pg_constraint con
       JOIN pg_class tc ON tc.oid = con.confrelid
       JOIN pg_namespace tn ON tn.oid = tc.relnamespace
      WHERE con.conrelid = $1 AND con.contype = 'f'
      ORDER BY con.conname`,
    [oid],
  );
  const attnumNames = new Map(columns.map((column) => [column.attnum, column.name]));
  for (const fk of foreignKeys) {
    const what = `foreign key ${fk.name}`;
    const target = registered.get(`${fk.target_schema}.${fk.target_table}`);
    if (target === undefined) {
      fail(
        "fk_closed",
        `${what} references ${fk.target_schema}.${fk.target_table}, which is not registered; register it too or drop the foreign key`,
      );
      continue;
    }
    const pairs = fk.columns.map((column, index) => [column, fk.target_columns[index]!] as const);
    const scopePair = pairs.some(([from, to]) => from === HIDDEN_SCOPE_COLUMN && to === HIDDEN_SCOPE_COLUMN);
    const targetKey = target.syncKeyColumns.length === 1 ? target.syncKeyColumns[0] : undefined;
    const keyPair = pairs.some(([from, to]) => from !== HIDDEN_SCOPE_COLUMN && to === targetKey);
    if (pairs.length !== 2 || !scopePair || !keyPair) {
      fail(
        "fk_scope",
        `${what} (${fk.columns.join(", ")}) -> (${fk.target_columns.join(", ")}) must be exactly (${HIDDEN_SCOPE_COLUMN}, <column>) -> (${HIDDEN_SCOPE_COLUMN}, ${targetKey ?? "<sync key>"})`,
      );
    }
    if (!fk.deferrable) {
      fail("fk_deferrable", `${what} must be DEFERRABLE (INITIALLY DEFERRED or IMMEDIATE)`);
    }
    if (fk.match_type === "f" || fk.match_type === "p") {
      fail(
        "fk_actions",
        `${what} uses MATCH ${fk.match_type === "f" ? "FULL" : "PARTIAL"}; use MATCH SIMPLE`,
      );
    }
    const deleteAction = ACTION_NAMES[fk.delete_action] ?? fk.delete_action;
    if (fk.delete_action === "n" || fk.delete_action === "d") {
      // A plain SET NULL / SET DEFAULT would also reset the owner column and move the row out of
      // its scope; only the column-list form that leaves the owner alone is safe.
      const setColumns = (fk.delete_set_columns ?? []).map((attnum) => attnumNames.get(attnum));
      if (setColumns.length === 0 || setColumns.includes(HIDDEN_SCOPE_COLUMN)) {
        const local = fk.columns.find((column) => column !== HIDDEN_SCOPE_COLUMN) ?? "<column>";
        fail(
          "fk_actions",
          `${what} uses ON DELETE ${deleteAction}, which would also reset ${HIDDEN_SCOPE_COLUMN}; write ON DELETE ${deleteAction} (${local})`,
        );
      }
    } else if (!(fk.delete_action in ACTION_NAMES)) {
      fail("fk_actions", `${what} has an unknown ON DELETE action ${JSON.stringify(fk.delete_action)}`);
    }
    if (fk.update_action === "n" || fk.update_action === "d") {
      fail(
        "fk_actions",
        `${what} uses ON UPDATE ${ACTION_NAMES[fk.update_action]}, which would reset ${HIDDEN_SCOPE_COLUMN}; use NO ACTION, RESTRICT or CASCADE`,
      );
    } else if (!(fk.update_action in ACTION_NAMES)) {
      fail("fk_actions", `${what} has an unknown ON UPDATE action ${JSON.stringify(fk.update_action)}`);
    }
  }
}
