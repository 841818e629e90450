/**
 * Helpers for the client store fixture runners: temporary SQLite files, structural dumps of the
 * schema (PRAGMA-based, never SQL text), and the normalized `_sync_*` state dump the lifecycle and
 * runtime-state fixtures compare against (protocol-latest §6).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqliteDriver, SqliteValue } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { isNodeSqliteAvailable, openNodeSqliteDriver } from "@oversync/client/node-sqlite";

/**
 * The store runs over node:sqlite where the Node has it (CI's Node 24 lane) and over better-sqlite3
 * elsewhere, so the whole store suite passes over both drivers across the CI lanes.
 */
const openDriver = (await isNodeSqliteAvailable()) ? openNodeSqliteDriver : openBetterSqlite3Driver;

/** Runs `work` on a driver over a new SQLite file in a fresh temporary directory, then removes it. */
export async function withTempDatabase<T>(
  work: (driver: SqliteDriver, path: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "oversync-store-"));
  const path = join(dir, "app.db");
  const driver = await openDriver(path);
  try {
    return await work(driver, path);
  } finally {
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs each statement in order, as an application would. */
export async function execAll(driver: SqliteDriver, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await driver.exec(statement);
}

/** A bigint as a JSON number when it is safe, so dumps compare with fixture JSON. */
export function jsonValue(value: SqliteValue): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  return value;
}

/** The structural description of one table, in the shape of `schema.expected.json` `tables[]`. */
export async function describeTable(driver: SqliteDriver, table: string): Promise<unknown> {
  const columns = await driver.query("SELECT * FROM pragma_table_info(?) ORDER BY cid", [table]);
  const foreignKeys = await driver.query("SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq", [
    table,
  ]);
  const indexes = await driver.query("SELECT * FROM pragma_index_list(?) ORDER BY seq", [table]);
  const describedIndexes = [];
  for (const index of indexes) {
    const indexColumns = await driver.query("SELECT * FROM pragma_index_xinfo(?) ORDER BY seqno", [
      index.name ?? null,
    ]);
    describedIndexes.push({
      seq: jsonValue(index.seq ?? null),
      name: index.name,
      unique: index.unique === 1n,
      origin: index.origin,
      partial: index.partial === 1n,
      columns: indexColumns.map((column) => ({
        seqno: jsonValue(column.seqno ?? null),
        cid: jsonValue(column.cid ?? null),
        name: column.name,
        desc: column.desc === 1n,
        collation: column.coll,
        key: column.key === 1n,
      })),
    });
  }
  return {
    name: table,
    columns: columns.map((column) => ({
      cid: jsonValue(column.cid ?? null),
      name: column.name,
      type: column.type,
      notNull: column.notnull === 1n,
      defaultValue: column.dflt_value,
      primaryKeyPosition: jsonValue(column.pk ?? null),
    })),
    foreignKeys: foreignKeys.map((foreignKey) => ({
      id: jsonValue(foreignKey.id ?? null),
      seq: jsonValue(foreignKey.seq ?? null),
      table: foreignKey.table,
      from: foreignKey.from,
      to: foreignKey.to,
      onUpdate: foreignKey.on_update,
      onDelete: foreignKey.on_delete,
      match: foreignKey.match,
    })),
    indexes: describedIndexes,
  };
}

/** Names of all non-internal tables, sorted. */
export async function tableNames(driver: SqliteDriver): Promise<string[]> {
  const rows = await driver.query<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
  );
  return rows.map((row) => row.name);
}

/** Every trigger as {name, tableName}, sorted by name. */
export async function triggerList(driver: SqliteDriver): Promise<{ name: string; tableName: string }[]> {
  const rows = await driver.query<{ name: string; tbl_name: string }>(
    "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
  );
  return rows.map((row) => ({ name: row.name, tableName: row.tbl_name }));
}

/** Every view as {name, sql}, sorted by name. */
export async function viewList(driver: SqliteDriver): Promise<{ name: string; sql: string }[]> {
  return driver.query<{ name: string; sql: string }>(
    "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name",
  );
}

/** The sections of a runtime-state dump, in the order fixtures list them, with their row order. */
const STATE_SECTIONS: readonly (readonly [string, string, string])[] = [
  ["apply_state", "_sync_apply_state", "singleton_key"],
  ["attachment_state", "_sync_attachment_state", "singleton_key"],
  ["source_state", "_sync_source_state", "rowid"],
  ["operation_state", "_sync_operation_state", "singleton_key"],
  ["outbox_bundle", "_sync_outbox_bundle", "singleton_key"],
  ["outbox_rows", "_sync_outbox_rows", "source_bundle_id, row_ordinal"],
  ["dirty_rows", "_sync_dirty_rows", "dirty_ordinal, table_name, key_json"],
  ["row_state", "_sync_row_state", "rowid"],
  ["snapshot_stage", "_sync_snapshot_stage", "snapshot_id, row_ordinal"],
  ["managed_tables", "_sync_managed_tables", "rowid"],
];

/** Every `_sync_*` table's rows, keyed by the fixtures' section names; integers as JSON numbers. */
export async function dumpRuntimeState(
  driver: SqliteDriver,
): Promise<Record<string, Record<string, unknown>[]>> {
  const state: Record<string, Record<string, unknown>[]> = {};
  for (const [section, table, order] of STATE_SECTIONS) {
    const rows = await driver.query(`SELECT * FROM ${table} ORDER BY ${order}`);
    state[section] = rows.map((row) =>
      Object.fromEntries(Object.entries(row).map(([column, value]) => [column, jsonValue(value)])),
    );
  }
  return state;
}

const SOURCE_COLUMNS = new Set([
  "current_source_id",
  "source_id",
  "replaced_by_source_id",
  "replacement_source_id",
]);
const TIMESTAMP_COLUMNS = new Set(["created_at", "updated_at"]);
const HASH_COLUMNS = new Set(["canonical_request_hash", "remote_bundle_hash"]);

/**
 * Normalizes a dump as protocol-latest §6 describes: non-empty source ids become `<source-N>` in
 * order of first appearance (sections in fixture order), timestamps `<timestamp>`, hashes `<hash>`.
 */
export function normalizeRuntimeState(
  state: Record<string, Record<string, unknown>[]>,
): Record<string, Record<string, unknown>[]> {
  const sources = new Map<string, string>();
  const normalizeValue = (column: string, value: unknown): unknown => {
    if (typeof value !== "string" || value === "") return value;
    if (SOURCE_COLUMNS.has(column)) {
      if (!sources.has(value)) sources.set(value, `<source-${sources.size + 1}>`);
      return sources.get(value);
    }
    if (TIMESTAMP_COLUMNS.has(column)) return "<timestamp>";
    if (HASH_COLUMNS.has(column)) return "<hash>";
    return value;
  };
  return Object.fromEntries(
    Object.entries(state).map(([section, rows]) => [
      section,
      rows.map((row) =>
        Object.fromEntries(
          Object.entries(row).map(([column, value]) => [column, normalizeValue(column, value)]),
        ),
      ),
    ]),
  );
}
