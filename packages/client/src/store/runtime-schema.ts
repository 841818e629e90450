/**
 * The durable `_sync_*` layout (protocol-latest §7; pinned structurally by the
 * `runtime-state/schema/v1.json` and `local-schema/*` fixtures): table and column names, declared
 * types, NOT NULL, defaults, primary keys, CHECKs and the dirty-ordinal index, plus the seed rows;
 * and oversync's one table of its own, created on first use.
 */
import { CANONICAL_JSON_CONTRACT } from "@oversync/protocol";
import type { SqliteExecutor } from "../drivers/sqlite-driver.js";

const NOW_DEFAULT = "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))";
const OP_CHECK = "CHECK (op IN ('INSERT', 'UPDATE', 'DELETE'))";
const SINGLETON = "singleton_key INTEGER NOT NULL PRIMARY KEY CHECK (singleton_key = 1)";

/** Every runtime table, in creation order, with its columns and constraints. */
const RUNTIME_TABLES: readonly { readonly name: string; readonly body: readonly string[] }[] = [
  {
    name: "_sync_apply_state",
    body: [SINGLETON, "apply_mode INTEGER NOT NULL DEFAULT 0"],
  },
  {
    name: "_sync_attachment_state",
    body: [
      SINGLETON,
      "current_source_id TEXT NOT NULL DEFAULT ''",
      "binding_state TEXT NOT NULL DEFAULT 'anonymous' CHECK (binding_state IN ('anonymous', 'attached'))",
      "attached_user_id TEXT NOT NULL DEFAULT ''",
      "schema_name TEXT NOT NULL DEFAULT ''",
      "last_bundle_seq_seen INTEGER NOT NULL DEFAULT 0",
      "rebuild_required INTEGER NOT NULL DEFAULT 0",
      "pending_initialization_id TEXT NOT NULL DEFAULT ''",
    ],
  },
  {
    name: "_sync_operation_state",
    body: [
      SINGLETON,
      "kind TEXT NOT NULL DEFAULT 'none' CHECK (kind IN ('none', 'remote_replace', 'source_recovery'))",
      "target_user_id TEXT NOT NULL DEFAULT ''",
      "staged_snapshot_id TEXT NOT NULL DEFAULT ''",
      "snapshot_bundle_seq INTEGER NOT NULL DEFAULT 0",
      "snapshot_row_count INTEGER NOT NULL DEFAULT 0",
      "snapshot_byte_count INTEGER NOT NULL DEFAULT 0",
      "snapshot_stage_complete INTEGER NOT NULL DEFAULT 0",
      "reason TEXT NOT NULL DEFAULT ''",
      "replacement_source_id TEXT NOT NULL DEFAULT ''",
    ],
  },
  {
    name: "_sync_source_state",
    body: [
      "source_id TEXT NOT NULL PRIMARY KEY",
      "next_source_bundle_id INTEGER NOT NULL DEFAULT 1",
      "replaced_by_source_id TEXT NOT NULL DEFAULT ''",
      `created_at TEXT NOT NULL ${NOW_DEFAULT}`,
    ],
  },
  {
    name: "_sync_row_state",
    body: [
      "schema_name TEXT NOT NULL",
      "table_name TEXT NOT NULL",
      "key_json TEXT NOT NULL",
      "row_version INTEGER NOT NULL DEFAULT 0",
      "deleted INTEGER NOT NULL DEFAULT 0",
      `updated_at TEXT NOT NULL ${NOW_DEFAULT}`,
      "PRIMARY KEY (schema_name, table_name, key_json)",
    ],
  },
  {
    name: "_sync_dirty_rows",
    body: [
      "schema_name TEXT NOT NULL",
      "table_name TEXT NOT NULL",
      "key_json TEXT NOT NULL",
      `op TEXT NOT NULL ${OP_CHECK}`,
      "base_row_version INTEGER NOT NULL DEFAULT 0",
      "payload TEXT",
      "dirty_ordinal INTEGER NOT NULL DEFAULT 0",
      `updated_at TEXT NOT NULL ${NOW_DEFAULT}`,
      "PRIMARY KEY (schema_name, table_name, key_json)",
    ],
  },
  {
    name: "_sync_outbox_bundle",
    body: [
      SINGLETON,
      `canonical_json_contract TEXT NOT NULL CHECK (canonical_json_contract = '${CANONICAL_JSON_CONTRACT}')`,
      "state TEXT NOT NULL DEFAULT 'none' CHECK (state IN ('none', 'prepared', 'committed_remote'))",
      "source_id TEXT NOT NULL DEFAULT ''",
      "source_bundle_id INTEGER NOT NULL DEFAULT 0",
      "initialization_id TEXT NOT NULL DEFAULT ''",
      "canonical_request_hash TEXT NOT NULL DEFAULT ''",
      "row_count INTEGER NOT NULL DEFAULT 0",
      "remote_bundle_hash TEXT NOT NULL DEFAULT ''",
      "remote_bundle_seq INTEGER NOT NULL DEFAULT 0",
    ],
  },
  {
    name: "_sync_outbox_rows",
    body: [
      "source_bundle_id INTEGER NOT NULL",
      "row_ordinal INTEGER NOT NULL",
      "schema_name TEXT NOT NULL",
      "table_name TEXT NOT NULL",
      "key_json TEXT NOT NULL",
      "wire_key_json TEXT NOT NULL",
      `op TEXT NOT NULL ${OP_CHECK}`,
      "base_row_version INTEGER NOT NULL DEFAULT 0",
      "local_payload TEXT",
      "wire_payload TEXT",
      "PRIMARY KEY (source_bundle_id, row_ordinal)",
    ],
  },
  {
    name: "_sync_snapshot_stage",
    body: [
      "snapshot_id TEXT NOT NULL",
      "row_ordinal INTEGER NOT NULL",
      "schema_name TEXT NOT NULL",
      "table_name TEXT NOT NULL",
      "key_json TEXT NOT NULL",
      "row_version INTEGER NOT NULL",
      "payload TEXT NOT NULL",
      "PRIMARY KEY (snapshot_id, row_ordinal)",
      "UNIQUE (snapshot_id, schema_name, table_name, key_json)",
    ],
  },
  {
    name: "_sync_managed_tables",
    body: ["schema_name TEXT NOT NULL", "table_name TEXT NOT NULL", "PRIMARY KEY (schema_name, table_name)"],
  },
];

