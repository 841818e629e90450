/**
 * The one table every scenario syncs, `bench.items`, and its rows: about 256 bytes each on the
 * wire (a uuid key, a 200-character name, a 64-bit count beyond 2^53, a float, a small BLOB), the
 * row size the performance issue's figures were taken at. `items_raw` (server) and `items_plain`
 * (device) are unsynced twins for the limits.
 */
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type PushRow, renderFloat64 } from "@oversync/protocol";
import type { SqliteDriver } from "@oversync/client";

/** Creates the server's tables (the synced one and its unsynced twin). */
export const SERVER_SQL = `
  CREATE SCHEMA IF NOT EXISTS bench;
  CREATE TABLE IF NOT EXISTS bench.items (
    _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, count int8 NOT NULL,
    ratio float8, data bytea, PRIMARY KEY (_sync_scope_id, id));
  CREATE TABLE IF NOT EXISTS bench.items_raw (LIKE bench.items INCLUDING ALL);`;

/** The registration of `bench.items` for the sync runtime. */
export const BENCH_TABLES = [{ schema: "bench", table: "items", syncKeyColumns: ["id"] }];

export const BENCH_APP = "oversync-bench";

const deviceTable = (table: string) =>
  `CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, ratio REAL, data BLOB)`;

/** Creates the device's tables: the synced `items` and the unsynced `items_plain`. */
export const DEVICE_SQL = `${deviceTable("items")}; ${deviceTable("items_plain")};`;

/** The client's sync configuration for `items`. */
export const DEVICE_CONFIG = {
  schema: "bench",
  syncTables: [{ tableName: "items", syncKeyColumnName: "id" }],
};

/** One row of `items`. */
export interface Item {
  readonly id: string;
  readonly name: string;
  readonly count: bigint;
  readonly ratio: number;
  readonly data: Uint8Array;
}

/** `count` fresh rows. */
export function itemsFor(count: number): Item[] {
  return Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    name: `item ${index} `.padEnd(200, "abcdefghij"),
    count: 9_007_199_254_740_993n + BigInt(index),
    ratio: index / 7,
    data: new Uint8Array([index & 0xff, 1, 2, 3, 4, 5, 6, 7]),
  }));
}

/** The rows as INSERTs of a push, in the wire's value encoding (int8 and float8 as text, bytea as base64). */
export function pushRowsOf(items: readonly Item[]): PushRow[] {
  return items.map((item) => ({
    schema: "bench",
    table: "items",
    key: { id: item.id },
    op: "INSERT",
    base_row_version: 0,
    payload: {
      id: item.id,
      name: item.name,
      count: item.count.toString(),
      ratio: renderFloat64(item.ratio),
      data: Buffer.from(item.data).toString("base64"),
    },
  }));
}

/** Inserts the rows into a device table in one transaction. */
export async function insertLocally(
  driver: SqliteDriver,
  table: string,
  items: readonly Item[],
): Promise<void> {
  await driver.transaction(async (tx) => {
    for (const item of items) {
      await tx.run(`INSERT INTO ${table} (id, name, count, ratio, data) VALUES (?, ?, ?, ?, ?)`, [
        item.id,
        item.name,
        item.count,
        item.ratio,
        item.data,
      ]);
    }
  });
}

/** Writes the `oversync serve --config` file of the bench schema (its tables already exist). */
export async function writeServeConfig(dir: string): Promise<string> {
  const file = join(dir, "bench-serve.json");
  await writeFile(file, JSON.stringify({ appName: BENCH_APP, tables: BENCH_TABLES }));
  return file;
}
