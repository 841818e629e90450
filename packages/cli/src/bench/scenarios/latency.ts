/**
 * Latency on loopback against `oversync serve`: a one-row push (pushPending after one local
 * insert) and a watch wake-up (device A pushes one row; the time from A sending its commit until
 * device B, running automatic downloads over /sync/watch, has the row). The limit is one
 * authenticated round trip through the same server that does no database work (GET
 * /sync/capabilities). Each round is --samples calls; a figure is the median of the rounds' p50s
 * (or p99s).
 */
import { randomUUID } from "node:crypto";
import { ENDPOINTS } from "@oversync/protocol";
import type { BenchContext } from "../context.js";
import { percentile } from "../stats.js";

export async function runLatency(ctx: BenchContext): Promise<void> {
  const { samples } = ctx.sizes;
  const db = await ctx.database();
  const server = await ctx.serve(db);
  const dir = await ctx.tempDir();
  const user = `latency-${randomUUID()}`;
  const marks = { commitSentAt: 0 };
  const pusher = await ctx.device(server, dir, "pusher", user, { fetch: markingCommits(marks) });
  await pusher.client.attach(user);
  const watcher = await ctx.device(server, dir, "watcher", user);
  await watcher.client.attach(user);
  const insert = (id: string) =>
    pusher.driver.run("INSERT INTO items (id, name, count, ratio, data) VALUES (?, 'x', 1, 0.5, NULL)", [id]);
  const headers = {
    authorization: `Bearer ${await server.token(user)}`,
    "oversync-source-id": "bench-probe",
  };

  const roundTrip: number[][] = [];
  const push: number[][] = [];
  // Round -1 warms up connections and code paths and is not kept.
  for (let round = -1; round < ctx.rounds; round++) {
    ctx.progress(round < 0 ? "warming up" : `pushes, round ${round + 1}/${ctx.rounds}`);
    const trips: number[] = [];
    const pushes: number[] = [];
    for (let i = 0; i < (round < 0 ? Math.min(20, samples) : samples); i++) {
      let start = performance.now();
      await (await fetch(`${server.origin}${ENDPOINTS.capabilities.path}`, { headers })).arrayBuffer();
      trips.push(performance.now() - start);
      await insert(randomUUID());
      start = performance.now();
      await pusher.client.pushPending();
      pushes.push(performance.now() - start);
    }
    if (round < 0) continue;
    roundTrip.push(trips);
    push.push(pushes);
  }

  // The watcher reports each pull through onTablesChanged.
  await watcher.client.pullToStable();
  const arrived = new Map<string, () => void>();
  watcher.client.onTablesChanged(async () => {
    // Only the awaited row is looked up, so the check costs the same in every round.
    for (const [id, resolve] of arrived) {
      if ((await watcher.driver.query("SELECT 1 FROM items WHERE id = ?", [id])).length > 0) resolve();
    }
  });
  watcher.client.start({ watch: "auto" });
  const wake: number[][] = [];
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      ctx.progress(`wake-ups, round ${round + 1}/${ctx.rounds}`);
      const wakes: number[] = [];
      for (let i = 0; i < samples; i++) {
        const id = randomUUID();
        const seen = new Promise<void>((resolve) => arrived.set(id, resolve));
        await insert(id);
        await pusher.client.pushPending();
        await seen;
        wakes.push(performance.now() - marks.commitSentAt);
        arrived.delete(id);
      }
      wake.push(wakes);
    }
  } finally {
    await watcher.client.stop();
  }

  const p = (rounds: number[][], fraction: number) => rounds.map((times) => percentile(times, fraction));
  const f = ctx.figures;
  f.add("latency.round-trip", "authenticated round trip, no database work, p50", "ms", p(roundTrip, 0.5), {
    isLimit: true,
  });
  f.add("latency.push-p50", "one-row push (pushPending), p50", "ms", p(push, 0.5), {
    limit: "latency.round-trip",
  });
  f.add("latency.push-p99", "one-row push (pushPending), p99", "ms", p(push, 0.99));
  f.add("latency.wake-p50", "watch wake-up (A sends its commit → B has the row), p50", "ms", p(wake, 0.5), {
    limit: "latency.round-trip",
  });
  f.add("latency.wake-p99", "watch wake-up, p99", "ms", p(wake, 0.99));
  ctx.notes.push(`${samples} pushes and ${samples} wake-ups per round.`);
}

/** A fetch that notes when the last push commit request went out. */
function markingCommits(marks: { commitSentAt: number }): typeof globalThis.fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : input.toString();
    if (new URL(url).pathname.endsWith("/commit")) marks.commitSentAt = performance.now();
    return globalThis.fetch(input, init);
  };
}
