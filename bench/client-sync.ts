/**
 * End-to-end client sync over loopback HTTP against the real server on PostgreSQL: one device
 * pushes N new rows, a second device pulls them, a third restores them from a snapshot at attach.
 *
 * Limits, measured in the same run: for the push, PostgreSQL inserting the same rows in one
 * statement (the server-side write alone); for pull and restore, SQLite inserting the same rows in
 * one transaction (the device-side write alone).
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SqliteDriver, type SyncClient, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { createSyncHandler, createSyncService } from "@oversync/server";
import { serveOnLoopback, testAuthenticate } from "../test/server-http/http-support.js";
import { createTestDatabase } from "../test/support/postgres.js";
import { type Measurement, median, timed } from "./measure.js";

const SERVER_SQL = `
  CREATE SCHEMA bench;
  CREATE TABLE bench.items (
    _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, count int8 NOT NULL,
    ratio float8, data bytea, PRIMARY KEY (_sync_scope_id, id));
  CREATE TABLE bench.items_raw (LIKE bench.items INCLUDING ALL);`;

const DEVICE_SQL = (table: string) =>
  `CREATE TABLE ${table} (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, ratio REAL, data BLOB)`;

interface Item {
  readonly id: string;
  readonly name: string;
  readonly count: bigint;
  readonly ratio: number;
  readonly data: Uint8Array;
}

function itemsFor(count: number): Item[] {
  return Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    name: `item ${index} with a name of ordinary length`,
    count: 9_007_199_254_740_993n + BigInt(index),
    ratio: index / 7,
    data: new Uint8Array([index & 0xff, 1, 2, 3]),
  }));
}

async function insertLocally(driver: SqliteDriver, table: string, items: readonly Item[]): Promise<void> {
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

/** Runs the scenario `rounds` times with `rowCount` rows per push. */
export async function benchClientSync(rowCount: number, rounds: number): Promise<Measurement[]> {
  const db = await createTestDatabase("oversync_bench");
  const dir = await mkdtemp(join(tmpdir(), "oversync-bench-"));
  const service = createSyncService({
    pool: db.pool,
    appName: "oversync-bench",
    registeredTables: [{ schema: "bench", table: "items", syncKeyColumns: ["id"] }],
    maxSupportedSchemaVersion: 1,
  });
  try {
    await db.pool.query(SERVER_SQL);
    await service.bootstrap();
    const server = await serveOnLoopback(createSyncHandler({ service, authenticate: testAuthenticate }));
    const samples = {
      pgLimit: [] as number[],
      push: [] as number[],
      sqliteLimit: [] as number[],
      pull: [] as number[],
      restore: [] as number[],
    };
    const devices: { client: SyncClient; driver: SqliteDriver }[] = [];
    const device = async (name: string, userId: string) => {
      const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
      await driver.exec(`${DEVICE_SQL("items")}; ${DEVICE_SQL("items_plain")};`);
      const client = createSyncClient({
        driver,
        baseUrl: `${server.origin}/`,
        tokenProvider: () => `user:${userId}`,
        config: { schema: "bench", syncTables: [{ tableName: "items", syncKeyColumnName: "id" }] },
      });
      devices.push({ client, driver });
      await client.open();
      return { client, driver };
    };
    try {
      for (let round = 0; round < rounds; round++) {
        const user = `bench-${round}-${randomUUID()}`;
        const items = itemsFor(rowCount);
        const puller = await device(`puller-${round}`, user);
        await puller.client.attach(user);
        const pusher = await device(`pusher-${round}`, user);
        await pusher.client.attach(user);
        await insertLocally(pusher.driver, "items", items);

        samples.pgLimit.push(await timed(() => rawInsert(db.pool, user, items)));
        samples.push.push(await timed(() => pusher.client.pushPending()));
        samples.sqliteLimit.push(await timed(() => insertLocally(puller.driver, "items_plain", items)));
        samples.pull.push(await timed(() => puller.client.pullToStable()));
        const restorer = await device(`restorer-${round}`, user);
        samples.restore.push(await timed(() => restorer.client.attach(user)));
        const [counted] = await restorer.driver.query<{ n: bigint }>("SELECT count(*) AS n FROM items");
        if (Number(counted?.n) !== rowCount)
          throw new Error(`restore brought ${counted?.n} rows, expected ${rowCount}`);
      }
    } finally {
      for (const { client, driver } of devices) {
        await client.close();
        await driver.close();
      }
      await server.close();
    }
    const pg = median(samples.pgLimit);
    const sqlite = median(samples.sqliteLimit);
    return [
      { name: `PostgreSQL INSERT of ${rowCount} rows (limit)`, millis: pg, rows: rowCount },
      {
        name: `client pushPending() of ${rowCount} rows over HTTP`,
        millis: median(samples.push),
        rows: rowCount,
        limit: pg,
      },
      { name: `SQLite INSERT of ${rowCount} rows (limit)`, millis: sqlite, rows: rowCount },
      {
        name: `client pullToStable() applying ${rowCount} rows`,
        millis: median(samples.pull),
        rows: rowCount,
        limit: sqlite,
      },
      {
        name: `client attach() restoring ${rowCount} rows from a snapshot`,
        millis: median(samples.restore),
        rows: rowCount,
        limit: sqlite,
      },
    ];
  } finally {
    await service.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function rawInsert(
  pool: { query: (text: string, values: unknown[]) => Promise<unknown> },
  user: string,
  items: readonly Item[],
) {
  await pool.query(
    `INSERT INTO bench.items_raw (_sync_scope_id, id, name, count, ratio, data)
     SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::float8[], $6::bytea[])`,
    [
      user,
      items.map((item) => item.id),
      items.map((item) => item.name),
      items.map((item) => item.count.toString()),
      items.map((item) => item.ratio),
      items.map((item) => Buffer.from(item.data)),
    ],
  );
}
