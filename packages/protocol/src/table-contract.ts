/**
 * The registered-table contract check both clients run on capabilities (protocol-latest §1.1): the
 * advertised set must equal the client's tables, each with exactly one sync-key column.
 */
import type { TableSpec } from "./wire/capabilities.js";

/** A table whose sync key differs between client and server. */
export interface SyncKeyMismatch {
  readonly qualifiedTable: string;
  readonly clientSyncKeyColumns: readonly string[];
  readonly serverSyncKeyColumns: readonly string[];
}

/** The outcome of comparing table contracts. */
export type TableContractResult =
  | { readonly kind: "match" }
  | {
      readonly kind: "mismatch";
      readonly serverOnlyTables: readonly string[];
      readonly clientOnlyTables: readonly string[];
      readonly syncKeyMismatches: readonly SyncKeyMismatch[];
    }
  | { readonly kind: "invalid"; readonly reason: string };

/**
 * Compares the client's table specs with the advertised `registered_table_specs`. Client table and
 * key names are lower-cased (as the clients configure them), the schema is kept; server strings are
 * compared verbatim. A missing or null advertisement, a malformed or duplicate spec, or a spec
 * without exactly one non-blank key column on either side gives `invalid`. Lists are sorted.
 */
export function compareTableContract(
  localSpecs: readonly TableSpec[],
  advertised: unknown,
): TableContractResult {
  if (!Array.isArray(advertised)) {
    return { kind: "invalid", reason: "capabilities registered_table_specs is missing or not an array" };
  }
  const local = indexSpecs(
    localSpecs.map((spec) => ({
      schema: spec.schema,
      table: spec.table.toLowerCase(),
      sync_key_columns: spec.sync_key_columns.map((column) => column.toLowerCase()),
    })),
    "client",
  );
  if (typeof local === "string") return { kind: "invalid", reason: local };
  const server = indexSpecs(advertised, "server");
  if (typeof server === "string") return { kind: "invalid", reason: server };

  const serverOnlyTables = [...server.keys()].filter((name) => !local.has(name)).sort();
  const clientOnlyTables = [...local.keys()].filter((name) => !server.has(name)).sort();
  const syncKeyMismatches = [...local.entries()]
    .filter(([name, columns]) => server.has(name) && server.get(name)![0] !== columns[0])
    .map(([name, columns]) => ({
      qualifiedTable: name,
      clientSyncKeyColumns: columns,
      serverSyncKeyColumns: server.get(name)!,
    }))
    .sort((a, b) => (a.qualifiedTable < b.qualifiedTable ? -1 : 1));
  if (serverOnlyTables.length === 0 && clientOnlyTables.length === 0 && syncKeyMismatches.length === 0) {
    return { kind: "match" };
  }
  return { kind: "mismatch", serverOnlyTables, clientOnlyTables, syncKeyMismatches };
}

/** Maps "schema.table" to its key columns, or returns why the list is invalid. */
function indexSpecs(specs: readonly unknown[], side: string): Map<string, string[]> | string {
  const byName = new Map<string, string[]>();
  for (const [index, spec] of specs.entries()) {
    if (!isTableSpec(spec)) return `${side} table spec ${index} is not {schema, table, sync_key_columns}`;
    const name = `${spec.schema}.${spec.table}`;
    if (spec.sync_key_columns.length !== 1 || spec.sync_key_columns[0]!.trim() === "") {
      return `${side} table ${name} must have exactly one non-blank sync key column`;
    }
    if (byName.has(name)) return `${side} table ${name} is listed twice`;
    byName.set(name, [...spec.sync_key_columns]);
  }
  return byName;
}

function isTableSpec(value: unknown): value is TableSpec {
  if (typeof value !== "object" || value === null) return false;
  const spec = value as Record<string, unknown>;
  return (
    typeof spec.schema === "string" &&
    typeof spec.table === "string" &&
    Array.isArray(spec.sync_key_columns) &&
    spec.sync_key_columns.every((column) => typeof column === "string")
  );
}
