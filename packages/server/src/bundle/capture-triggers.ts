/**
 * The triggers that make every write to a registered table part of a bundle.
 *
 * - `oversync_guard` (BEFORE each row): refuses writes made outside a bundle context and writes that
 *   touch another scope's rows; fills a missing owner on INSERT.
 * - `oversync_capture_{insert,update,delete}` (AFTER each statement, with transition tables): copy
 *   the statement's row effects into `sync.bundle_capture_stage`, one row per affected key, values
 *   stored with the column codec's capture SQL (row-payload.ts). Statement-level capture writes a
 *   whole batch with one INSERT … SELECT; cascades and rows written by other triggers run as their
 *   own statements and are captured the same way.
 * - `oversync_no_truncate`: TRUNCATE would bypass capture, so it is refused.
 *
 * Triggers are dropped and recreated at every bootstrap so they follow the current columns.
 */
import { HIDDEN_SCOPE_COLUMN } from "@oversync/protocol";
import { qualifiedName, quoteIdent } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { OP_CODES } from "../schema/op-codes.js";
import type { RegisteredTable } from "../schema/table-catalog.js";
import { payloadSql } from "./row-payload.js";

/**
 * The transaction-local setting that opens a bundle context with the bundle's scope id; read by the
 * guard trigger. Its name predates shared scopes and stays: installed triggers read it.
 */
export const BUNDLE_SCOPE_SETTING = "oversync.bundle_user_id";

/** SQLSTATE the guard raises for a write outside a bundle context. */
export const NO_BUNDLE_CONTEXT_SQLSTATE = "OV001";
/** SQLSTATE the guard raises for a write that touches another scope's row. */
export const FOREIGN_SCOPE_SQLSTATE = "OV002";
/** SQLSTATE raised for TRUNCATE of a registered table. */
export const TRUNCATE_SQLSTATE = "OV003";

const GUARD_FUNCTION = `
CREATE OR REPLACE FUNCTION sync.guard_registered_row() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  owner text := current_setting('${BUNDLE_SCOPE_SETTING}', true);
BEGIN
  IF owner IS NULL OR owner = '' THEN
    PERFORM nextval('sync.rejected_registered_write_seq');
    RAISE EXCEPTION 'write to registered table %.% outside an oversync bundle; write through a push or a sync bundle',
      TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = '${NO_BUNDLE_CONTEXT_SQLSTATE}';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.${HIDDEN_SCOPE_COLUMN} IS NULL OR NEW.${HIDDEN_SCOPE_COLUMN} = '' THEN
      NEW.${HIDDEN_SCOPE_COLUMN} := owner;
    ELSIF NEW.${HIDDEN_SCOPE_COLUMN} <> owner THEN
      RAISE EXCEPTION 'insert into %.% names another scope than the bundle''s', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '${FOREIGN_SCOPE_SQLSTATE}';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.${HIDDEN_SCOPE_COLUMN} IS DISTINCT FROM owner
     OR (TG_OP = 'UPDATE' AND NEW.${HIDDEN_SCOPE_COLUMN} IS DISTINCT FROM owner) THEN
    RAISE EXCEPTION '% on %.% touches a row of another scope than the bundle''s', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = '${FOREIGN_SCOPE_SQLSTATE}';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    RETURN NEW;
  END IF;
  RETURN OLD;
END
$body$`;

const NO_TRUNCATE_FUNCTION = `
CREATE OR REPLACE FUNCTION sync.reject_registered_truncate() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  RAISE EXCEPTION 'TRUNCATE of registered table %.% would bypass bundle capture; delete rows inside a sync bundle',
    TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = '${TRUNCATE_SQLSTATE}';
END
$body$`;

function captureFunctionName(table: RegisteredTable): string {
  return `sync.capture_table_${table.tableId}`;
}

