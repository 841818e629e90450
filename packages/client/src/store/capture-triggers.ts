/**
 * The six triggers each managed table carries (names pinned by the fixtures):
 * - `trg_<t>_bi_guard`, `_bu_guard`, `_bd_guard`: abort app writes with SYNC_TRANSITION_PENDING while
 *   a destructive transition is pending (`_sync_operation_state.kind <> 'none'`) and the runtime is
 *   not applying authoritative state itself (`apply_mode <> 1`); the insert and update guards also
 *   abort an app write whose key the server could never store with SYNC_KEY_INVALID (a BLOB key
 *   that is not 16 bytes, a TEXT key that is not text, or a TEXT key that looks like a UUID but is
 *   not its canonical lowercase form, such as iOS's `uuidString`), so the app's own INSERT fails
 *   instead of every later sync;
 * - `trg_<t>_ai`, `_au`, `_ad`: record each local write as one coalesced dirty row per key, unless
 *   the runtime is applying authoritative state (`apply_mode <> 0`).
 *
 * Coalescing: a key's first capture fixes its `base_row_version` (the known row version, else 0)
 * and `dirty_ordinal` (one past the highest); later captures of the same key only replace `op`,
 * `payload` and `updated_at`. An upsert's op is UPDATE when the key has a live row state, else
 * INSERT; a delete is DELETE with a NULL payload; an update that changes the key is a DELETE of the
 * old key followed by an upsert of the new one.
 */
import type { SqliteExecutor } from "../drivers/sqlite-driver.js";
import { INVALID_KEY_MESSAGE, TRANSITION_PENDING_MESSAGE } from "../drivers/sqlite-error.js";
import { keyJsonSql, localPayloadSql } from "./capture-sql.js";
import { NOW_TIMESTAMP_SQL, quoteIdent, quoteText } from "./sql-text.js";
import type { ManagedTable } from "./table-metadata.js";

const CAPTURING = "NOT EXISTS (SELECT 1 FROM _sync_apply_state WHERE singleton_key = 1 AND apply_mode <> 0)";
/** Not the runtime's own authoritative writes: rows from the server are applied as they are. */
const APP_WRITE = "NOT EXISTS (SELECT 1 FROM _sync_apply_state WHERE singleton_key = 1 AND apply_mode = 1)";
/** The canonical UUID shape, in lowercase hex. */
const UUID_GLOB =
  "'[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-" +
  "[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-" +
  "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'";

/** The condition under which NEW's key could never reach the server. */
function invalidKeySql(table: ManagedTable): string {
  const key = `NEW.${quoteIdent(table.keyColumn.name)}`;
  if (table.keyColumn.kind === "UUID_BLOB") return `typeof(${key}) <> 'blob' OR length(${key}) <> 16`;
  return `typeof(${key}) <> 'text' OR (lower(${key}) GLOB ${UUID_GLOB} AND ${key} <> lower(${key}))`;
}
const TRANSITION_PENDING =
  "EXISTS (SELECT 1 FROM _sync_operation_state WHERE singleton_key = 1 AND kind <> 'none') " +
  "AND NOT EXISTS (SELECT 1 FROM _sync_apply_state WHERE singleton_key = 1 AND apply_mode = 1)";

/** The names of the six triggers of `table`. */
export function captureTriggerNames(table: ManagedTable): string[] {
  return ["bi_guard", "bu_guard", "bd_guard", "ai", "au", "ad"].map(
    (suffix) => `trg_${table.name}_${suffix}`,
  );
}

