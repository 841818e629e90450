/**
 * Keeping the app's queued changes across authoritative applies. A rebuild replaces the managed
 * tables with the server's rows; every change still queued (a dirty row: written after the last
 * push froze its bundle, possibly while the snapshot was downloading) is written again on top, in
 * the same transaction, and stays queued untouched: its base version is still the one the app's
 * write was based on, so the next push sends it and a server change made meanwhile surfaces as a
 * push conflict for the resolver, exactly as without the rebuild.
 *
 * A change that cannot stand on the server's rows (a child whose parent the server deleted, a
 * parent delete the server's rows still reference, a unique value another row now holds) is not
 * shown locally; it stays queued and the server decides at the next push. The same holds after a
 * pulled bundle deleted a queued row's parent. Foreign keys are deferred in apply transactions, so
 * their checks run here, row by row.
 */
import type { SqliteValue } from "../drivers/sqlite-driver.js";
import { SqliteError } from "../drivers/sqlite-error.js";
import type { ApplyState } from "../store/app-rows.js";
import {
  type KeyValue,
  type RowValues,
  decodeQueuedPayload,
  keyValueOfLocalKeyJson,
  wirePayloadOfLocalPayload,
} from "../store/payload-codec.js";
import type { DirtyRow } from "../store/runtime-state.js";
import { quoteIdent } from "../store/sql-text.js";
import type { ManagedTable } from "../store/table-metadata.js";

const SAVEPOINT = "oversync_queued_change";

/**
 * Writes `rows` (the dirty rows read before the managed tables were emptied) over the snapshot:
 * upserts parents first, then deletes children first.
 */
export async function reapplyQueuedChanges(state: ApplyState, rows: readonly DirtyRow[]): Promise<void> {
  const rank = (row: DirtyRow) => state.schema.table(row.tableName).dependencyRank;
  const byOrdinal = (a: DirtyRow, b: DirtyRow) => (a.dirtyOrdinal < b.dirtyOrdinal ? -1 : 1);
  const upserts = rows.filter((row) => row.payload !== null);
  const deletes = rows.filter((row) => row.payload === null);
  upserts.sort((a, b) => rank(a) - rank(b) || byOrdinal(a, b));
  deletes.sort((a, b) => rank(b) - rank(a) || byOrdinal(a, b));
  for (const row of [...upserts, ...deletes]) {
    const table = state.schema.table(row.tableName);
    await inSavepoint(state, () =>
      row.payload === null
        ? deleteUnreferenced(state, table, keyValueOfLocalKeyJson(table, row.keyJson))
        : upsert(state, table, row),
    );
  }
}

/**
 * After an apply that deleted rows: hides (deletes locally, keeps queued) every queued upsert whose
 * parent row is gone, so the transaction's deferred foreign keys hold.
 */
export async function hideOrphanedQueuedRows(state: ApplyState): Promise<void> {
  for (const row of await state.listDirtyRows()) {
    const table = state.schema.table(row.tableName);
    if (row.payload === null || table.foreignKeys.length === 0) continue;
    const values = decodeQueuedPayload(table, wirePayloadOfLocalPayload(table, row.payload));
    if (await parentsExist(state, table, values)) continue;
    await inSavepoint(state, () =>
      deleteUnreferenced(state, table, keyValueOfLocalKeyJson(table, row.keyJson)),
    );
  }
}

/** Runs `change` in a savepoint, undone when it reports it cannot stand or a constraint refuses it. */
async function inSavepoint(state: ApplyState, change: () => Promise<boolean>): Promise<void> {
  await state.db.exec(`SAVEPOINT ${SAVEPOINT}`);
  let stands: boolean;
  try {
    stands = await change();
  } catch (error) {
    if (!(error instanceof SqliteError && error.sqliteCode === "SQLITE_CONSTRAINT")) throw error;
    stands = false;
  }
  if (!stands) await state.db.exec(`ROLLBACK TO ${SAVEPOINT}`);
  await state.db.exec(`RELEASE ${SAVEPOINT}`);
}

async function upsert(state: ApplyState, table: ManagedTable, row: DirtyRow): Promise<boolean> {
  const values = decodeQueuedPayload(table, wirePayloadOfLocalPayload(table, row.payload!));
  if (!(await parentsExist(state, table, values))) return false;
  await state.upsertAppRow(table.name, values);
  return true;
}

/** True when every non-null foreign key of `values` finds its parent row. */
async function parentsExist(state: ApplyState, table: ManagedTable, values: RowValues): Promise<boolean> {
  for (const fk of table.foreignKeys) {
    const value = values[fk.column];
    if (value === null || value === undefined) continue;
    if (!(await exists(state, state.schema.table(fk.parentTable), fk.parentColumn, value))) return false;
  }
  return true;
}

/** Deletes the row unless rows of a managed table still reference it afterwards (cascades ran). */
async function deleteUnreferenced(state: ApplyState, table: ManagedTable, key: KeyValue): Promise<boolean> {
  const references = state.schema.tables.flatMap((child) =>
    child.foreignKeys.filter((fk) => fk.parentTable === table.name).map((fk) => ({ child, fk })),
  );
  const referenced = new Map<string, SqliteValue>();
  if (references.length > 0) {
    const current = await state.db.query(
      `SELECT * FROM ${quoteIdent(table.sqlName)} WHERE ${quoteIdent(table.keyColumn.name)} = ?`,
      [key],
    );
    const found = current[0];
    if (found === undefined) return true;
    for (const [name, value] of Object.entries(found)) referenced.set(name.toLowerCase(), value);
  }
  await state.deleteAppRow(table.name, key);
  for (const { child, fk } of references) {
    const value = referenced.get(fk.parentColumn);
    if (value !== null && value !== undefined && (await exists(state, child, fk.column, value))) return false;
  }
  return true;
}

async function exists(
  state: ApplyState,
  table: ManagedTable,
  column: string,
  value: SqliteValue,
): Promise<boolean> {
  const rows = await state.db.query(
    `SELECT 1 AS found FROM ${quoteIdent(table.sqlName)} WHERE ${quoteIdent(column)} = ? LIMIT 1`,
    [value],
  );
  return rows.length > 0;
}
