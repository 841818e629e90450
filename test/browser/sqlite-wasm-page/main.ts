/**
 * The test page: runs the driver conformance cases against the sqlite-wasm driver (each case in a
 * folder of its own in the default OPFS pool), then the browser-only cases, and answers every
 * case's result to test/browser/sqlite-wasm-driver.test.ts, which turns each into a vitest test.
 */
import type { SqliteDriver } from "@oversync/client";
import { openSqliteWasmDriver } from "@oversync/client/sqlite-wasm";
import { show } from "../../client-drivers/assertions.js";
import { closeAllDrivers, driverConformanceCases } from "../../client-drivers/driver-conformance-cases.js";
import { SQLITE_WASM_TRAITS, sqliteWasmCases } from "../sqlite-wasm-cases.js";

export interface CaseResult {
  readonly group: string;
  readonly name: string;
  /** Undefined when the case passed. */
  readonly failure?: string;
}

/** What the page offers the test, on `window`. */
export interface SqliteWasmPage {
  runCases(): Promise<CaseResult[]>;
  /** Writes a row to `reload.db` and closes it, before the test reloads the page. */
  writeBeforeReload(): Promise<void>;
  /** The rows of `reload.db` after the reload, with the database's persistence. */
  readAfterReload(): Promise<{ persistence: string; rows: unknown }>;
}

const CASE_TIMEOUT_MS = 20_000;

async function runCases(): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const record = async (group: string, name: string, run: () => Promise<void>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A case that hangs (a reply that never comes) fails by name instead of stalling the run.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result after ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    });
    try {
      await Promise.race([run(), timeout]);
      results.push({ group, name });
    } catch (error) {
      const stack = error instanceof Error && error.stack ? `\n${error.stack}` : "";
      results.push({ group, name, failure: `${show(error)}${stack}` });
    } finally {
      clearTimeout(timer);
    }
  };
  // Held open across the conformance cases, so they share one worker and pool rather than each
  // starting its own (that start-up is tested by the browser-only cases).
  const keeper = await openSqliteWasmDriver("keeper.db");
  let index = 0;
  for (const { group, name, run } of driverConformanceCases(SQLITE_WASM_TRAITS)) {
    const folder = `case-${++index}`;
    const opened: SqliteDriver[] = [];
    const open = async (filename: string) => {
      const driver = await openSqliteWasmDriver(`${folder}/${filename}`);
      opened.push(driver);
      return driver;
    };
    await record(group, name, async () => {
      try {
        await run({ driver: await open("main.db"), open });
      } finally {
        await closeAllDrivers(opened);
      }
    });
  }
  await keeper.close();
  for (const { group, name, run } of sqliteWasmCases()) await record(group, name, run);
  return results;
}

const page: SqliteWasmPage = {
  runCases,
  async writeBeforeReload() {
    const driver = await openSqliteWasmDriver("reload.db");
    await driver.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('written before the reload')");
    await driver.close();
  },
  async readAfterReload() {
    const driver = await openSqliteWasmDriver("reload.db");
    try {
      return { persistence: driver.persistence, rows: await driver.query("SELECT id FROM t") };
    } finally {
      await driver.close();
    }
  },
};
Object.assign(window, { oversyncTestPage: page });
