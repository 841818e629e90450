/**
 * What a push that breaks a rule of the business schema is answered with. A foreign key broken
 * by one pushed row is the protocol's own conflict on that row, so every client settles it with
 * its resolver instead of retrying a push that can never apply:
 * - a pushed child whose parent does not exist (another device deleted it): `push_conflict` on the
 *   child, with the server's state of that child (usually none: version 0, no row);
 * - a pushed delete of a parent that rows on the server still reference: `push_conflict` on the
 *   parent, with its live server row.
 * Anything else (a unique value another row holds, a CHECK, a NOT NULL) is 400
 * `push_commit_invalid` naming the table and columns. PostgreSQL's own message never goes over the
 * wire: it names internal columns and constraints.
 */
import { HIDDEN_SCOPE_COLUMN, OversyncError } from "@oversync/protocol";
import { sqlState } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { OP_CODES } from "../schema/op-codes.js";
import type { RegisteredTable, TableDirectory } from "../schema/table-catalog.js";
import type { StagedRow } from "./push-rows.js";

/** The parts of a driver error this module reads (node-postgres and PGlite both set them). */
interface DatabaseError {
  readonly message: string;
  readonly detail?: string;
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
}

/**
 * The pushed row behind a foreign-key violation (SQLSTATE 23503) raised while committing `rows`
 * for `scopeId`. Reads the constraint's definition; run it after rolling back to a savepoint taken
 * before the rows were applied.
 */
export async function rowBreakingForeignKey(
  client: SqlQueryable,
  directory: TableDirectory,
  scopeId: string,
  rows: readonly StagedRow[],
  error: unknown,
): Promise<StagedRow | undefined> {
  if (sqlState(error) !== "23503") return undefined;
  const { detail, constraint } = error as DatabaseError;
  const parsed = detail === undefined ? undefined : parseKeyDetail(detail, scopeId);
  if (parsed === undefined || constraint === undefined) return undefined;
  const { rows: definitions } = await client.query<{
    child_schema: string;
    child_table: string;
    child_column: string;
    parent_schema: string;
    parent_table: string;
    parent_column: string;
  }>(
    `SELECT cn.nspname AS child_schema, cc.relname AS child_table, ca.attname AS child_column,
            pn.nspname AS parent_schema, pc.relname AS parent_table, pa.attname AS parent_column
       FROM pg_constraint c
       JOIN pg_class cc ON cc.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
       JOIN pg_class pc ON pc.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
       JOIN unnest(c.conkey, c.confkey) AS k(child_attnum, parent_attnum) ON true
       JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_attnum
       JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_attnum
      WHERE c.contype = 'f' AND c.conname = $1`,
    [constraint],
  );
  // The detail names the child's columns for a missing parent, the parent's for a kept reference.
  for (const fk of definitions) {
    if ((parsed.missingParent ? fk.child_column : fk.parent_column) !== parsed.column) continue;
    const child = directory.byName(fk.child_schema, fk.child_table);
    const parent = directory.byName(fk.parent_schema, fk.parent_table);
    if (child === undefined || parent === undefined) continue;
    if (parsed.missingParent) {
      const orphan = rows.find(
        (row) =>
          row.table === child &&
          row.op !== OP_CODES.DELETE &&
          payloadValue(row, fk.child_column) === parsed.value,
      );
      if (orphan !== undefined) return orphan;
    } else if (fk.parent_column === parent.keyColumn) {
      const parentDelete = rows.find(
        (row) => row.table === parent && row.op === OP_CODES.DELETE && row.keyText === parsed.value,
      );
      if (parentDelete !== undefined) return parentDelete;
    }
  }
  return undefined;
}

/** 400 push_commit_invalid describing a broken rule without PostgreSQL's text. */
export function commitRuleViolation(directory: TableDirectory, error: unknown): OversyncError {
  const { schema, table, column, detail } = error as DatabaseError;
  const registered: RegisteredTable | undefined =
    schema !== undefined && table !== undefined ? directory.byName(schema, table) : undefined;
  const where =
    registered === undefined ? "a pushed row" : `a pushed row of ${registered.schema}.${registered.table}`;
  const columns = detail === undefined ? undefined : visibleColumns(detail);
  const on = column ?? columns;
  const rule = (() => {
    switch (sqlState(error)) {
      case "23505":
        return `repeats a value that must be unique${on ? ` (${on})` : ""}; another row already holds it`;
      case "23503":
        return "breaks a foreign key: it references a row that does not exist, or deletes one that rows still reference";
      case "23502":
        return `leaves a required value empty${on ? ` (${on})` : ""}`;
      case "23514":
        return "breaks a CHECK rule of the table";
      default:
        return "breaks a rule of the business schema";
    }
  })();
  return new OversyncError(
    "push_commit_invalid",
    `${where} ${rule}; change or discard that row locally and push again`,
  );
}

/** `Key (a, b)=(x, y) is not present in table "t".` → the non-scope column and its value. */
function parseKeyDetail(
  detail: string,
  scopeId: string,
): { column: string; value: string; missingParent: boolean } | undefined {
  const match = /^Key \((.+?)\)=\((.*)\) (is not present in table|is still referenced from table) /s.exec(
    detail,
  );
  if (match === null) return undefined;
  const columns = match[1]!.split(", ");
  const values = match[2]!;
  const scope = columns.indexOf(HIDDEN_SCOPE_COLUMN);
  if (columns.length !== 2 || scope === -1) return undefined;
  const column = columns[1 - scope]!;
  let value: string;
  if (scope === 0 && values.startsWith(`${scopeId}, `)) value = values.slice(scopeId.length + 2);
  else if (scope === 1 && values.endsWith(`, ${scopeId}`)) value = values.slice(0, -(scopeId.length + 2));
  else return undefined;
  return { column, value, missingParent: match[3] === "is not present in table" };
}

/** The columns a `Key (…)=(…)` detail names, without the scope column. */
function visibleColumns(detail: string): string | undefined {
  const match = /^Key \((.+?)\)=/.exec(detail);
  if (match === null) return undefined;
  const columns = match[1]!.split(", ").filter((name) => name !== HIDDEN_SCOPE_COLUMN);
  return columns.length === 0 ? undefined : columns.join(", ");
}

function payloadValue(row: StagedRow, column: string): unknown {
  return row.payloadWire === null
    ? undefined
    : (JSON.parse(row.payloadWire) as Record<string, unknown>)[column];
}
