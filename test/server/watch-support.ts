/**
 * Shared setup of the watch suites: sync services with watch enabled over a test database, each
 * with its own pool and its own LISTEN session (as separate server processes would have).
 */
import type { BundleChangeEvent } from "@oversync/protocol";
import {
  type BundleChangeWatchOptions,
  type BundleWatch,
  PgNotificationListener,
  type PgNotificationListenerOptions,
  type SyncRuntime,
  createSyncService,
} from "@oversync/server";
import pg from "pg";
import { BUSINESS_TABLES } from "./business-schema.js";

/** A generous bound for something that should happen promptly; only liveness depends on it. */
export const LIVENESS_MS = 10_000;

/** A LISTEN session on `url`, named so tests can find (and terminate) its backend. */
export function pgListener(
  url: string,
  applicationName: string,
  options: Partial<PgNotificationListenerOptions> = {},
): PgNotificationListener {
  return new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: url, application_name: applicationName }),
    logger: { error: () => undefined },
    ...options,
  });
}

/**
 * A pool on `url` for the watch suites. pool.end() resolves before its connections have closed, so
 * the final DROP DATABASE … WITH (FORCE) can still cut one; node-postgres then re-emits that on the
 * pool, where an error without a listener would be thrown out of the test run.
 */
export function testPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on("error", () => undefined);
  return pool;
}

/** One "server process": its own pool, LISTEN session and sync service. */
export interface WatchNode {
  readonly service: SyncRuntime;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * Starts a bootstrapped service with watch enabled on database `url` (schema already created).
 * Its LISTEN session is named `name` unless `watch.notifications` brings another source, which the
 * caller then closes.
 */
export async function startWatchNode(
  url: string,
  name: string,
  watch: Partial<BundleChangeWatchOptions> = {},
): Promise<WatchNode> {
  const pool = testPool(url);
  const ownListener = watch.notifications === undefined ? pgListener(url, name) : undefined;
  const service = createSyncService({
    pool,
    appName: "oversync-watch-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
    watch: { ...watch, notifications: watch.notifications ?? ownListener! },
  });
  await service.bootstrap();
  return {
    service,
    pool,
    async close() {
      await service.close();
      await ownListener?.close();
      await pool.end();
    },
  };
}

/** The next event of `watch`, skipping heartbeats; fails when none comes within LIVENESS_MS. */
export async function nextEvent(watch: BundleWatch): Promise<BundleChangeEvent> {
  const deadline = Date.now() + LIVENESS_MS;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no watch event within ${LIVENESS_MS} ms`);
    const item = await watch.next(left);
    if (item === "closed") throw new Error("the watch closed while an event was expected");
    if (item !== "idle") return item;
  }
}

/**
 * Reads `probe` until it has delivered `seq`. A probe opened before some commits and read up to
 * the last of them shows that its process has handled their notifications, so a watch opened
 * afterwards sees only its own catch-up.
 */
export async function readUntilSeq(probe: BundleWatch, seq: number): Promise<void> {
  while ((await nextEvent(probe)).bundle_seq < seq);
  probe.close();
}

/** Waits until `check` passes, retrying every 20 ms up to LIVENESS_MS. */
export async function eventually(check: () => Promise<void> | void): Promise<void> {
  const deadline = Date.now() + LIVENESS_MS;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** The backend pids of sessions named `applicationName` on database `database`. */
export async function sessionPids(
  admin: pg.Pool,
  database: string,
  applicationName: string,
): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 ORDER BY pid",
    [database, applicationName],
  );
  return rows.map((row) => row.pid);
}
