/**
 * Losing PostgreSQL under load, over real HTTP on loopback against real PostgreSQL. Every backend
 * of the test database is terminated (what a PostgreSQL restart, a failover or a proxy timeout
 * does) while 24 pushers run: the process stays up (vitest fails a run on an unhandled error),
 * every request either succeeds or is 503 service_unavailable with no driver text, the pool
 * reconnects by itself so the next pushes succeed, and a watch stream opened before the
 * terminations gets wake-ups again once the LISTEN session has been replaced. Then the database
 * refuses connections altogether: calls, health and new watches are 503 until it accepts them again.
 */
import { randomUUID } from "node:crypto";
import {
  OversyncError,
  canonicalRequestHash,
  decodeErrorBody,
  decodePushCommitResponse,
} from "@oversync/protocol";
import {
  PgNotificationListener,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { userRow } from "../server/service-harness.js";
import { LIVENESS_MS, eventually, sessionPids } from "../server/watch-support.js";
import { type TestDatabase, adminUrl, createTestDatabase } from "../support/postgres.js";
import {
  type JsonReply,
  type LoopbackServer,
  call,
  recordingLogger,
  serveOnLoopback,
  syncHeaders,
  testAuthenticate,
} from "./http-support.js";
import { openWatch } from "./watch-stream.js";

const PUSHERS = 24;
/** The application_name of the service's LISTEN session, to find its backend. */
const LISTEN_NAME = "dbloss-listen";

let db: TestDatabase;
let pool: pg.Pool;
let admin: pg.Pool;
let listener: PgNotificationListener;
let service: SyncRuntime;
let server: LoopbackServer;
const serviceWarnings: string[] = [];
const serviceErrors: string[] = [];
const handlerLog = recordingLogger();

beforeAll(async () => {
  db = await createTestDatabase("oversync_dbloss");
  await createBusinessSchema(db.pool);
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  // The host's part (see the README): an idle pooled connection that dies is reported on the pool.
  pool.on("error", () => undefined);
  admin = new pg.Pool({ connectionString: adminUrl, max: 1 });
  listener = new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: db.url, application_name: LISTEN_NAME }),
    minReconnectDelayMs: 10,
    maxReconnectDelayMs: 200,
    logger: { error: () => undefined },
  });
  service = createSyncService({
    pool,
    appName: "oversync-dbloss",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: {
      warn: (message) => serviceWarnings.push(message),
      error: (message) => serviceErrors.push(message),
    },
    watch: { notifications: listener },
  });
  await service.bootstrap();
  server = await serveOnLoopback(
    createSyncHandler({ service, authenticate: testAuthenticate, logger: handlerLog }),
  );
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await listener?.close();
  await pool?.end();
  await admin?.end();
  await db?.drop();
});

/** Ends every session on the test database, as a PostgreSQL restart would. */
async function terminateBackends(): Promise<void> {
  await admin.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [db.name],
  );
}

/** What the requests of a run got back: successes, 503s, and anything else (which is a failure). */
class Tally {
  ok = 0;
  readonly unavailable: JsonReply[] = [];
  readonly unexpected: string[] = [];

