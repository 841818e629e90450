/**
 * What `oversync serve` syncs, as one shape: the app name it reports, the SQL that installs the
 * tables, the tables it registers, and (for the built-in examples) the SQLite side a client needs.
 * The built-in examples (example-presets.ts) and `--config` files (schema-config.ts) both become a
 * SchemaPreset, so serve has one path for all of them.
 */
import type { SqlPool, SqlQueryable, TableRegistration } from "@oversync/server";
import { withClient } from "@oversync/server";
import { CliError } from "./cli-error.js";

/** The local (SQLite) side of a preset: what a client app creates and the sync config it opens with. */
export interface PresetClientSchema {
  /** Idempotent SQLite DDL creating the app's tables. */
  readonly schemaSql: string;
  /** The client's `config` (createSyncClient): the wire schema and the tables it syncs. */
  readonly config: {
    readonly schema: string;
    readonly syncTables: readonly { readonly tableName: string; readonly syncKeyColumnName: string }[];
  };
}

/** One schema the reference server can serve. */
export interface SchemaPreset {
  /** What it is, for the banner and error messages: "the samplesync example", "config ./app.json". */
  readonly description: string;
  /** Reported as `app_name` by capabilities and `/syncx/status`. */
  readonly appName: string;
  /**
   * PostgreSQL run at every start, before bootstrap; it must be idempotent (IF NOT EXISTS). Empty
   * when the tables already exist.
   */
  readonly schemaSql: string;
  /** The file schemaSql was read from, named in errors (line numbers count in it). */
  readonly schemaSqlFile?: string;
  /** Checks the installed tables and returns every mismatch, for presets whose exact shape is known. */
  readonly checkSchema?: (db: SqlQueryable) => Promise<string[]>;
  /** The tables bootstrap validates and the server syncs. */
  readonly registeredTables: readonly TableRegistration[];
  /** Advertised as capabilities `schema_version`. */
  readonly maxSupportedSchemaVersion: number;
  /** The SQLite side, where the preset ships one (the built-in examples). */
  readonly client?: PresetClientSchema;
}

/** Serializes schema installation across processes sharing one PostgreSQL database. */
const SCHEMA_INSTALL_LOCK_KEY = "4707286457125836301";

/** PostgreSQL error codes of a CREATE for something that exists: the SQL is not idempotent. */
const ALREADY_EXISTS_CODES: ReadonlySet<string> = new Set(["42P06", "42P07", "42710", "42723"]);

/** SQLSTATE classes of a lost connection, exhausted resources or a stopping server. */
const NOT_ABOUT_THE_SQL: ReadonlySet<string> = new Set(["08", "53", "57", "58"]);

/**
 * Runs the preset's SQL and checks the result, in one transaction under an advisory lock: on any
 * failure the database is left as it was. Throws CliError `schema_sql_failed` when PostgreSQL
 * refuses the SQL and `example_schema_mismatch` when checkSchema finds differences.
 */
export async function installSchemaPreset(pool: SqlPool, preset: SchemaPreset): Promise<void> {
  // withClient listens for the connection failing under this work and discards the session on error.
  await withClient(pool, async (client) => {
    await client.query("BEGIN");
    try {
      await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [SCHEMA_INSTALL_LOCK_KEY]);
      if (preset.schemaSql.trim() !== "") {
        await client.query("SAVEPOINT schema_sql");
        await client.query(preset.schemaSql).catch(async (error: unknown) => {
          // Existing tables of another shape can break the SQL itself (an index on a missing
          // column); the check says what differs, which helps more than PostgreSQL's error.
          if (preset.checkSchema !== undefined) {
            await client.query("ROLLBACK TO SAVEPOINT schema_sql");
            throwOnMismatch(preset, await preset.checkSchema(client));
          }
          throw schemaSqlError(preset, error);
        });
      }
      throwOnMismatch(preset, (await preset.checkSchema?.(client)) ?? []);
      await client.query("COMMIT");
    } catch (error) {
      // A failed ROLLBACK (a dead connection) must not hide the error that caused it.
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  });
}

function throwOnMismatch(preset: SchemaPreset, problems: readonly string[]): void {
  if (problems.length === 0) return;
  const schemas = [...new Set(preset.registeredTables.map((table) => table.schema))].join(", ");
  throw new CliError(
    "example_schema_mismatch",
    `schema ${schemas} exists but does not match ${preset.description} (${problems.join("; ")}); ` +
      `drop schema ${schemas} (and sync) or use a fresh database`,
  );
}

/** PostgreSQL's refusal of the schema SQL, with the line it points at when it says. */
function schemaSqlError(preset: SchemaPreset, error: unknown): unknown {
  const failure = error as { message?: unknown; code?: unknown; position?: unknown };
  // Errors without a SQLSTATE, or of the connection or the server itself, are not about the SQL.
  if (typeof failure?.code !== "string" || typeof failure.message !== "string") return error;
  if (NOT_ABOUT_THE_SQL.has(failure.code.slice(0, 2))) return error;
  const offset = Number(failure.position);
  const line =
    Number.isInteger(offset) && offset > 0
      ? ` at line ${preset.schemaSql.slice(0, offset - 1).split("\n").length}`
      : "";
  const file = preset.schemaSqlFile === undefined ? "" : ` (${preset.schemaSqlFile})`;
  const hint = ALREADY_EXISTS_CODES.has(failure.code)
    ? "; the schema SQL runs at every start, so write it idempotently (CREATE ... IF NOT EXISTS)"
    : "";
  return new CliError(
    "schema_sql_failed",
    `the schema SQL of ${preset.description}${file} failed${line}: ${failure.message}${hint}`,
    { cause: error },
  );
}
