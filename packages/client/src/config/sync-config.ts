/**
 * The sync configuration the application supplies, and the checks that need no database. Checks
 * against the local schema live in `store/table-metadata.ts`.
 */
import { OversyncClientError } from "../errors.js";

/** One table to sync. Exactly one of the key fields names the table's single primary-key column. */
export interface SyncTableConfig {
  /** The local table name, without a schema qualifier. */
  readonly tableName: string;
  /** The table's primary-key column. */
  readonly syncKeyColumnName?: string;
  /** The same as a list; exactly one column is supported. */
  readonly syncKeyColumns?: readonly string[];
}

/** Which tables sync, and under which logical schema name they are sent on the wire. */
export interface SyncConfig {
  /** The logical schema sent on the wire (e.g. "business"); one per local database. */
  readonly schema: string;
  readonly syncTables: readonly SyncTableConfig[];
}

/** A table entry after the database-free checks. */
export interface NormalizedSyncTable {
  /** The name as configured. */
  readonly configuredName: string;
  /** The lower-cased name used in `_sync_*` rows, trigger names and on the wire. */
  readonly tableName: string;
  /** The configured key column, trimmed (matched case-insensitively against the schema). */
  readonly keyColumn: string;
}

/** A configuration after the database-free checks. */
export interface NormalizedSyncConfig {
  readonly schema: string;
  readonly tables: readonly NormalizedSyncTable[];
}

/** Prefix reserved for the runtime's own tables and triggers. */
export const RESERVED_TABLE_PREFIX = "_sync_";

/** Checks and normalizes a configuration; throws `config_invalid` naming the first problem. */
export function normalizeSyncConfig(config: SyncConfig): NormalizedSyncConfig {
  const schema = typeof config.schema === "string" ? config.schema.trim() : "";
  if (schema === "") {
    throw configError(
      "config.schema must be provided: name the logical schema the server registers the tables under",
    );
  }
  if (!Array.isArray(config.syncTables) || config.syncTables.length === 0) {
    throw configError("config.syncTables must list at least one table to sync");
  }
  const seen = new Set<string>();
  const tables = config.syncTables.map((table): NormalizedSyncTable => {
    const configuredName = typeof table.tableName === "string" ? table.tableName.trim() : "";
    if (configuredName === "") throw configError("every sync table must have a tableName");
    if (configuredName.includes(".")) {
      throw configError(
        `table ${configuredName} must not include a schema qualifier; config.schema applies to every table of the local database`,
      );
    }
    const tableName = configuredName.toLowerCase();
    if (tableName.startsWith(RESERVED_TABLE_PREFIX)) {
      throw configError(
        `table ${configuredName} uses the reserved ${RESERVED_TABLE_PREFIX} prefix; rename the application table`,
      );
    }
    if (seen.has(tableName)) throw configError(`table ${configuredName} is registered more than once`);
    seen.add(tableName);
    return { configuredName, tableName, keyColumn: singleKeyColumn(table, configuredName) };
  });
  return { schema, tables };
}

function singleKeyColumn(table: SyncTableConfig, name: string): string {
  const listed = (table.syncKeyColumns ?? [])
    .map((column) => column.trim())
    .filter((column) => column !== "");
  const distinct = [...new Map(listed.map((column) => [column.toLowerCase(), column])).values()];
  const columns =
    distinct.length > 0 ? distinct : [table.syncKeyColumnName?.trim() ?? ""].filter((c) => c !== "");
  if (columns.length === 0) {
    throw configError(`table ${name} must declare syncKeyColumnName or syncKeyColumns explicitly`);
  }
  if (columns.length !== 1) {
    throw configError(
      `table ${name} must declare exactly one sync key column (got ${columns.join(", ")}); composite keys are not supported`,
    );
  }
  return columns[0]!;
}

/** A `config_invalid` error. */
export function configError(message: string): OversyncClientError {
  return new OversyncClientError("config_invalid", message);
}
