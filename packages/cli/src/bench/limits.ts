/**
 * The physical limits the scenarios compare with, measured on the same rows in the same run: what
 * PostgreSQL and SQLite need for the same writes and reads with no sync at all.
 */
import type { SqliteDriver } from "@oversync/client";
import type pg from "pg";
import type { Item } from "./bench-schema.js";
import { timed } from "./stats.js";

/**
 * PostgreSQL writing `items` for `user` in one INSERT … SELECT FROM unnest(…) into the unsynced
 * twin (as fast as COPY at these sizes, without a COPY dependency). Milliseconds.
 */
export function postgresInsert(pool: pg.Pool, user: string, items: readonly Item[]): Promise<number> {
  return timed(() =>
    pool.query(
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
    ),
  );
}

/** PostgreSQL reading all of `user`'s synced rows in one SELECT. Milliseconds. */
export function postgresSelect(pool: pg.Pool, user: string): Promise<number> {
  return timed(() => pool.query("SELECT * FROM bench.items WHERE _sync_scope_id = $1", [user]));
}

/**
 * What a device needs at least to receive `user`'s rows: PostgreSQL reading them in one SELECT and
 * SQLite writing what it returned in one transaction into the device's unsynced table.
 * Milliseconds.
 */
export async function deviceReceive(pool: pg.Pool, user: string, driver: SqliteDriver): Promise<number> {
  await driver.exec("DELETE FROM items_plain");
  return timed(async () => {
    const { rows } = await pool.query<{
      id: string;
      name: string;
      count: string;
      ratio: number;
      data: Buffer;
    }>("SELECT id, name, count, ratio, data FROM bench.items WHERE _sync_scope_id = $1", [user]);
    await driver.transaction(async (tx) => {
      for (const row of rows) {
        await tx.run("INSERT INTO items_plain (id, name, count, ratio, data) VALUES (?, ?, ?, ?, ?)", [
          row.id,
          row.name,
          BigInt(row.count),
          row.ratio,
          row.data,
        ]);
      }
    });
  });
}
