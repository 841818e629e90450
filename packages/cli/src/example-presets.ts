/**
 * The built-in examples `oversync serve --example <name>` serves: `business` (the default, the
 * business-rich-v0 contract the upstream live suites use) and `samplesync` (upstream's sample app).
 * Each creates whatever of its tables is missing and refuses existing tables of another shape.
 */
import type { SqlPool } from "@oversync/server";
import type { ExampleName } from "./cli-args.js";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "./example-client-schema.js";
import {
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
  EXAMPLE_SCHEMA,
  EXAMPLE_TABLES,
  type ExampleTable,
  compareTables,
  readSchemaCatalog,
  tablesDdl,
} from "./example-schema.js";
import {
  SAMPLESYNC_APP_NAME,
  SAMPLESYNC_CLIENT_CONFIG,
  SAMPLESYNC_TABLES,
  samplesyncClientSchemaSql,
} from "./samplesync-schema.js";
import { type SchemaPreset, installSchemaPreset } from "./schema-preset.js";

/** The `schema_version` both examples advertise (upstream's example servers send 1). */
const EXAMPLE_SCHEMA_VERSION = 1;

/** The check of a built-in example: its exact tables, columns and keys. */
function exactTables(tables: readonly ExampleTable[]): SchemaPreset["checkSchema"] {
  return async (db) => compareTables(tables, await readSchemaCatalog(db, EXAMPLE_SCHEMA));
}

/** `--example business`, the default: the eight business-rich-v0 tables. */
export const BUSINESS_PRESET: SchemaPreset = {
  description: "the business-rich-v0 example",
  appName: EXAMPLE_APP_NAME,
  schemaSql: tablesDdl(EXAMPLE_SCHEMA, EXAMPLE_TABLES),
  checkSchema: exactTables(EXAMPLE_TABLES),
  registeredTables: EXAMPLE_REGISTERED_TABLES,
  maxSupportedSchemaVersion: EXAMPLE_SCHEMA_VERSION,
  client: { schemaSql: exampleClientSchemaSql(), config: EXAMPLE_CLIENT_CONFIG },
};

/** `--example samplesync`: person, person_address and comment, as upstream's samplesync server. */
export const SAMPLESYNC_PRESET: SchemaPreset = {
  description: "the samplesync example",
  appName: SAMPLESYNC_APP_NAME,
  schemaSql: tablesDdl(EXAMPLE_SCHEMA, SAMPLESYNC_TABLES),
  checkSchema: exactTables(SAMPLESYNC_TABLES),
  registeredTables: SAMPLESYNC_TABLES.map((table) => ({
    schema: EXAMPLE_SCHEMA,
    table: table.name,
    syncKeyColumns: ["id"],
  })),
  maxSupportedSchemaVersion: EXAMPLE_SCHEMA_VERSION,
  client: { schemaSql: samplesyncClientSchemaSql(), config: SAMPLESYNC_CLIENT_CONFIG },
};

/** Every built-in example by its `--example` name. */
export const EXAMPLE_PRESETS: Readonly<Record<ExampleName, SchemaPreset>> = {
  business: BUSINESS_PRESET,
  samplesync: SAMPLESYNC_PRESET,
};

/**
 * Creates whatever part of the business example is missing and checks that what exists has exactly
 * the expected shape, all in one transaction: on a mismatch it throws `example_schema_mismatch` and
 * leaves the database as it was.
 */
export function ensureExampleSchema(pool: SqlPool): Promise<void> {
  return installSchemaPreset(pool, BUSINESS_PRESET);
}
