/**
 * The normalized `_sync_*` dump the lifecycle and runtime-state fixtures compare with
 * (protocol-latest §6): every runtime table in the fixtures' section order and row order, integers
 * as numbers, timestamps `<timestamp>`, non-empty hashes `<hash>`, and non-empty source ids
 * `<source-N>` numbered by first appearance across the sections.
 */
import type { SqliteDriver } from "@oversync/client";

const SECTIONS: readonly (readonly [section: string, table: string, orderBy: string])[] = [
  ["apply_state", "_sync_apply_state", "singleton_key"],
  ["attachment_state", "_sync_attachment_state", "singleton_key"],
  ["source_state", "_sync_source_state", "source_id"],
  ["operation_state", "_sync_operation_state", "singleton_key"],
  ["outbox_bundle", "_sync_outbox_bundle", "singleton_key"],
  ["outbox_rows", "_sync_outbox_rows", "source_bundle_id, row_ordinal"],
  ["dirty_rows", "_sync_dirty_rows", "dirty_ordinal, table_name, key_json"],
  ["row_state", "_sync_row_state", "schema_name, table_name, key_json"],
  ["snapshot_stage", "_sync_snapshot_stage", "snapshot_id, row_ordinal"],
  ["managed_tables", "_sync_managed_tables", "schema_name, table_name"],
];

const SOURCE_COLUMNS = new Set([
  "source_id",
  "current_source_id",
  "replaced_by_source_id",
  "replacement_source_id",
]);
const TIMESTAMP_COLUMNS = new Set(["created_at", "updated_at"]);
const HASH_COLUMNS = new Set(["canonical_request_hash", "remote_bundle_hash"]);

/** The dump in the fixtures' `expectedState` shape. */
export async function dumpNormalizedState(
  driver: SqliteDriver,
): Promise<{ formatVersion: 1; state: Record<string, Record<string, unknown>[]> }> {
  const sources = new Map<string, string>();
  const normalize = (column: string, value: unknown): unknown => {
    if (value === null) return null;
    if (typeof value === "bigint") return Number(value);
    if (typeof value !== "string") return value;
    if (TIMESTAMP_COLUMNS.has(column)) return "<timestamp>";
    if (HASH_COLUMNS.has(column)) return value === "" ? "" : "<hash>";
    if (SOURCE_COLUMNS.has(column) && value !== "") {
      if (!sources.has(value)) sources.set(value, `<source-${sources.size + 1}>`);
      return sources.get(value);
    }
    return value;
  };
  const state: Record<string, Record<string, unknown>[]> = {};
  for (const [section, table, orderBy] of SECTIONS) {
    const rows = await driver.query(`SELECT * FROM ${table} ORDER BY ${orderBy}`);
    state[section] = rows.map((row) =>
      Object.fromEntries(Object.entries(row).map(([column, value]) => [column, normalize(column, value)])),
    );
  }
  return { formatVersion: 1, state };
}