/** The CREATE TRIGGER statements of `table`, keyed by trigger name. */
export function captureTriggerSql(schema: string, table: ManagedTable): Map<string, string> {
  const on = quoteIdent(table.sqlName);
  const statements = new Map<string, string>();
  const guard = (suffix: string, event: string, keyInvalid?: string) => {
    const pending = `SELECT RAISE(ABORT, ${quoteText(TRANSITION_PENDING_MESSAGE)}) WHERE ${TRANSITION_PENDING}`;
    const badKey = `SELECT RAISE(ABORT, ${quoteText(INVALID_KEY_MESSAGE)}) WHERE ${APP_WRITE} AND (${keyInvalid})`;
    statements.set(
      `trg_${table.name}_${suffix}`,
      `CREATE TRIGGER ${quoteIdent(`trg_${table.name}_${suffix}`)} BEFORE ${event} ON ${on} FOR EACH ROW ` +
        (keyInvalid === undefined
          ? `WHEN ${TRANSITION_PENDING} BEGIN SELECT RAISE(ABORT, ${quoteText(TRANSITION_PENDING_MESSAGE)}); END`
          : `WHEN (${TRANSITION_PENDING}) OR (${APP_WRITE} AND (${keyInvalid})) BEGIN ${pending}; ${badKey}; END`),
    );
  };
  const keyInvalid = invalidKeySql(table);
  guard("bi_guard", "INSERT", keyInvalid);
  guard("bu_guard", "UPDATE", keyInvalid);
  guard("bd_guard", "DELETE");

  const capture = (suffix: string, event: string, body: readonly string[]) =>
    statements.set(
      `trg_${table.name}_${suffix}`,
      `CREATE TRIGGER ${quoteIdent(`trg_${table.name}_${suffix}`)} AFTER ${event} ON ${on} FOR EACH ROW ` +
        `WHEN ${CAPTURING} BEGIN\n${body.map((statement) => `  ${statement};\n`).join("")}END`,
    );
  const newKey = keyJsonSql(table, "NEW");
  const oldKey = keyJsonSql(table, "OLD");
  capture("ai", "INSERT", [upsertCurrentRowSql(schema, table)]);
  capture("au", "UPDATE", [
    deleteMarkerSql(schema, table, "OLD", `${oldKey} <> ${newKey}`),
    upsertCurrentRowSql(schema, table),
  ]);
  capture("ad", "DELETE", [deleteMarkerSql(schema, table, "OLD", "1")]);
  return statements;
}

/**
 * Installs (or refreshes) the triggers of every table. A trigger whose stored SQL already equals
 * ours is kept; one that differs, say from an older runtime, is replaced.
 */
export async function installCaptureTriggers(
  db: SqliteExecutor,
  schema: string,
  tables: readonly ManagedTable[],
): Promise<void> {
  for (const table of tables) {
    const existing = await db.query<{ name: string; sql: string }>(
      "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = ?",
      [table.name],
    );
    const stored = new Map(existing.map((row) => [row.name, row.sql]));
    for (const [name, sql] of captureTriggerSql(schema, table)) {
      const current = stored.get(name);
      if (current === sql) continue;
      if (current !== undefined) await db.exec(`DROP TRIGGER ${quoteIdent(name)}`);
      await db.exec(sql);
    }
  }
}

/** The state of a key's row in `_sync_row_state`, as a scalar subquery over `keyJson`. */
function rowStateSql(
  schema: string,
  table: ManagedTable,
  column: string,
  keyJson: string,
  extra = "",
): string {
  return (
    `SELECT ${column} FROM _sync_row_state WHERE schema_name = ${quoteText(schema)} ` +
    `AND table_name = ${quoteText(table.name)} AND key_json = ${keyJson}${extra}`
  );
}

/** Upserts the dirty row of NEW with its full local payload. */
function upsertCurrentRowSql(schema: string, table: ManagedTable): string {
  const key = "captured.key_json";
  return (
    "INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) " +
    `SELECT ${quoteText(schema)}, ${quoteText(table.name)}, ${key}, ` +
    `CASE WHEN EXISTS (${rowStateSql(schema, table, "1", key, " AND deleted = 0")}) THEN 'UPDATE' ELSE 'INSERT' END, ` +
    `COALESCE((${rowStateSql(schema, table, "row_version", key)}), 0), ` +
    `${localPayloadSql(table, "NEW")}, ` +
    `(SELECT COALESCE(MAX(dirty_ordinal), 0) + 1 FROM _sync_dirty_rows), ${NOW_TIMESTAMP_SQL} ` +
    `FROM (SELECT ${keyJsonSql(table, "NEW")} AS key_json) AS captured WHERE 1 ` +
    "ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET " +
    "op = excluded.op, payload = excluded.payload, updated_at = excluded.updated_at"
  );
}

/** Upserts a DELETE marker (NULL payload) for the key of `rowRef` when `condition` holds. */
function deleteMarkerSql(schema: string, table: ManagedTable, rowRef: string, condition: string): string {
  const key = "captured.key_json";
  return (
    "INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) " +
    `SELECT ${quoteText(schema)}, ${quoteText(table.name)}, ${key}, 'DELETE', ` +
    `COALESCE((${rowStateSql(schema, table, "row_version", key)}), 0), NULL, ` +
    `(SELECT COALESCE(MAX(dirty_ordinal), 0) + 1 FROM _sync_dirty_rows), ${NOW_TIMESTAMP_SQL} ` +
    `FROM (SELECT ${keyJsonSql(table, rowRef)} AS key_json) AS captured WHERE ${condition} ` +
    "ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET " +
    "op = 'DELETE', payload = NULL, updated_at = excluded.updated_at"
  );
}
