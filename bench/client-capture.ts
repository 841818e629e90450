/**
 * Client write cost: inserting rows into a managed table (capture triggers write one dirty row per
 * change) against the physical limit, the same inserts into an identical unmanaged table, both in
 * one transaction on a real SQLite file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSyncStore } from "../packages/client/src/store/sync-store.js";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { type Measurement, median, timed } from "./measure.js";

const TABLE_SQL = (name: string) =>
  `CREATE TABLE ${name} (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, ratio REAL, data BLOB)`;

/** Runs the scenario `rounds` times with `rowCount` inserts per transaction. */
export async function benchClientCapture(rowCount: number, rounds: number): Promise<Measurement[]> {
  const dir = await mkdtemp(join(tmpdir(), "oversync-bench-"));
  try {
    const plain: number[] = [];
    const managed: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const driver = await openBetterSqlite3Driver(join(dir, `round-${round}.db`));
      await driver.exec(`${TABLE_SQL("items")}; ${TABLE_SQL("items_plain")};`);
      await openSyncStore(driver, {
        schema: "main",
        syncTables: [{ tableName: "items", syncKeyColumnName: "id" }],
      });
      const insertAll = (table: string) =>
        driver.transaction(async (tx) => {
          for (let index = 0; index < rowCount; index++) {
            await tx.run(`INSERT INTO ${table} (id, name, count, ratio, data) VALUES (?, ?, ?, ?, ?)`, [
              `item-${round}-${index}`,
              `item ${index} with a name of ordinary length`,
              9_007_199_254_740_993n + BigInt(index),
              index / 7,
              new Uint8Array([index & 0xff, 1, 2, 3]),
            ]);
          }
        });
      plain.push(await timed(() => insertAll("items_plain")));
      managed.push(await timed(() => insertAll("items")));
      await driver.close();
    }
    return [
      { name: `SQLite INSERT of ${rowCount} rows, no sync (limit)`, millis: median(plain), rows: rowCount },
      {
        name: `SQLite INSERT of ${rowCount} rows into a managed table`,
        millis: median(managed),
        rows: rowCount,
        limit: median(plain),
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
