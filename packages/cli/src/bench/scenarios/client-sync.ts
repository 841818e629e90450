/**
 * A device's sync end to end over loopback HTTP, against `oversync serve` on PostgreSQL: one device
 * pushes N new rows (pushPending), a second pulls them (pullToStable), a third restores them from a
 * snapshot when it attaches. Then the restores again with a process spinning on one core, which
 * on a 2-core machine leaves client, server and PostgreSQL one core between them.
 *
 * Limits in the same run: for the push, PostgreSQL inserting the same rows in one statement; for
 * pull and restore, PostgreSQL selecting them plus SQLite inserting them in one transaction.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { SqliteDriver } from "@oversync/client";
import { insertLocally, itemsFor } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { deviceReceive, postgresInsert } from "../limits.js";
import { timed } from "../stats.js";

export async function runClientSync(ctx: BenchContext): Promise<void> {
  const { rows } = ctx.sizes;
  const db = await ctx.database();
  const server = await ctx.serve(db);
  const dir = await ctx.tempDir();
  const times = {
    insert: [] as number[],
    push: [] as number[],
    receive: [] as number[],
    pull: [] as number[],
    restore: [] as number[],
    busy: [] as number[],
  };
  const users: string[] = [];
  const restore = async (name: string, user: string) => {
    const restorer = await ctx.device(server, dir, name, user);
    const millis = await timed(() => restorer.client.attach(user));
    await expectRows(restorer.driver, rows);
    return millis;
  };
  for (let round = 0; round < ctx.rounds; round++) {
    ctx.progress(`round ${round + 1}/${ctx.rounds}`);
    const user = `bench-${round}-${randomUUID()}`;
    users.push(user);
    const items = itemsFor(rows);
    const puller = await ctx.device(server, dir, `puller-${round}`, user);
    await puller.client.attach(user);
    const pusher = await ctx.device(server, dir, `pusher-${round}`, user);
    await pusher.client.attach(user);
    await insertLocally(pusher.driver, "items", items);

    times.insert.push(await postgresInsert(db.pool, user, items));
    times.push.push(await timed(() => pusher.client.pushPending()));
    times.receive.push(await deviceReceive(db.pool, user, puller.driver));
    times.pull.push(await timed(() => puller.client.pullToStable()));
    await expectRows(puller.driver, rows);
    times.restore.push(await restore(`restorer-${round}`, user));
  }
  ctx.progress("restores with the other core busy");
  const spinner = spawn(process.execPath, ["-e", "for (;;);"], { stdio: "ignore" });
  ctx.defer(() => void spinner.kill("SIGKILL"));
  for (const [round, user] of users.entries()) times.busy.push(await restore(`busy-${round}`, user));
  spinner.kill("SIGKILL");

  const count = rows.toLocaleString("en-US");
  const f = ctx.figures;
  f.add("client-sync.insert", `PostgreSQL INSERT of ${count} rows`, "ms", times.insert, {
    rows,
    isLimit: true,
  });
  f.add("client-sync.push", `pushPending() of ${count} rows over HTTP`, "ms", times.push, {
    rows,
    limit: "client-sync.insert",
  });
  f.add("client-sync.receive", `PostgreSQL SELECT + SQLite INSERT of ${count} rows`, "ms", times.receive, {
    rows,
    isLimit: true,
  });
  f.add("client-sync.pull", `pullToStable() applying ${count} rows`, "ms", times.pull, {
    rows,
    limit: "client-sync.receive",
  });
  f.add("client-sync.restore", `attach() restoring ${count} rows from a snapshot`, "ms", times.restore, {
    rows,
    limit: "client-sync.receive",
  });
  f.add("client-sync.restore-busy", `the same restore with the other core busy`, "ms", times.busy, {
    rows,
    baseline: "client-sync.restore",
  });
}

/** Fails unless the device's `items` holds `rows` rows. */
export async function expectRows(driver: SqliteDriver, rows: number): Promise<void> {
  const [counted] = await driver.query<{ n: number | bigint }>("SELECT count(*) AS n FROM items");
  if (Number(counted?.n) !== rows) throw new Error(`the device holds ${counted?.n} rows, expected ${rows}`);
}
