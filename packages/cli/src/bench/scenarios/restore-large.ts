/**
 * A fresh device restoring a large account (100k rows × ~256 B by default) when it attaches, with
 * the client's memory: this process's RSS is sampled every 10 ms during attach() and the growth
 * over the RSS just before is reported. The server is an `oversync serve` child, so its memory is
 * not counted. The rows are pushed through the API beforehand, 10k-row bundles at a time, and are
 * never all held here, so their garbage does not blur the client's figure.
 *
 * Limit: PostgreSQL selecting the rows plus SQLite inserting them in one transaction.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { DEVICE_SQL, itemsFor, pushRowsOf } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { deviceReceive } from "../limits.js";
import { mib, timed } from "../stats.js";
import { WireClient } from "../wire-client.js";
import { expectRows } from "./client-sync.js";

const SEED_BUNDLE_ROWS = 10_000;

export async function runRestoreLarge(ctx: BenchContext): Promise<void> {
  const rows = ctx.sizes.largeRows;
  const db = await ctx.database();
  const server = await ctx.serve(db);
  const dir = await ctx.tempDir();
  const user = `large-${randomUUID()}`;
  const writer = new WireClient(server.origin, await server.token(user), "seed");
  await writer.connect();
  for (let done = 0; done < rows; done += SEED_BUNDLE_ROWS) {
    ctx.progress(`seeding ${done.toLocaleString("en-US")} of ${rows.toLocaleString("en-US")} rows`);
    await writer.push(pushRowsOf(itemsFor(Math.min(SEED_BUNDLE_ROWS, rows - done))));
  }
  const limitDriver = await openBetterSqlite3Driver(join(dir, "limit.db"));
  ctx.defer(() => limitDriver.close());
  await limitDriver.exec(DEVICE_SQL);

  const times = {
    receive: [] as number[],
    restore: [] as number[],
    growth: [] as number[],
    peak: [] as number[],
  };
  for (let round = 0; round < ctx.rounds; round++) {
    ctx.progress(`round ${round + 1}/${ctx.rounds}`);
    times.receive.push(await deviceReceive(db.pool, user, limitDriver));
    const device = await ctx.device(server, dir, `restorer-${round}`, user);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      times.restore.push(await timed(() => device.client.attach(user)));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    times.growth.push(mib(peak - before));
    times.peak.push(mib(peak));
    await expectRows(device.driver, rows);
    await device.close();
  }
  const count = rows.toLocaleString("en-US");
  const f = ctx.figures;
  f.add("restore-large.receive", `PostgreSQL SELECT + SQLite INSERT of ${count} rows`, "ms", times.receive, {
    rows,
    isLimit: true,
  });
  f.add("restore-large.restore", `attach() restoring ${count} rows from a snapshot`, "ms", times.restore, {
    rows,
    limit: "restore-large.receive",
  });
  f.add("restore-large.rss-growth", "client RSS growth during the restore", "MiB", times.growth);
  f.add("restore-large.rss-peak", "client process RSS at its peak (bench process)", "MiB", times.peak);
  ctx.notes.push(
    `${count} rows pushed through the API in bundles of up to ${SEED_BUNDLE_ROWS.toLocaleString("en-US")}; ` +
      "each round restores them onto a new SQLite file.",
  );
}
