/**
 * What only the sqlite-wasm driver has: OPFS persistence, the pool's exclusivity across workers
 * (each stands for another tab) and the in-memory fallback. Run in Chromium by the page in
 * sqlite-wasm-page/, next to the conformance cases every driver passes.
 */
import { type SqliteDriver, isClientError } from "@oversync/client";
import { type SqliteWasmDriver, openSqliteWasmDriver } from "@oversync/client/sqlite-wasm";
import { assert, assertEqual, rejection, show } from "../client-drivers/assertions.js";
import { type DriverTraits, closeAllDrivers } from "../client-drivers/driver-conformance-cases.js";

/** The conformance cases as this driver shows them: its SQL functions return no value to SQL. */
export const SQLITE_WASM_TRAITS: DriverTraits = { functionResults: false };

export interface BrowserCase {
  readonly group: string;
  readonly name: string;
  readonly run: () => Promise<void>;
}

/** A worker of the page's own, running the driver's worker module, as an app may start one. */
function appWorker(): Worker {
  return new Worker(new URL("./sqlite-wasm-page/app-worker.ts", import.meta.url), { type: "module" });
}

/** Runs `work` with drivers it opens, closing them (and ending the workers it made) afterwards. */
async function withCleanup(
  work: (keep: <D extends SqliteDriver>(driver: D) => D, workers: Worker[]) => Promise<void>,
): Promise<void> {
  const drivers: SqliteDriver[] = [];
  const workers: Worker[] = [];
  const keep = <D extends SqliteDriver>(driver: D): D => {
    drivers.push(driver);
    return driver;
  };
  try {
    await work(keep, workers);
  } finally {
    await closeAllDrivers(drivers);
    for (const worker of workers) worker.terminate();
  }
}

async function rowsOf(driver: SqliteDriver): Promise<unknown> {
  return driver.query("SELECT id FROM t ORDER BY id");
}

export function sqliteWasmCases(): BrowserCase[] {
  const group = "sqlite-wasm in the browser";
  return [
    {
      group,
      name: "a file database lives in OPFS and says so (persistence: opfs)",
      run: () =>
        withCleanup(async (keep) => {
          const driver = keep(await openSqliteWasmDriver("persisted.db", { pool: "case-persisted" }));
          assertEqual(driver.persistence, "opfs", "persistence");
          assertEqual(driver.name, "sqlite-wasm", "name");
          // The pool's files are in its OPFS directory, `.<pool>`.
          const root = await navigator.storage.getDirectory();
          const directory = await root.getDirectoryHandle(".case-persisted");
          assert(directory.kind === "directory", "the pool has its OPFS directory");
          const memory = keep(await openSqliteWasmDriver(":memory:", { pool: "case-persisted" }));
          assertEqual(memory.persistence, "memory", ":memory: persistence");
        }),
    },
    {
      group,
      name: "a database closed by its last connection opens again in a new worker with its rows",
      run: async () => {
        const pool = "case-reopen";
        const first = await openSqliteWasmDriver("reopen.db", { pool });
        await first.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('kept')");
        await first.close();
        await withCleanup(async (keep) => {
          const second = keep(await openSqliteWasmDriver("reopen.db", { pool }));
          assertEqual(await rowsOf(second), [{ id: "kept" }]);
        });
      },
    },
    {
      group,
      name: "a worker releases the pool on its last close: another can take it, then it takes it back",
      run: () =>
        withCleanup(async (keep, workers) => {
          const pool = "case-release";
          const [one, two] = [appWorker(), appWorker()];
          workers.push(one, two);
          const first = await openSqliteWasmDriver("release.db", { pool, worker: one });
          await first.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('from one')");
          await first.close();
          // Worker one is still running: only its close can have released the access handles.
          const taken = await openSqliteWasmDriver("release.db", { pool, worker: two });
          await taken.run("INSERT INTO t VALUES (?)", ["from two"]);
          await taken.close();
          const back = keep(await openSqliteWasmDriver("release.db", { pool, worker: one }));
          assertEqual(back.persistence, "opfs", "persistence");
          assertEqual(await rowsOf(back), [{ id: "from one" }, { id: "from two" }]);
        }),
    },
    {
      group,
      name: "another worker (another tab) cannot open the pool while it is in use: database_already_owned",
      run: () =>
        withCleanup(async (keep, workers) => {
          const pool = "case-owned";
          const holder = keep(await openSqliteWasmDriver("owned.db", { pool }));
          await holder.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('from the holder')");
          const other = appWorker();
          workers.push(other);
          const refused = await rejection(openSqliteWasmDriver("owned.db", { pool, worker: other }));
          assert(
            isClientError(refused, "database_already_owned"),
            `expected database_already_owned, got ${show(refused)}`,
          );
          // Its failed start left the pool's files alone, and once the holder closes it can have them.
          await holder.close();
          const taker = keep(await openSqliteWasmDriver("owned.db", { pool, worker: other }));
          assertEqual(taker.persistence, "opfs", "persistence");
          assertEqual(await rowsOf(taker), [{ id: "from the holder" }]);
        }),
    },
    {
      group,
      name: "connections of the page to one pool share its worker and see each other's writes",
      run: () =>
        withCleanup(async (keep) => {
          const pool = "case-shared";
          const one = keep(await openSqliteWasmDriver("one.db", { pool }));
          const two = keep(await openSqliteWasmDriver("two.db", { pool }));
          const oneAgain = keep(await openSqliteWasmDriver("one.db", { pool }));
          await one.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('one')");
          await two.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('two')");
          assertEqual(await rowsOf(oneAgain), [{ id: "one" }]);
          assertEqual(await rowsOf(two), [{ id: "two" }]);
        }),
    },
    {
      group,
      name: "without OPFS access handles the database falls back to memory and says so (persistence: memory)",
      run: () =>
        withCleanup(async (keep, workers) => {
          const worker = new Worker(new URL("./sqlite-wasm-page/no-opfs-worker.ts", import.meta.url), {
            type: "module",
          });
          workers.push(worker);
          const pool = "case-memory";
          const first: SqliteWasmDriver = keep(await openSqliteWasmDriver("memory.db", { pool, worker }));
          assertEqual(first.persistence, "memory", "persistence");
          await first.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('in memory')");
          // Connections of the worker to the same name share the database while one is open ...
          const second = keep(await openSqliteWasmDriver("memory.db", { pool, worker }));
          assertEqual(await rowsOf(second), [{ id: "in memory" }]);
          await second.close();
          await first.close();
          // ... and it is gone once the last has closed: nothing was durable.
          const later = keep(await openSqliteWasmDriver("memory.db", { pool, worker }));
          assertEqual(await later.query("SELECT name FROM sqlite_master"), []);
        }),
    },
  ];
}
