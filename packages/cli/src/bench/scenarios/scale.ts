/**
 * Cost as the database grows (issue 18): the database is grown through the HTTP API of an
 * `oversync serve` child in steps (10 → 1,000 → 10,000 users by default, each pushing one bundle of
 * --scale-rows rows), and at each step the same everyday calls are timed by a new probe account:
 * a 10-row push (create + chunk + commit), a pull of its newest bundle, GET /syncx/health and
 * /syncx/status, and a whole snapshot of a fixed 1,000-row account. Also the server's RSS, the
 * database size and the sync history's bytes per business row. Every figure after the first step is
 * compared with the first: flat means a ratio near 1×.
 */
import { randomUUID } from "node:crypto";
import { ENDPOINTS } from "@oversync/protocol";
import type pg from "pg";
import { itemsFor, pushRowsOf } from "../bench-schema.js";
import type { BenchContext } from "../context.js";
import type { ServeChild } from "../serve-child.js";
import { mib, percentile, timed } from "../stats.js";
import { CHURN_TABLES } from "./churn.js";
import { WireClient, getPublic } from "../wire-client.js";

const SNAPSHOT_ROWS = 1000;
/** Users created at once while growing: growth is setup, so it may use the whole machine. */
const GROW_WORKERS = 8;

export async function runScale(ctx: BenchContext): Promise<void> {
  const { scaleUsers: steps, scaleRows, samples } = ctx.sizes;
  const db = await ctx.database();
  const server = await ctx.serve(db);
  const snapshotUser = `snapshot-${randomUUID()}`;
  const snapshotter = new WireClient(server.origin, await server.token(snapshotUser), "snapshotter");
  await snapshotter.connect();
  await snapshotter.push(pushRowsOf(itemsFor(SNAPSHOT_ROWS)));

  let users = 0;
  const first = new Map<string, string>();
  for (const target of steps) {
    const growStarted = performance.now();
    ctx.progress(`growing to ${target.toLocaleString("en-US")} users`);
    await grow(server, target - users, scaleRows, (done) => {
      if (done % 1000 === 0) ctx.progress(`${(users + done).toLocaleString("en-US")} users`);
    });
    const growSeconds = (performance.now() - growStarted) / 1000;
    ctx.notes.push(
      `grew ${users.toLocaleString("en-US")} → ${target.toLocaleString("en-US")} users in ${growSeconds.toFixed(0)} s ` +
        `(${Math.round((target - users) / growSeconds)} users/s)`,
    );
    users = target;
    ctx.progress(`measuring at ${users.toLocaleString("en-US")} users`);
    const add = (
      metric: string,
      label: string,
      unit: "ms" | "MiB" | "bytes",
      perRound: number[],
      rows?: number,
    ) => {
      const id = `scale.${users}.${metric}`;
      const baseline = first.get(metric);
      ctx.figures.add(id, `${label} at ${users.toLocaleString("en-US")} users`, unit, perRound, {
        ...(rows === undefined ? {} : { rows }),
        ...(baseline === undefined ? {} : { baseline }),
      });
      if (baseline === undefined) first.set(metric, id);
    };
    // A new probe account per step, so every step times the same small account.
    const probeUser = `probe-${randomUUID()}`;
    const probe = new WireClient(server.origin, await server.token(probeUser), "probe");
    await probe.connect();
    const calls = await timeEverydayCalls(ctx, server, probe, samples);
    for (const [metric, label] of [
      ["push", "10-row push"],
      ["pull", "pull of one 10-row bundle"],
      ["health", "GET /syncx/health"],
      ["status", "GET /syncx/status"],
    ] as const) {
      add(
        `${metric}-p50`,
        `${label} p50`,
        "ms",
        calls[metric].map((times) => percentile(times, 0.5)),
      );
      add(
        `${metric}-p99`,
        `${label} p99`,
        "ms",
        calls[metric].map((times) => percentile(times, 0.99)),
      );
    }
    const snapshots: number[] = [];
    for (let round = 0; round < ctx.rounds; round++)
      snapshots.push(await timed(() => snapshotter.snapshot()));
    add(
      "snapshot",
      `snapshot of a ${SNAPSHOT_ROWS.toLocaleString("en-US")}-row account`,
      "ms",
      snapshots,
      SNAPSHOT_ROWS,
    );
    add("server-rss", "server RSS", "MiB", [mib(await server.rss())]);
    const size = await sizes(db.pool);
    add("database", "database size", "MiB", [mib(size.database)]);
    add("history-bytes-per-row", "sync history bytes per business row", "bytes", [
      size.history / size.businessRows,
    ]);
    ctx.notes.push(
      `at ${users.toLocaleString("en-US")} users: ${size.businessRows.toLocaleString("en-US")} business rows ` +
        `(${Math.round(size.business / size.businessRows)} bytes each with indexes); sync schema ` +
        `${mib(size.sync).toFixed(1)} MiB of which history (all but the tables of work in progress) ` +
        `${mib(size.history).toFixed(1)} MiB; largest: ${size.largest}`,
    );
  }
}

