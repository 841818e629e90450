/**
 * `oversync serve --config <file>`: the reference server over the user's own tables. The file is
 * JSON (no new dependency, and every editor checks it):
 *
 *   {
 *     "appName": "my-app",
 *     "schemaFile": "schema.sql",          // or "schemaSql": "CREATE ..." (a string or lines);
 *                                          // neither when the tables already exist
 *     "tables": [{ "schema": "app", "table": "notes", "syncKeyColumns": ["id"] }],
 *     "maxSupportedSchemaVersion": 1       // optional, default 1
 *   }
 *
 * Paths are relative to the config file. The file is checked strictly before the database is
 * opened: a wrong field stops the server with `invalid_config_file` naming it, rather than a server
 * that half-starts. Whether the tables fit what oversync can sync is bootstrap's call (serve.ts).
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { TableRegistration } from "@oversync/server";
import { CliError } from "./cli-error.js";
import type { SchemaPreset } from "./schema-preset.js";

/** The fields a config file may have. */
const FIELDS = ["appName", "schemaFile", "schemaSql", "tables", "maxSupportedSchemaVersion"];
const TABLE_FIELDS = ["schema", "table", "syncKeyColumns"];
/** The largest schema_version the wire carries (a signed 32-bit integer). */
const MAX_SCHEMA_VERSION = 2_147_483_647;

/** Reads and checks a config file; throws CliError `invalid_config_file` naming what is wrong. */
export async function loadSchemaConfig(file: string): Promise<SchemaPreset> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw invalid(file, `cannot read it: ${readFailure(error)}`);
  });
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw invalid(file, `it is not valid JSON: ${(error as Error).message}`);
  }
  const config = parseSchemaConfig(json, file);
  if (config.schemaFile === undefined) return config.preset;
  const sqlPath = resolve(dirname(file), config.schemaFile);
  const schemaSql = await readFile(sqlPath, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw invalid(file, `schemaFile: cannot read ${sqlPath}: ${readFailure(error)}`);
  });
  return { ...config.preset, schemaSql, schemaSqlFile: sqlPath };
}

/**
 * Checks the parsed JSON of config file `file`: the preset, with `schemaFile` (as written) still to
 * be read when the SQL lives in a file.
 */
export function parseSchemaConfig(
  json: unknown,
  file: string,
): { readonly preset: SchemaPreset; readonly schemaFile?: string } {
  const fail = (message: string) => invalid(file, message);
  if (!isObject(json)) throw fail("the top level must be a JSON object");
  for (const key of Object.keys(json)) {
    if (!FIELDS.includes(key))
      throw fail(`unknown field ${JSON.stringify(key)}; the fields are ${FIELDS.join(", ")}`);
  }
  const appName = json.appName;
  if (typeof appName !== "string" || appName.trim() === "") {
    throw fail("appName must be a non-empty string (reported as app_name to clients)");
  }
  if (json.schemaFile !== undefined && json.schemaSql !== undefined) {
    throw fail("give schemaFile or schemaSql, not both");
  }
  let schemaFile: string | undefined;
  if (json.schemaFile !== undefined) {
    if (typeof json.schemaFile !== "string" || json.schemaFile.trim() === "") {
      throw fail("schemaFile must be a non-empty path to a .sql file, relative to the config file");
    }
    schemaFile = json.schemaFile;
  }
  let schemaSql = "";
  if (json.schemaSql !== undefined) {
    const sql = json.schemaSql;
    const lines = Array.isArray(sql) && sql.every((line) => typeof line === "string") ? sql : undefined;
    schemaSql = typeof sql === "string" ? sql : (lines?.join("\n") ?? "");
    if ((typeof sql !== "string" && lines === undefined) || schemaSql.trim() === "") {
      throw fail("schemaSql must be non-empty SQL: a string or an array of lines");
    }
  }
  return {
    preset: {
      description: `--config ${file}`,
      appName,
      schemaSql,
      registeredTables: parseTables(json.tables, fail),
      maxSupportedSchemaVersion: parseSchemaVersion(json.maxSupportedSchemaVersion, fail),
    },
    ...(schemaFile === undefined ? {} : { schemaFile }),
  };
}

function parseTables(value: unknown, fail: (message: string) => CliError): TableRegistration[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw fail('tables must be a non-empty array of {"schema", "table", "syncKeyColumns"}');
  }
  const seen = new Set<string>();
  return value.map((entry: unknown, index) => {
    const at = `tables[${index}]`;
    if (!isObject(entry)) throw fail(`${at} must be an object {"schema", "table", "syncKeyColumns"}`);
    for (const key of Object.keys(entry)) {
      if (!TABLE_FIELDS.includes(key)) {
        throw fail(
          `${at} has unknown field ${JSON.stringify(key)}; the fields are ${TABLE_FIELDS.join(", ")}`,
        );
      }
    }
    for (const field of ["schema", "table"] as const) {
      if (typeof entry[field] !== "string" || entry[field].trim() === "") {
        throw fail(`${at}.${field} must be a non-empty string`);
      }
    }
    const keys = entry.syncKeyColumns;
    // The runtime syncs tables with a single-column key (uuid or text); say so here, by field.
    if (!Array.isArray(keys) || keys.length !== 1 || typeof keys[0] !== "string" || keys[0].trim() === "") {
      throw fail(`${at}.syncKeyColumns must name exactly one column, e.g. ["id"]`);
    }
    const registration = {
      schema: entry.schema as string,
      table: entry.table as string,
      syncKeyColumns: [keys[0]],
    };
    const name = `${registration.schema}.${registration.table}`;
    if (seen.has(name)) throw fail(`${at} registers ${name} a second time`);
    seen.add(name);
    return registration;
  });
}

function parseSchemaVersion(value: unknown, fail: (message: string) => CliError): number {
  if (value === undefined) return 1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_SCHEMA_VERSION) {
    throw fail(`maxSupportedSchemaVersion must be a whole number from 0 to ${MAX_SCHEMA_VERSION}`);
  }
  return value;
}

/** Why a file could not be read, in words rather than an errno name. */
function readFailure(error: NodeJS.ErrnoException): string {
  if (error.code === "ENOENT") return "no such file";
  if (error.code === "EISDIR") return "it is a directory";
  if (error.code === "EACCES") return "permission denied";
  return error.message;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(file: string, message: string): CliError {
  return new CliError("invalid_config_file", `--config ${file}: ${message}`);
}
