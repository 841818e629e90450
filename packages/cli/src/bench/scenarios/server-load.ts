/**
 * The server under load: --load-clients devices (SyncClients on their own SQLite files in this
 * process, two per account so every pull brings the partner's rows) each loop for --load-seconds:
 * write 10 rows, pushPending(), pullToStable(). Reported per round: committed bundles/s, push and
 * pull p50/p99, failed calls (after the client's own retries), and the RSS of the `oversync serve`
 * child, idle before and at its peak (sampled every 250 ms). On a small machine the devices,
 * the server and PostgreSQL share the cores, so bundles/s is the machine's, not the server's alone.
 */
import { randomUUID } from "node:crypto";
import { insertLocally, itemsFor } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import { mib, percentile } from "../stats.js";

export async function runServerLoad(ctx: BenchContext): Promise<void> {
  const { loadClients: clients, loadSeconds: seconds } = ctx.sizes;
  const db = await ctx.database();
  const server = await ctx.serve(db);
  const dir = await ctx.tempDir();
  const users = Array.from({ length: Math.ceil(clients / 2) }, () => `load-${randomUUID()}`);
  const devices = [];
  for (let index = 0; index < clients; index++) {
    const user = users[Math.floor(index / 2)]!;
    const device = await ctx.device(server, dir, `device-${index}`, user);
    await device.client.attach(user);
    devices.push(device);
  }
  const rate: number[] = [];
  const pushP50: number[] = [];
  const pushP99: number[] = [];
  const pullP50: number[] = [];
  const pullP99: number[] = [];
  const errors: number[] = [];
  const idle: number[] = [];
  const peak: number[] = [];
  const failures = new Set<string>();
  for (let round = 0; round < ctx.rounds; round++) {
    ctx.progress(`round ${round + 1}/${ctx.rounds}: ${clients} devices for ${seconds} s`);
    idle.push(mib(await server.rss()));
    let peakBytes = 0;
    const sampler = setInterval(() => {
      server.rss().then(
        (bytes) => {
          peakBytes = Math.max(peakBytes, bytes);
        },
        () => undefined,
      );
    }, 250);
    const pushes: number[] = [];
    const pulls: number[] = [];
    let failed = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(
      devices.map(async (device) => {
        while (performance.now() < deadline) {
          try {
            await insertLocally(device.driver, "items", itemsFor(10));
            let start = performance.now();
            await device.client.pushPending();
            pushes.push(performance.now() - start);
            start = performance.now();
            await device.client.pullToStable();
            pulls.push(performance.now() - start);
          } catch (error) {
            failed++;
            failures.add((error as Error).message.slice(0, 200));
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peak.push(mib(Math.max(peakBytes, await server.rss())));
    rate.push(pushes.length / elapsed);
    pushP50.push(percentile(pushes, 0.5));
    pushP99.push(percentile(pushes, 0.99));
    pullP50.push(percentile(pulls, 0.5));
    pullP99.push(percentile(pulls, 0.99));
    errors.push(failed);
  }
  const f = ctx.figures;
  f.add("server-load.bundles", "committed bundles per second (10 rows each)", "bundles/s", rate);
  f.add("server-load.push-p50", "pushPending() under load, p50", "ms", pushP50);
  f.add("server-load.push-p99", "pushPending() under load, p99", "ms", pushP99);
  f.add("server-load.pull-p50", "pullToStable() under load, p50", "ms", pullP50);
  f.add("server-load.pull-p99", "pullToStable() under load, p99", "ms", pullP99);
  f.add("server-load.errors", "failed calls", "count", errors);
  f.add("server-load.rss-idle", "server RSS before the round", "MiB", idle);
  f.add("server-load.rss-peak", "server RSS at its peak during the round", "MiB", peak, {
    baseline: "server-load.rss-idle",
  });
  ctx.notes.push(
    `${clients} devices sharing ${users.length} account${users.length === 1 ? "" : "s"} in pairs, ${seconds} s per round, devices in the bench process, ` +
      "server in an `oversync serve` child.",
  );
  for (const failure of failures) ctx.notes.push(`failure: ${failure}`);
}
