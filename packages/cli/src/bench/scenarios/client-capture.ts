/**
 * What capture costs a device's writes: inserting rows into a synced table (its triggers record
 * each change for the outbox) against the same inserts into an identical unsynced table, both in
 * one transaction on a real SQLite file. No server: the client is opened, never attached.
 */
import { join } from "node:path";
import { createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { DEVICE_CONFIG, DEVICE_SQL, insertLocally, itemsFor } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { timed } from "../stats.js";

export async function runClientCapture(ctx: BenchContext): Promise<void> {
  const { rows } = ctx.sizes;
  const dir = await ctx.tempDir();
  const plain: number[] = [];
  const synced: number[] = [];
  for (let round = 0; round < ctx.rounds; round++) {
    const driver = await openBetterSqlite3Driver(join(dir, `round-${round}.db`));
    await driver.exec(DEVICE_SQL);
    // open() installs the capture triggers; it talks to no server.
    const client = createSyncClient({
      driver,
      config: DEVICE_CONFIG,
      baseUrl: "http://127.0.0.1:9/",
      tokenProvider: () => "unused",
    });
    await client.open();
    const items = itemsFor(rows);
    plain.push(await timed(() => insertLocally(driver, "items_plain", items)));
    synced.push(await timed(() => insertLocally(driver, "items", items)));
    await client.close();
    await driver.close();
  }
  const count = rows.toLocaleString("en-US");
  ctx.figures.add("client-capture.plain", `SQLite INSERT of ${count} rows, unsynced table`, "ms", plain, {
    rows,
    isLimit: true,
  });
  ctx.figures.add(
    "client-capture.synced",
    `SQLite INSERT of ${count} rows into a synced table`,
    "ms",
    synced,
    {
      rows,
      limit: "client-capture.plain",
    },
  );
}
