/**
 * Runs `local-schema/{basic-sync,blob-sync,cascade-sync,business-rich-v0}/`: installs sync on the
 * fixture's schema and compares the structure (PRAGMA dumps, trigger names, views; never SQL text),
 * then replays every write transition on a fresh database and compares `_sync_dirty_rows` and the
 * application row counts exactly.
 */
import type { SyncConfig } from "@oversync/client";
import { openSyncStore } from "../../packages/client/src/store/sync-store.js";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, readContractText, requireContracts } from "../support/contracts.js";
import {
  describeTable,
  execAll,
  tableNames,
  triggerList,
  viewList,
  withTempDatabase,
} from "./store-harness.js";

const FIXTURES = ["basic-sync", "blob-sync", "cascade-sync", "business-rich-v0"] as const;

interface ExpectedSchema {
  tables: { name: string }[];
  views: { name: string; sql: string }[];
  triggers: { name: string; tableName: string }[];
}
interface WriteTransitions {
  applicationTables: string[];
  cases: { name: string; setupSql: string[]; actionSql: string[] }[];
}
interface ExpectedTransitions {
  cases: {
    name: string;
    dirtyRows: {
      schemaName: string;
      tableName: string;
      keyJson: string;
      op: string;
      baseRowVersion: number;
      payload: string | null;
      dirtyOrdinal: number;
    }[];
    applicationRowCounts: Record<string, number>;
  }[];
}

const available = requireContracts();
const tally = fixtureTally();
const fixtureCase = (file: string, name: string, check: () => Promise<void>) => tally.it(file, name, check);

/** Creates the fixture's application schema and installs sync per its config. */
async function installFixture(
  driver: Parameters<Parameters<typeof withTempDatabase>[0]>[0],
  dir: string,
): Promise<void> {
  await driver.exec(readContractText(`local-schema/${dir}/schema.sql`));
  await openSyncStore(driver, readContract<SyncConfig>(`local-schema/${dir}/config.json`));
}

describe.skipIf(!available)("local-schema fixtures", () => {
  for (const dir of FIXTURES) {
    describe(dir, () => {
      const schemaFile = `local-schema/${dir}/schema.expected.json`;
      const expected = available ? readContract<ExpectedSchema>(schemaFile) : undefined;

      fixtureCase(
        schemaFile,
        "tables: columns, types, NOT NULL, defaults, keys, foreign keys, indexes",
        async () => {
          await withTempDatabase(async (driver) => {
            await installFixture(driver, dir);
            const names = expected!.tables.map((table) => table.name);
            expect(await tableNames(driver)).toEqual([...names].sort());
            for (const table of expected!.tables) {
              expect(await describeTable(driver, table.name), table.name).toEqual(table);
            }
          });
        },
      );

      fixtureCase(schemaFile, "trigger names per table", async () => {
        await withTempDatabase(async (driver) => {
          await installFixture(driver, dir);
          const triggers = expected!.triggers.map(({ name, tableName }) => ({ name, tableName }));
          expect(await triggerList(driver)).toEqual(triggers.sort((a, b) => a.name.localeCompare(b.name)));
        });
      });

      fixtureCase(schemaFile, "views present and untouched", async () => {
        await withTempDatabase(async (driver) => {
          await installFixture(driver, dir);
          expect(await viewList(driver)).toEqual(expected!.views);
        });
      });

      const transitionsFile = `local-schema/${dir}/write-transitions.json`;
      const transitions = available ? readContract<WriteTransitions>(transitionsFile) : undefined;
      const outcomes = available
        ? readContract<ExpectedTransitions>(`local-schema/${dir}/write-transitions.expected.json`)
        : undefined;
      for (const transition of transitions?.cases ?? []) {
        fixtureCase(transitionsFile, transition.name, async () => {
          const outcome = outcomes!.cases.find((candidate) => candidate.name === transition.name);
          expect(outcome, `expected outcome for ${transition.name}`).toBeDefined();
          await withTempDatabase(async (driver) => {
            await installFixture(driver, dir);
            await execAll(driver, transition.setupSql);
            await execAll(driver, transition.actionSql);
            const dirtyRows = await driver.query(
              "SELECT schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal " +
                "FROM _sync_dirty_rows ORDER BY dirty_ordinal",
            );
            expect(
              dirtyRows.map((row) => ({
                schemaName: row.schema_name,
                tableName: row.table_name,
                keyJson: row.key_json,
                op: row.op,
                baseRowVersion: row.base_row_version,
                payload: row.payload,
                dirtyOrdinal: row.dirty_ordinal,
              })),
            ).toEqual(
              outcome!.dirtyRows.map((row) => ({
                ...row,
                baseRowVersion: BigInt(row.baseRowVersion),
                dirtyOrdinal: BigInt(row.dirtyOrdinal),
              })),
            );
            const counts: Record<string, bigint> = {};
            for (const table of Object.keys(outcome!.applicationRowCounts)) {
              const [row] = await driver.query<{ n: bigint }>(`SELECT count(*) AS n FROM "${table}"`);
              counts[table] = row!.n;
            }
            expect(counts).toEqual(
              Object.fromEntries(
                Object.entries(outcome!.applicationRowCounts).map(([table, n]) => [table, BigInt(n)]),
              ),
            );
          });
        });
      }
    });
  }
});
