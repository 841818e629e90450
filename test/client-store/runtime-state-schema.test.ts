/**
 * Runs `runtime-state/schema/v1.json` against a freshly opened `users` database: pragmas, the
 * `_sync_*` tables' columns, the runtime's own indexes, trigger names (not their SQL) and the
 * normalized initial durable rows.
 */
import { openSyncStore } from "../../packages/client/src/store/sync-store.js";
import { beforeAll, describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { dumpRuntimeState, normalizeRuntimeState, triggerList, withTempDatabase } from "./store-harness.js";

const FILE = "runtime-state/schema/v1.json";

/** The fixtures' `users` preset: the columns its triggers serialize, with a NOT NULL TEXT key. */
const USERS_SCHEMA = "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL)";
const USERS_CONFIG = { schema: "main", syncTables: [{ tableName: "users", syncKeyColumnName: "id" }] };

interface RuntimeStateSchema {
  pragmas: { foreignKeys: number };
  tables: { name: string; columns: unknown[] }[];
  indexes: { name: string; unique: boolean; table: string; columns: string[] }[];
  triggers: { name: string; table: string }[];
  state: Record<string, Record<string, unknown>[]>;
}

interface Observed {
  foreignKeys: unknown;
  tables: { name: string; columns: unknown[] }[];
  indexes: { name: string; unique: boolean; table: string; columns: string[] }[];
  triggers: { name: string; table: string }[];
  state: Record<string, Record<string, unknown>[]>;
}

const available = requireContracts();
const fixture = available ? readContract<RuntimeStateSchema>(FILE) : undefined;
const tally = fixtureTally();
const fixtureCase = (name: string, check: () => void) => tally.it(FILE, name, check);

describe.skipIf(!available)(FILE, () => {
  let observed: Observed;

  beforeAll(async () => {
    observed = await withTempDatabase(async (driver) => {
      await driver.exec(USERS_SCHEMA);
      await openSyncStore(driver, USERS_CONFIG);
      const [pragma] = await driver.query("PRAGMA foreign_keys");
      const runtimeTables = await driver.query<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_sync\\_%' ESCAPE '\\' ORDER BY name",
      );
      const tables = [];
      for (const { name } of runtimeTables) {
        const columns = await driver.query("SELECT * FROM pragma_table_info(?) ORDER BY cid", [name]);
        tables.push({
          name,
          columns: columns.map((column) => ({
            name: column.name,
            type: column.type,
            notNull: column.notnull === 1n,
            defaultValue: column.dflt_value,
            primaryKeyPosition: Number(column.pk),
          })),
        });
      }
      const indexRows = await driver.query<{ name: string; tbl_name: string }>(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL " +
          "AND tbl_name LIKE '\\_sync\\_%' ESCAPE '\\' ORDER BY name",
      );
      const indexes = [];
      for (const index of indexRows) {
        const [listed] = await driver.query("SELECT * FROM pragma_index_list(?) WHERE name = ?", [
          index.tbl_name,
          index.name,
        ]);
        const columns = await driver.query<{ name: string }>(
          "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
          [index.name],
        );
        indexes.push({
          name: index.name,
          unique: listed?.unique === 1n,
          table: index.tbl_name,
          columns: columns.map((column) => column.name),
        });
      }
      const triggers = (await triggerList(driver)).map(({ name, tableName }) => ({ name, table: tableName }));
      return {
        foreignKeys: Object.values(pragma ?? {})[0],
        tables,
        indexes,
        triggers,
        state: normalizeRuntimeState(await dumpRuntimeState(driver)),
      };
    });
  });

  fixtureCase("pragmas", () => {
    expect(observed.foreignKeys).toBe(BigInt(fixture!.pragmas.foreignKeys));
  });

  fixtureCase("tables", () => {
    const expected = [...fixture!.tables].sort((a, b) => a.name.localeCompare(b.name));
    expect(observed.tables).toEqual(expected);
  });

  fixtureCase("indexes", () => {
    expect(observed.indexes).toEqual(fixture!.indexes);
  });

  fixtureCase("trigger names", () => {
    const expected = fixture!.triggers.map(({ name, table }) => ({ name, table }));
    expect(observed.triggers).toEqual(expected.sort((a, b) => a.name.localeCompare(b.name)));
  });

  fixtureCase("initial durable state", () => {
    expect(observed.state).toEqual(fixture!.state);
  });
});
