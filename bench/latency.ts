/**
 * Latency on loopback against the real server on PostgreSQL: a one-row push (`pushPending` after
 * one local insert) and a watch wake-up (device A pushes one row; the time until device B, running
 * automatic downloads over /sync/watch, has it, timed from A's commit request). The limit is one
 * authenticated round trip through the same stack that does no database work (GET
 * /sync/capabilities).
 *
 * With BENCH_ENDPOINTS=1 it also prints where a push's time goes, per endpoint.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type SqliteDriver, type SyncClient, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { PgNotificationListener, createSyncHandler, createSyncService } from "@oversync/server";
import { serveOnLoopback, testAuthenticate } from "../test/server-http/http-support.js";
import { createTestDatabase } from "../test/support/postgres.js";
import { type LatencyMeasurement, percentile } from "./measure.js";

const SERVER_SQL = `
  CREATE SCHEMA bench;
  CREATE TABLE bench.items (
    _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, PRIMARY KEY (_sync_scope_id, id));`;
const DEVICE_SQL = "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL)";

/**
 * A fetch that adds each request's wall time to a per-endpoint tally and notes when the last
 * commit request went out.
 */
function timingFetch(tally: Map<string, number[]>, marks: { commitSentAt: number }): typeof globalThis.fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const key = `${init?.method ?? "GET"} ${url.pathname.replace(/[0-9a-f-]{36}|\/\d+(?=\/rows)/g, ":id")}`;
    const start = performance.now();
    if (url.pathname.endsWith("/commit")) marks.commitSentAt = start;
    const response = await globalThis.fetch(input, init);
    if (!url.pathname.endsWith("/watch")) {
      const body = await response.arrayBuffer();
      const list = tally.get(key) ?? [];
      list.push(performance.now() - start);
      tally.set(key, list);
      return new Response(body, { status: response.status, headers: response.headers });
    }
    return response;
  };
}

/** Measures `samples` one-row pushes and watch wake-ups. */
export async function benchLatency(samples: number): Promise<LatencyMeasurement[]> {
  const db = await createTestDatabase("oversync_bench_latency");
  const dir = await mkdtemp(join(tmpdir(), "oversync-bench-"));
  const notifications = new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: db.url }),
  });
  const service = createSyncService({
    pool: db.pool,
    appName: "oversync-bench",
    registeredTables: [{ schema: "bench", table: "items", syncKeyColumns: ["id"] }],
    maxSupportedSchemaVersion: 1,
    watch: { notifications },
  });
  const tally = new Map<string, number[]>();
  const marks = { commitSentAt: 0 };
  const devices: { client: SyncClient; driver: SqliteDriver }[] = [];
  try {
    await db.pool.query(SERVER_SQL);
    await service.bootstrap();
    const server = await serveOnLoopback(createSyncHandler({ service, authenticate: testAuthenticate }));
    const user = `latency-${randomUUID()}`;
    const device = async (name: string, fetch?: typeof globalThis.fetch) => {
      const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
      await driver.exec(DEVICE_SQL);
      const client = createSyncClient({
        driver,
        baseUrl: `${server.origin}/`,
        tokenProvider: () => `user:${user}`,
        config: { schema: "bench", syncTables: [{ tableName: "items", syncKeyColumnName: "id" }] },
        ...(fetch === undefined ? {} : { fetch }),
      });
      devices.push({ client, driver });
      await client.open();
      await client.attach(user);
      return { client, driver };
    };
    try {
      const pusher = await device("pusher", timingFetch(tally, marks));
      const watcher = await device("watcher");
      const insert = (id: string) => pusher.driver.run("INSERT INTO items (id, name) VALUES (?, 'x')", [id]);

      const roundTrip: number[] = [];
      const push: number[] = [];
      const headers = { authorization: `Bearer user:${user}`, "oversync-source-id": "bench-probe" };
      for (let i = 0; i < samples; i++) {
        let start = performance.now();
        await (await fetch(`${server.origin}/sync/capabilities`, { headers })).arrayBuffer();
        roundTrip.push(performance.now() - start);
        await insert(randomUUID());
        start = performance.now();
        await pusher.client.pushPending();
        push.push(performance.now() - start);
      }
      const pushTally = new Map([...tally].map(([endpoint, times]) => [endpoint, [...times]]));

      // Wake-up: the watcher reports each pulled row through onTablesChanged.
      await watcher.client.pullToStable();
      const arrived = new Map<string, () => void>();
      watcher.client.onTablesChanged(async () => {
        const rows = await watcher.driver.query<{ id: string }>("SELECT id FROM items");
        for (const { id } of rows) arrived.get(id)?.();
      });
      watcher.client.start({ watch: "auto" });
      const wake: number[] = [];
      for (let i = 0; i < samples; i++) {
        const id = randomUUID();
        const seen = new Promise<void>((resolve) => arrived.set(id, resolve));
        await insert(id);
        await pusher.client.pushPending();
        await seen;
        wake.push(performance.now() - marks.commitSentAt);
        arrived.delete(id);
      }
      await watcher.client.stop();

      if (process.env.BENCH_ENDPOINTS === "1") {
        for (const [endpoint, times] of pushTally) {
          console.log(`  ${endpoint}: ${times.length} calls, p50 ${percentile(times, 0.5).toFixed(2)} ms`);
        }
      }
      const limit = percentile(roundTrip, 0.5);
      return [
        { name: "authenticated round trip without database work (limit)", samples: roundTrip },
        { name: "one-row push (pushPending)", samples: push, limit },
        { name: "watch wake-up (A sends its commit → B has the row)", samples: wake, limit },
      ];
    } finally {
      for (const { client, driver } of devices) {
        await client.close();
        await driver.close();
      }
      await server.close();
    }
  } finally {
    await service.close();
    await notifications.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}