/** Creates `count` users, each connecting and pushing one bundle of `rows` rows, GROW_WORKERS at a time. */
async function grow(server: ServeChild, count: number, rows: number, onUser: (done: number) => void) {
  let started = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: GROW_WORKERS }, async () => {
      while (started < count) {
        started++;
        const user = `user-${randomUUID()}`;
        const client = new WireClient(server.origin, await server.token(user), "device");
        await client.connect();
        await client.push(pushRowsOf(itemsFor(rows)));
        onUser(++done);
      }
    }),
  );
}

/** `samples` calls of each everyday endpoint per round; milliseconds per call, per round. */
async function timeEverydayCalls(ctx: BenchContext, server: ServeChild, probe: WireClient, samples: number) {
  const calls = {
    push: [] as number[][],
    pull: [] as number[][],
    health: [] as number[][],
    status: [] as number[][],
  };
  // Round -1 warms up connections and code paths and is not kept.
  for (let round = -1; round < ctx.rounds; round++) {
    const push: number[] = [];
    const pull: number[] = [];
    const health: number[] = [];
    const status: number[] = [];
    for (let i = 0; i < (round < 0 ? Math.min(20, samples) : samples); i++) {
      const rows = pushRowsOf(itemsFor(10));
      let seq = 0;
      push.push(
        await timed(async () => {
          seq = await probe.push(rows);
        }),
      );
      pull.push(
        await timed(async () => {
          if ((await probe.pull(seq - 1)) !== 10) throw new Error("the pull missed the probe's bundle");
        }),
      );
      health.push(await timed(() => getPublic(server.origin, ENDPOINTS.health.path)));
      status.push(await timed(() => getPublic(server.origin, ENDPOINTS.status.path)));
    }
    if (round < 0) continue;
    calls.push.push(push);
    calls.pull.push(pull);
    calls.health.push(health);
    calls.status.push(status);
  }
  return calls;
}

/**
 * Sizes in bytes (database, sync schema, its history: everything but the tables of work in
 * progress, business table), the business row count, and the largest sync tables.
 */
async function sizes(pool: pg.Pool) {
  const { rows } = await pool.query<{
    database: string;
    sync: string;
    history: string;
    business: string;
    rows: string;
  }>(
    `WITH sync_tables AS (
       SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'sync' AND c.relkind IN ('r', 'p', 'm'))
     SELECT pg_database_size(current_database()) AS database,
            (SELECT coalesce(sum(bytes), 0) FROM sync_tables) AS sync,
            (SELECT coalesce(sum(bytes), 0) FROM sync_tables WHERE relname <> ALL ($1)) AS history,
            pg_total_relation_size('bench.items') AS business,
            (SELECT count(*) FROM bench.items) AS rows`,
    [CHURN_TABLES],
  );
  const { rows: tables } = await pool.query<{ name: string; bytes: string }>(
    `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'sync' AND c.relkind IN ('r', 'p')
      ORDER BY 2 DESC LIMIT 3`,
  );
  const row = rows[0]!;
  return {
    database: Number(row.database),
    sync: Number(row.sync),
    history: Number(row.history),
    business: Number(row.business),
    businessRows: Number(row.rows),
    largest: tables.map((table) => `${table.name} ${mib(Number(table.bytes)).toFixed(1)} MiB`).join(", "),
  };
}