function captureFunction(table: RegisteredTable): string {
  const key = quoteIdent(table.keyColumn);
  const stage = "INSERT INTO sync.bundle_capture_stage (table_id, op, key_text, payload)";
  const id = table.tableId;
  // An UPDATE that changes the sync key ends one row and starts another: keys only in the old
  // image are deletes, keys only in the new image are inserts. Keys are unique within a scope, and
  // the guard keeps every row of the statement in one scope, so matching by key pairs the images.
  return `
CREATE OR REPLACE FUNCTION ${captureFunctionName(table)}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${stage}
    SELECT ${id}, ${OP_CODES.INSERT}, n.${key}::text, ${payloadSql(table, "n")} FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    ${stage}
    SELECT ${id}, ${OP_CODES.DELETE}, o.${key}::text, NULL FROM old_rows o
     WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.${key} = o.${key});
    ${stage}
    SELECT ${id},
           CASE WHEN EXISTS (SELECT 1 FROM old_rows o WHERE o.${key} = n.${key})
                THEN ${OP_CODES.UPDATE} ELSE ${OP_CODES.INSERT} END,
           n.${key}::text, ${payloadSql(table, "n")}
      FROM new_rows n;
  ELSE
    ${stage}
    SELECT ${id}, ${OP_CODES.DELETE}, o.${key}::text, NULL FROM old_rows o;
  END IF;
  RETURN NULL;
END
$body$`;
}

/** Names of the triggers the runtime owns on each registered table. */
const TRIGGER_NAMES = [
  "oversync_guard",
  "oversync_capture_insert",
  "oversync_capture_update",
  "oversync_capture_delete",
  "oversync_no_truncate",
] as const;

/**
 * (Re)installs the guard and capture triggers on every registered table, in the caller's
 * transaction, and removes them (with their capture functions) from tables no longer registered.
 */
export async function installCaptureTriggers(
  client: SqlQueryable,
  tables: readonly RegisteredTable[],
): Promise<void> {
  await client.query(GUARD_FUNCTION);
  await client.query(NO_TRUNCATE_FUNCTION);
  await removeStaleTriggers(client, tables);
  for (const table of tables) {
    const target = qualifiedName(table.schema, table.table);
    for (const name of TRIGGER_NAMES) await client.query(`DROP TRIGGER IF EXISTS ${name} ON ${target}`);
    await client.query(captureFunction(table));
    const capture = captureFunctionName(table);
    await client.query(
      `CREATE TRIGGER oversync_guard BEFORE INSERT OR UPDATE OR DELETE ON ${target}
         FOR EACH ROW EXECUTE FUNCTION sync.guard_registered_row()`,
    );
    await client.query(
      `CREATE TRIGGER oversync_capture_insert AFTER INSERT ON ${target}
         REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${capture}()`,
    );
    await client.query(
      `CREATE TRIGGER oversync_capture_update AFTER UPDATE ON ${target}
         REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${capture}()`,
    );
    await client.query(
      `CREATE TRIGGER oversync_capture_delete AFTER DELETE ON ${target}
         REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${capture}()`,
    );
    await client.query(
      `CREATE TRIGGER oversync_no_truncate BEFORE TRUNCATE ON ${target}
         FOR EACH STATEMENT EXECUTE FUNCTION sync.reject_registered_truncate()`,
    );
  }
}

/** Drops the runtime's triggers and capture functions left on tables that are no longer registered. */
async function removeStaleTriggers(client: SqlQueryable, tables: readonly RegisteredTable[]): Promise<void> {
  const { rows: triggers } = await client.query<{ schema: string; table: string; trigger: string }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS table, t.tgname::text AS trigger
       FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE p.pronamespace = 'sync'::regnamespace AND t.tgname = ANY($1::text[])`,
    [[...TRIGGER_NAMES]],
  );
  const registered = new Set(tables.map((table) => `${table.schema}\u0000${table.table}`));
  for (const row of triggers) {
    if (registered.has(`${row.schema}\u0000${row.table}`)) continue;
    await client.query(`DROP TRIGGER ${quoteIdent(row.trigger)} ON ${qualifiedName(row.schema, row.table)}`);
  }
  const { rows: functions } = await client.query<{ name: string }>(
    `SELECT p.proname::text AS name FROM pg_proc p
      WHERE p.pronamespace = 'sync'::regnamespace AND p.proname LIKE 'capture\\_table\\_%'`,
  );
  const current = new Set(tables.map((table) => captureFunctionName(table)));
  for (const { name } of functions) {
    const qualified = `sync.${name}`;
    if (!current.has(qualified)) await client.query(`DROP FUNCTION ${qualified}()`);
  }
}
