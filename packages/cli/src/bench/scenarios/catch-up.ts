/**
 * Catch-up after time offline: devices attached to an account while it was empty, then other
 * devices pushed many small bundles (1,000 × 10 rows by default) through the API, then each device
 * brings itself up to date with pullToStable(). Limit: PostgreSQL selecting the same rows plus
 * SQLite inserting them in one transaction.
 */
import { randomUUID } from "node:crypto";
import { itemsFor, pushRowsOf } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { deviceReceive } from "../limits.js";
import { timed } from "../stats.js";
import { WireClient } from "../wire-client.js";
import { expectRows } from "./client-sync.js";

const BUNDLE_ROWS = 10;
/** Sources pushing at once while seeding: seeding is setup, not the figure. */
const WRITERS = 4;

export async function runCatchUp(ctx: BenchContext): Promise<void> {
  const { bundles } = ctx.sizes;
  const rows = bundles * BUNDLE_ROWS;
  const db = await ctx.database();
  const server = await ctx.serve(db);
  const dir = await ctx.tempDir();
  const user = `catch-up-${randomUUID()}`;
  const devices = [];
  for (let round = 0; round < ctx.rounds; round++) {
    const device = await ctx.device(server, dir, `device-${round}`, user);
    await device.client.attach(user);
    devices.push(device);
  }
  ctx.progress(`pushing ${bundles.toLocaleString("en-US")} bundles of ${BUNDLE_ROWS} rows`);
  const token = await server.token(user);
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, index) => {
      const writer = new WireClient(server.origin, token, `writer-${index}`);
      await writer.connect();
      while (next < bundles) {
        next++;
        await writer.push(pushRowsOf(itemsFor(BUNDLE_ROWS)));
      }
    }),
  );
  const receive: number[] = [];
  const pull: number[] = [];
  for (const [round, device] of devices.entries()) {
    ctx.progress(`round ${round + 1}/${ctx.rounds}`);
    receive.push(await deviceReceive(db.pool, user, device.driver));
    pull.push(await timed(() => device.client.pullToStable()));
    await expectRows(device.driver, rows);
  }
  const label = `${bundles.toLocaleString("en-US")} bundles × ${BUNDLE_ROWS} rows`;
  ctx.figures.add("catch-up.receive", `PostgreSQL SELECT + SQLite INSERT of ${label}`, "ms", receive, {
    rows,
    isLimit: true,
  });
  ctx.figures.add("catch-up.pull", `pullToStable() catching up ${label}`, "ms", pull, {
    rows,
    limit: "catch-up.receive",
  });
}
