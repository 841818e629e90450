/**
 * The page of `oversync bench --scenario=browser` (packages/cli/src/bench/scenarios/browser.ts):
 * in Chromium, a client on the sqlite-wasm driver (OPFS) restores the rows of a user from a
 * snapshot and pushes rows of its own to an `oversync serve` child, and the same rows are inserted
 * with raw sqlite-wasm in a worker (raw-sqlite-worker.ts), the limit both are compared with. The
 * bench calls `window.oversyncBrowserBench`; times are in milliseconds, taken in the page.
 */
import { type SqliteDriver, type SyncConfig, createSyncClient } from "@oversync/client";
import { openSqliteWasmDriver } from "@oversync/client/sqlite-wasm";
import type { RawInsertReply, RawInsertRequest, RawRow } from "./raw-sqlite-worker.js";

/** One measurement: a user of the bench server and the bench table's local DDL and sync config. */
export interface BenchRequest {
  readonly baseUrl: string;
  readonly token: string;
  readonly user: string;
  /** Rows to push (push), or rows the user holds on the server (restore). */
  readonly rows: number;
  /** Names this round's database files. */
  readonly round: number;
  readonly deviceSql: string;
  readonly config: SyncConfig;
}

export interface PushTimes {
  /** Raw sqlite-wasm inserting the rows (the limit). */
  readonly rawInsert: number;
  /** The app's inserts into the synced table through the driver, capture triggers included. */
  readonly insert: number;
  readonly push: number;
}

export interface RestoreTimes {
  readonly restore: number;
  /** Raw sqlite-wasm inserting the restored rows (the limit). */
  readonly rawInsert: number;
  /** The restored rows inserted through the driver into an unsynced table. */
  readonly insert: number;
}

export interface BrowserBenchPage {
  push(request: BenchRequest): Promise<PushTimes>;
  restore(request: BenchRequest): Promise<RestoreTimes>;
}

const POOL = "oversync-bench";
const rawWorker = new Worker(new URL("./raw-sqlite-worker.ts", import.meta.url), { type: "module" });

async function rawInsert(file: string, createSql: string, rows: readonly RawRow[]): Promise<number> {
  const reply = await new Promise<RawInsertReply>((resolve) => {
    rawWorker.addEventListener("message", (event: MessageEvent<RawInsertReply>) => resolve(event.data), {
      once: true,
    });
    rawWorker.postMessage({ file, createSql, rows } satisfies RawInsertRequest);
  });
  if (!reply.ok) throw new Error(`raw sqlite-wasm failed: ${reply.error}`);
  return reply.millis;
}

/** Rows as the Node bench makes them (bench-schema.ts): about 256 bytes each on the wire. */
function itemsFor(count: number): RawRow[] {
  return Array.from({ length: count }, (_, index) => ({
    id: crypto.randomUUID(),
    name: `item ${index} `.padEnd(200, "abcdefghij"),
    count: 9_007_199_254_740_993n + BigInt(index),
    ratio: index / 7,
    data: new Uint8Array([index & 0xff, 1, 2, 3, 4, 5, 6, 7]),
  }));
}

async function insertRows(driver: SqliteDriver, table: string, rows: readonly RawRow[]): Promise<number> {
  const started = performance.now();
  await driver.transaction(async (tx) => {
    for (const row of rows) {
      await tx.run(`INSERT INTO ${table} (id, name, count, ratio, data) VALUES (?, ?, ?, ?, ?)`, [
        row.id,
        row.name,
        row.count,
        row.ratio,
        row.data,
      ]);
    }
  });
  return performance.now() - started;
}

/** Opens a fresh database of the round with a client (not attached yet), and closes both after `work`. */
async function withClient<T>(
  file: string,
  request: BenchRequest,
  work: (driver: SqliteDriver, client: ReturnType<typeof createSyncClient>) => Promise<T>,
): Promise<T> {
  const driver = await openSqliteWasmDriver(file, { pool: POOL });
  const client = createSyncClient({
    driver,
    config: request.config,
    baseUrl: request.baseUrl,
    tokenProvider: () => request.token,
  });
  try {
    await driver.exec(request.deviceSql);
    await client.open();
    return await work(driver, client);
  } finally {
    await client.close();
    await driver.close();
  }
}

const page: BrowserBenchPage = {
  async push(request) {
    const rows = itemsFor(request.rows);
    const raw = await rawInsert(`push-raw-${request.round}.db`, request.deviceSql, rows);
    return withClient(`push-${request.round}.db`, request, async (driver, client) => {
      await client.attach(request.user);
      const insert = await insertRows(driver, "items", rows);
      const started = performance.now();
      const report = await client.pushPending();
      const push = performance.now() - started;
      if (report.outcome !== "committed") throw new Error(`the push ended ${report.outcome}`);
      return { rawInsert: raw, insert, push };
    });
  },

  async restore(request) {
    const restored = await withClient(`restore-${request.round}.db`, request, async (driver, client) => {
      const started = performance.now();
      const attached = await client.attach(request.user);
      const restore = performance.now() - started;
      if (attached.status !== "connected") throw new Error("attach asked to retry later");
      const rows = await driver.query<RawRow>("SELECT id, name, count, ratio, data FROM items");
      if (rows.length !== request.rows)
        throw new Error(`restored ${rows.length} rows, expected ${request.rows}`);
      const insert = await insertRows(driver, "items_plain", rows);
      return { restore, insert, rows };
    });
    const raw = await rawInsert(`restore-raw-${request.round}.db`, request.deviceSql, restored.rows);
    return { restore: restored.restore, rawInsert: raw, insert: restored.insert };
  },
};

Object.assign(window, { oversyncBrowserBench: page });
