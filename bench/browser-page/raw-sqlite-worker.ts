/**
 * The limit the browser bench compares with: `@sqlite.org/sqlite-wasm` used directly in a worker
 * of its own, on the same opfs-sahpool VFS as the driver (in a pool of its own), inserting the rows
 * with one prepared statement in one transaction. Only BEGIN … COMMIT is timed, in the worker.
 */
import sqlite3InitModule from "@sqlite.org/sqlite-wasm";

/** One row of the bench table, as the page sends it. */
export interface RawRow {
  readonly id: string;
  readonly name: string;
  readonly count: bigint;
  readonly ratio: number;
  readonly data: Uint8Array;
}

export interface RawInsertRequest {
  readonly file: string;
  readonly createSql: string;
  readonly rows: readonly RawRow[];
}

export type RawInsertReply =
  | { readonly ok: true; readonly millis: number }
  | { readonly ok: false; readonly error: string };

interface WorkerScope {
  addEventListener(type: "message", listener: (event: MessageEvent<RawInsertRequest>) => void): void;
  postMessage(message: RawInsertReply): void;
}

const scope = globalThis as unknown as WorkerScope;
const ready = (async () => {
  const sqlite3 = await sqlite3InitModule();
  const pool = await sqlite3.installOpfsSAHPoolVfs({ name: "oversync-bench-raw", initialCapacity: 16 });
  return { sqlite3, pool };
})();

scope.addEventListener("message", async (event) => {
  const { file, createSql, rows } = event.data;
  try {
    const { pool } = await ready;
    const db = new pool.OpfsSAHPoolDb(file);
    try {
      db.exec(createSql);
      const insert = db.prepare(
        "INSERT INTO items_plain (id, name, count, ratio, data) VALUES (?, ?, ?, ?, ?)",
      );
      const started = performance.now();
      db.exec("BEGIN IMMEDIATE");
      for (const row of rows) {
        insert.bind([row.id, row.name, row.count, row.ratio, row.data]).stepReset();
      }
      db.exec("COMMIT");
      const millis = performance.now() - started;
      insert.finalize();
      scope.postMessage({ ok: true, millis });
    } finally {
      db.close();
      pool.unlink(file);
    }
  } catch (error) {
    scope.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