  /** Sends one sync request and records its outcome; undefined when no answer arrived. */
  async send(userId: string, sourceId: string, path: string, body?: unknown): Promise<JsonReply | undefined> {
    let reply: JsonReply;
    try {
      reply = await call(server.origin, path, {
        method: "POST",
        headers: syncHeaders(userId, sourceId),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      this.unexpected.push(`${path}: no answer (${(error as Error).message})`);
      return undefined;
    }
    if (reply.status === 200) this.ok++;
    else if (reply.status === 503) this.unavailable.push(reply);
    else this.unexpected.push(`${path}: ${reply.status} ${reply.text}`);
    return reply;
  }

  /**
   * One push of one new row from a new source (so an attempt cut short never blocks the next);
   * resolves to the committed bundle's seq, or undefined when a step was refused.
   */
  async push(userId: string, sourceId: string): Promise<number | undefined> {
    const rows = [userRow(randomUUID(), "Ada")];
    const created = await this.send(userId, sourceId, "/sync/push-sessions", {
      source_bundle_id: 1,
      planned_row_count: rows.length,
      canonical_request_hash: canonicalRequestHash(rows),
    });
    if (created?.status !== 200) return undefined;
    const pushId = (created.body as { push_id: string }).push_id;
    const chunk = await this.send(userId, sourceId, `/sync/push-sessions/${pushId}/chunks`, {
      start_row_ordinal: 0,
      rows,
    });
    if (chunk?.status !== 200) return undefined;
    const commit = await this.send(userId, sourceId, `/sync/push-sessions/${pushId}/commit`);
    if (commit?.status !== 200) return undefined;
    return decodePushCommitResponse(commit.body, { sourceId, sourceBundleId: 1 }).bundle_seq;
  }
}

/** Asserts a 503 the clients decode as a retryable service_unavailable that names no driver detail. */
function expectUnavailable(reply: JsonReply): void {
  expect(reply.status).toBe(503);
  const decoded = decodeErrorBody(reply.status, reply.body);
  expect(decoded).toBeInstanceOf(OversyncError);
  expect((decoded as OversyncError).code).toBe("service_unavailable");
  expect(reply.text).not.toMatch(/terminat|administrator|57P0|ECONN|accepting connections|pg_/i);
}

/** A user whose scope is initialized, over HTTP. */
async function connectedUser(prefix: string): Promise<string> {
  const userId = `${prefix}-${randomUUID()}`;
  const tally = new Tally();
  await tally.send(userId, `${userId}-s0`, "/sync/connect", { has_local_pending_rows: false });
  expect(tally.ok).toBe(1);
  return userId;
}

/** Waits, without a fixed sleep, until `condition` holds; fails after LIVENESS_MS. */
async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + LIVENESS_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("PostgreSQL connections terminated under load", () => {
  it("keeps the process up, answers 503 service_unavailable or succeeds, then recovers, watch included", async () => {
    const watchUser = await connectedUser("dbloss-watch");
    const stream = await openWatch(server.origin, watchUser, `${watchUser}-s0`, 0);
    const [listenPid] = await sessionPids(admin, db.name, LISTEN_NAME);
    expect(listenPid).toBeDefined();

    const users = await Promise.all(Array.from({ length: PUSHERS }, (_, i) => connectedUser(`dbloss-${i}`)));
    const storm = new Tally();
    let stopped = false;
    const pushers = users.map(async (userId) => {
      for (let n = 1; !stopped; n++) await storm.push(userId, `${userId}-s${n}`);
    });
    try {
      await waitUntil(() => storm.ok >= 2 * PUSHERS, "the pushers to get going");
      // Terminate until some request has lost its connection mid-call, at least three times over.
      for (let round = 1; round <= 3 || storm.unavailable.length === 0; round++) {
        if (round > 30) throw new Error("no request lost its connection in 30 rounds of terminations");
        const before = storm.ok;
        await terminateBackends();
        await waitUntil(() => storm.ok >= before + PUSHERS, "requests to succeed again after a termination");
      }
    } finally {
      stopped = true;
      await Promise.all(pushers);
    }

    expect(storm.unexpected).toStrictEqual([]);
    expect(storm.unavailable.length).toBeGreaterThan(0);
    for (const reply of storm.unavailable) expectUnavailable(reply);
    // Every loss was recognised as one: nothing reached the handler as an unexpected fault.
    expect(handlerLog.entries).toStrictEqual([]);
    expect(serviceWarnings.length).toBeGreaterThan(0);
    expect(serviceWarnings.every((message) => message.endsWith(" lost the database"))).toBe(true);
    // The watch hub's catch-up read may itself lose its session; it says so and retries.
    expect(
      serviceErrors.filter((message) => message !== "watch catch-up read failed; retrying"),
    ).toStrictEqual([]);

    // The pool has replaced its connections: the next push of every user commits.
    const after = new Tally();
    const committed = await Promise.all(users.map((userId) => after.push(userId, `${userId}-after`)));
    expect(committed.every((seq) => seq !== undefined)).toBe(true);
    expect([after.unavailable, after.unexpected]).toStrictEqual([[], []]);

    // The LISTEN session was replaced, and the stream opened before the terminations still wakes.
    await eventually(async () => {
      const pids = await sessionPids(admin, db.name, LISTEN_NAME);
      expect(pids).toHaveLength(1);
      expect(pids[0]).not.toBe(listenPid);
    });
    const watchPushes = new Tally();
    const first = await watchPushes.push(watchUser, `${watchUser}-s1`);
    expect(first).toBeDefined();
    expect((await stream.nextEvent()).bundle_seq).toBe(first);
    const second = await watchPushes.push(watchUser, `${watchUser}-s2`);
    expect(second).toBeDefined();
    expect((await stream.nextEvent()).bundle_seq).toBe(second);
    stream.controller.abort();
  });
});

describe("a database that refuses connections", () => {
  it("answers calls, health and new watches 503 service_unavailable, and serves again once it accepts them", async () => {
    const userId = await connectedUser("dbloss-refused");
    await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    try {
      await terminateBackends();
      const refused = new Tally();
      expect(await refused.push(userId, `${userId}-s1`)).toBeUndefined();
      expect(refused.unexpected).toStrictEqual([]);
      expect(refused.unavailable).toHaveLength(1);
      expectUnavailable(refused.unavailable[0]!);

      const health = await call(server.origin, "/syncx/health");
      expectUnavailable(health);
      const watch = await call(server.origin, "/sync/watch?after_bundle_seq=0", {
        headers: syncHeaders(userId, `${userId}-s1`),
      });
      expectUnavailable(watch);
    } finally {
      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    }

    const restored = new Tally();
    expect(await restored.push(userId, `${userId}-s2`)).toBeDefined();
    expect((await call(server.origin, "/syncx/health")).status).toBe(200);
    expect(handlerLog.entries).toStrictEqual([]);
  });
});