/**
 * oversync's own table, outside the pinned `_sync_` layout: changes the server refused for good,
 * kept until the app retries or discards them (engine/rejected-changes.ts). It is created by the
 * first rejection, so a database that never had one keeps exactly the pinned layout.
 */
export const REJECTED_CHANGES_TABLE = "_oversync_rejected_changes";

/** Creates the rejected-changes table if it is missing. */
export async function ensureRejectedChangesTable(db: SqliteExecutor): Promise<void> {
  await db.exec(
    `CREATE TABLE IF NOT EXISTS ${REJECTED_CHANGES_TABLE} (
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  key_json TEXT NOT NULL,
  op TEXT NOT NULL ${OP_CHECK},
  base_row_version INTEGER NOT NULL,
  payload TEXT,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  rejected_at TEXT NOT NULL ${NOW_DEFAULT},
  PRIMARY KEY (schema_name, table_name, key_json)
)`,
  );
}

/** Names of every runtime table, ours included. */
export const RUNTIME_TABLE_NAMES: readonly string[] = [
  ...RUNTIME_TABLES.map((table) => table.name),
  REJECTED_CHANGES_TABLE,
];

/**
 * Creates whatever part of the layout is missing, seeds the singleton rows, and clears a stuck
 * apply mode (a crash cannot leave one, but a foreign writer could). Idempotent; run it inside the
 * opening transaction. Tables the application owns, `_sync_`-prefixed or not, are left alone.
 */
export async function ensureRuntimeSchema(db: SqliteExecutor): Promise<void> {
  for (const table of RUNTIME_TABLES) {
    await db.exec(`CREATE TABLE IF NOT EXISTS ${table.name} (\n  ${table.body.join(",\n  ")}\n)`);
  }
  await db.exec(
    "CREATE INDEX IF NOT EXISTS idx_sync_dirty_rows_dirty_ordinal ON _sync_dirty_rows (dirty_ordinal)",
  );
  await db.run("INSERT OR IGNORE INTO _sync_apply_state (singleton_key) VALUES (1)");
  await db.run("INSERT OR IGNORE INTO _sync_attachment_state (singleton_key) VALUES (1)");
  await db.run("INSERT OR IGNORE INTO _sync_operation_state (singleton_key) VALUES (1)");
  await db.run(
    "INSERT OR IGNORE INTO _sync_outbox_bundle (singleton_key, canonical_json_contract) VALUES (1, ?)",
    [CANONICAL_JSON_CONTRACT],
  );
  await db.run("UPDATE _sync_apply_state SET apply_mode = 0 WHERE singleton_key = 1 AND apply_mode <> 0");
}

/** True when the runtime tables exist (the database was opened for sync before). */
export async function runtimeSchemaExists(db: SqliteExecutor): Promise<boolean> {
  const rows = await db.query(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sync_managed_tables'",
  );
  return rows.length > 0;
}
