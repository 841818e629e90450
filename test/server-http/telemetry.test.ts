/**
 * The runtime's figures and log lines under real requests: a service and a handler on real
 * PostgreSQL over loopback HTTP share one recorder that keeps every recording, and one logger that
 * takes every level. Each figure of SYNC_METRICS must arrive with exactly its label names and the
 * values the requests imply (pushes with and without conflicts, pulls, snapshots, history_pruned,
 * watch streams, capacity waits held with real advisory locks, server-originated writes, the
 * status counters); the logger must see each request start and finish, each commit and each fault.
 */
import { randomUUID } from "node:crypto";
import { utf8ByteLength } from "@oversync/protocol";
import {
  PgNotificationListener,
  type PublicRoute,
  SYNC_METRICS,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { userRow } from "../server/service-harness.js";
import { holdSnapshotSlots } from "../server/snapshot-slots.js";
import { type LoopbackServer, call, serveOnLoopback, testAuthenticate } from "./http-support.js";
import { RecordingTelemetry, httpDevice, recordingFullLogger } from "./telemetry-support.js";
import { openWatch } from "./watch-stream.js";

const BASE = "/api/v1";
const M = SYNC_METRICS;

/** A host route that fails, the way a bug in a host's own route would. */
const failingRoute: PublicRoute = {
  method: "GET",
  path: "/host/failing",
  auth: "none",
  failureCode: "internal_error",
  handle: async () => {
    throw new Error("the host route broke");
  },
};

let db: TestDatabase;
let listener: PgNotificationListener;
let service: SyncRuntime;
let server: LoopbackServer;
const telemetry = new RecordingTelemetry();
const logger = recordingFullLogger();

beforeAll(async () => {
  db = await createTestDatabase("oversync_telemetry");
  await createBusinessSchema(db.pool);
  listener = new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: db.url }),
    logger,
  });
  service = createSyncService({
    pool: db.pool,
    appName: "telemetry",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    limits: { max_concurrent_snapshot_builds: 1, max_concurrent_snapshot_chunk_requests: 1 },
    logger,
    telemetry,
    watch: { notifications: listener },
  });
  await service.bootstrap();
  server = await serveOnLoopback(
    createSyncHandler({
      service,
      authenticate: testAuthenticate,
      basePath: BASE,
      logger,
      telemetry,
      routes: [failingRoute],
    }),
  );
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await listener?.close();
  await db?.drop();
});

/** A device of a fresh user, its scope initialized by a connect. */
async function freshDevice(name: string, sourceId = `${name}-phone`) {
  const device = httpDevice(`${server.origin}${BASE}`, `${name}-${randomUUID().slice(0, 8)}`, sourceId);
  expect((await device.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
  return device;
}

describe("figures of sync requests", () => {
  it("a push: each request counted and timed by endpoint and status, its rows and bytes, one bundle from push", async () => {
    const device = await freshDevice("pusher");
    const mark = telemetry.mark();
    const rows = [userRow(randomUUID(), "Ada"), userRow(randomUUID(), "Bob"), userRow(randomUUID(), "Cy")];
    const { commit, chunkBody } = await device.push(1, rows);
    expect(commit.status).toBe(200);

    expect(telemetry.of(M.requests, mark)).toStrictEqual([
      [{ endpoint: "pushCreate", status: "200" }, 1],
      [{ endpoint: "pushChunk", status: "200" }, 1],
      [{ endpoint: "pushCommit", status: "200" }, 1],
    ]);
    const durations = telemetry.of(M.requestDuration, mark);
    expect(durations.map(([labels]) => labels)).toStrictEqual([
      { endpoint: "pushCreate" },
      { endpoint: "pushChunk" },
      { endpoint: "pushCommit" },
    ]);
    for (const [, seconds] of durations) expect(seconds).toBeGreaterThan(0);
    expect(telemetry.of(M.transferredRows, mark)).toStrictEqual([[{ operation: "push" }, 3]]);
    expect(telemetry.of(M.transferredBytes, mark)).toStrictEqual([
      [{ operation: "push" }, utf8ByteLength(chunkBody)],
    ]);
    expect(telemetry.of(M.bundlesCommitted, mark)).toStrictEqual([[{ origin: "push" }, 1]]);
    expect(telemetry.of(M.pushConflicts, mark)).toStrictEqual([]);
    // Each of the three calls checked out a session.
    const waits = telemetry.of(M.poolWait, mark);
    expect(waits.length).toBeGreaterThanOrEqual(3);
    for (const [labels, seconds] of waits) {
      expect(labels).toStrictEqual({});
      expect(seconds).toBeGreaterThanOrEqual(0);
    }
  });

  it("a conflicting push commit: answered 409, counted as a conflict, no bundle", async () => {
    const phone = await freshDevice("conflict");
    const id = randomUUID();
    expect((await phone.push(1, [userRow(id, "Ada")])).commit.status).toBe(200);
    const laptop = httpDevice(`${server.origin}${BASE}`, phone.userId, "conflict-laptop");
    const mark = telemetry.mark();
    // The laptop edits the row from base version 0; the server holds version 1.
    const { commit } = await laptop.push(1, [userRow(id, "Ada Lovelace", { op: "UPDATE", base: 0 })]);
    expect(commit.status).toBe(409);
    expect((commit.body as { error: string }).error).toBe("push_conflict");
    expect(telemetry.of(M.requests, mark).at(-1)).toStrictEqual([
      { endpoint: "pushCommit", status: "409" },
      1,
    ]);
    expect(telemetry.of(M.pushConflicts, mark)).toStrictEqual([[{}, 1]]);
    expect(telemetry.of(M.bundlesCommitted, mark)).toStrictEqual([]);
  });

  it("a pull: the rows of its bundles and the bytes of its body", async () => {
    const device = await freshDevice("puller");
    await device.push(1, [userRow(randomUUID(), "Ada"), userRow(randomUUID(), "Bob")]);
    await device.push(2, [userRow(randomUUID(), "Cy")]);
    const mark = telemetry.mark();
    const reply = await device.get("/sync/pull?after_bundle_seq=0&max_bundles=10");
    expect(reply.status).toBe(200);
    expect(telemetry.of(M.requests, mark)).toStrictEqual([[{ endpoint: "pull", status: "200" }, 1]]);
    expect(telemetry.of(M.transferredRows, mark)).toStrictEqual([[{ operation: "pull" }, 3]]);
    expect(telemetry.of(M.transferredBytes, mark)).toStrictEqual([
      [{ operation: "pull" }, utf8ByteLength(reply.text)],
    ]);
  });

  it("a snapshot: the session created, then the rows and bytes of each chunk", async () => {
    const device = await freshDevice("snapper");
    await device.push(1, [userRow(randomUUID(), "Ada"), userRow(randomUUID(), "Bob")]);
    const mark = telemetry.mark();
    const created = await device.post("/sync/snapshot-sessions");
    expect(created.status).toBe(200);
    expect(telemetry.of(M.snapshotSessions, mark)).toStrictEqual([[{}, 1]]);
    const { snapshot_id: snapshotId } = created.body as { snapshot_id: string };
    const chunk = await device.get(`/sync/snapshot-sessions/${snapshotId}?after_row_ordinal=0&max_rows=10`);
    expect(chunk.status).toBe(200);
    expect((chunk.body as { rows: unknown[] }).rows).toHaveLength(2);
    expect(telemetry.of(M.requests, mark)).toStrictEqual([
      [{ endpoint: "snapshotCreate", status: "200" }, 1],
      [{ endpoint: "snapshotChunk", status: "200" }, 1],
    ]);
    expect(telemetry.of(M.transferredRows, mark)).toStrictEqual([[{ operation: "snapshot" }, 2]]);
    expect(telemetry.of(M.transferredBytes, mark)).toStrictEqual([
      [{ operation: "snapshot" }, utf8ByteLength(chunk.text)],
    ]);
  });

  it("capacity waits: a build and a chunk read refused 429 while every slot is held, by slot", async () => {
    const device = await freshDevice("waiter");
    await device.push(1, [userRow(randomUUID(), "Ada")]);
    const session = await device.post("/sync/snapshot-sessions");
    const { snapshot_id: snapshotId } = session.body as { snapshot_id: string };

    const mark = telemetry.mark();
    const builds = await holdSnapshotSlots(db.pool, "build", [0]);
    try {
      expect((await device.post("/sync/snapshot-sessions")).status).toBe(429);
    } finally {
      builds.done();
    }
    const chunks = await holdSnapshotSlots(db.pool, "chunk", [0]);
    try {
      expect((await device.get(`/sync/snapshot-sessions/${snapshotId}?after_row_ordinal=0`)).status).toBe(
        429,
      );
    } finally {
      chunks.done();
    }
    expect(telemetry.of(M.snapshotCapacityWaits, mark)).toStrictEqual([
      [{ slot: "build" }, 1],
      [{ slot: "chunk" }, 1],
    ]);
    expect(telemetry.of(M.requests, mark)).toStrictEqual([
      [{ endpoint: "snapshotCreate", status: "429" }, 1],
      [{ endpoint: "snapshotChunk", status: "429" }, 1],
    ]);
    expect(telemetry.of(M.snapshotSessions, mark)).toStrictEqual([]);
  });

  it("history_pruned: a pull below the retained floor is counted", async () => {
    const device = await freshDevice("pruned");
    await device.push(1, [userRow(randomUUID(), "Ada")]);
    await device.push(2, [userRow(randomUUID(), "Bob")]);
    await service.setRetainedFloor(device.userId, 1);
    const mark = telemetry.mark();
    const reply = await device.get("/sync/pull?after_bundle_seq=0");
    expect((reply.body as { error: string }).error).toBe("history_pruned");
    expect(telemetry.of(M.historyPruned, mark)).toStrictEqual([[{}, 1]]);
    expect(telemetry.of(M.requests, mark)).toStrictEqual([
      [{ endpoint: "pull", status: String(reply.status) }, 1],
    ]);
  });

  it("watch: a stream counts +1 as it opens and -1 once the client has gone", async () => {
    const device = await freshDevice("watcher");
    const mark = telemetry.mark();
    const stream = await openWatch(`${server.origin}${BASE}`, device.userId, device.sourceId, 0);
    expect(telemetry.of(M.openWatchStreams, mark)).toStrictEqual([[{}, 1]]);
    expect(telemetry.of(M.requests, mark)).toStrictEqual([[{ endpoint: "watch", status: "200" }, 1]]);
    stream.controller.abort();
    const deadline = Date.now() + 5_000;
    while (telemetry.of(M.openWatchStreams, mark).length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(telemetry.of(M.openWatchStreams, mark)).toStrictEqual([
      [{}, 1],
      [{}, -1],
    ]);
    expect(service.watchSubscriberCount(device.userId)).toBe(0);
  });

  it("a route that matched nothing is counted under endpoint unmatched, a host route under its path", async () => {
    const mark = telemetry.mark();
    expect((await call(server.origin, `${BASE}/nowhere`)).status).toBe(404);
    expect((await call(server.origin, `${BASE}/host/failing`)).status).toBe(500);
    expect(telemetry.of(M.requests, mark)).toStrictEqual([
      [{ endpoint: "unmatched", status: "404" }, 1],
      [{ endpoint: "/host/failing", status: "500" }, 1],
    ]);
  });
});

describe("figures of the service itself", () => {
  it("a server-originated write counts a bundle from origin server", async () => {
    const mark = telemetry.mark();
    const result = await service.scopeManager.execWrite(
      `server-${randomUUID()}`,
      { writerId: "server:billing" },
      (tx) =>
        tx.query("INSERT INTO business.users (id, name, email) VALUES ($1, 'Ada', 'ada@example.com')", [
          randomUUID(),
        ]),
    );
    expect(result.bundle.bundle_seq).toBe(1);
    expect(telemetry.of(M.bundlesCommitted, mark)).toStrictEqual([[{ origin: "server" }, 1]]);
  });

  it("the retained-floor figures are the status counters' windows and floors-ahead count", async () => {
    const mark = telemetry.mark();
    const status = await service.status("current");
    expect(telemetry.of(M.retainedFloorLag, mark)).toStrictEqual([
      [{ aggregate: "min" }, status.retained_bundle_window_min],
      [{ aggregate: "max" }, status.retained_bundle_window_max],
    ]);
    expect(status.retained_bundle_window_max).toBeGreaterThan(0);
    expect(telemetry.of(M.retainedFloorAhead, mark)).toStrictEqual([[{}, 0]]);
  });

  it("every figure was recorded, each time with exactly its label names", () => {
    const seen = new Set(telemetry.recordings.map((recording) => recording.metric.name));
    expect(
      [...Object.values(SYNC_METRICS)].map((metric) => metric.name).filter((name) => !seen.has(name)),
    ).toStrictEqual([]);
    for (const { metric, labels } of telemetry.recordings) {
      expect(Object.keys(labels).sort(), metric.name).toStrictEqual([...metric.labels].sort());
    }
  });
});

describe("log lines", () => {
  it("each request starts at debug and finishes at info with its endpoint, status, duration and actor", async () => {
    const device = await freshDevice("logged");
    const mark = logger.entries.length;
    const { commit } = await device.push(1, [userRow(randomUUID(), "Ada")]);
    const entries = logger.entries.slice(mark);
    const started = entries.filter((entry) => entry.message === "request started");
    expect(started.map((entry) => [entry.level, entry.details])).toStrictEqual([
      ["debug", { method: "POST", path: `${BASE}/sync/push-sessions` }],
      ["debug", { method: "POST", path: expect.stringMatching(/\/chunks$/) }],
      ["debug", { method: "POST", path: expect.stringMatching(/\/commit$/) }],
    ]);
    const finished = entries.filter((entry) => entry.message === "request finished");
    expect(finished.map((entry) => entry.level)).toStrictEqual(["info", "info", "info"]);
    expect(finished[2]!.details).toStrictEqual({
      method: "POST",
      path: expect.stringMatching(new RegExp(`^${BASE}/sync/push-sessions/[0-9a-f-]+/commit$`)),
      endpoint: "pushCommit",
      status: 200,
      durationMs: expect.any(Number),
      userId: device.userId,
      scopeId: device.userId,
      sourceId: device.sourceId,
    });
    // The commit is logged once its transaction has committed, before the answer goes out.
    const committed = entries.filter((entry) => entry.message === "bundle committed");
    expect(committed.map((entry) => [entry.level, entry.details])).toStrictEqual([
      [
        "info",
        {
          origin: "push",
          bundleSeq: (commit.body as { bundle_seq: number }).bundle_seq,
          rows: 1,
          scopeId: device.userId,
          sourceId: device.sourceId,
          sourceBundleId: 1,
        },
      ],
    ]);
    expect(entries.findIndex((entry) => entry.message === "bundle committed")).toBeLessThan(
      entries.findLastIndex((entry) => entry.message === "request finished"),
    );
  });

  it("an error answer carries its code; a fault is logged as an error and finishes with the route's 5xx code", async () => {
    const mark = logger.entries.length;
    await call(server.origin, `${BASE}/sync/capabilities`);
    await call(server.origin, `${BASE}/host/failing`);
    const entries = logger.entries.slice(mark);
    const finished = entries.filter((entry) => entry.message === "request finished");
    expect(
      finished.map((entry) => [entry.details.endpoint, entry.details.status, entry.details.code]),
    ).toStrictEqual([
      ["capabilities", 401, "authentication_failed"],
      ["/host/failing", 500, "internal_error"],
    ]);
    expect(finished[0]!.details).not.toHaveProperty("userId");
    const faults = entries.filter((entry) => entry.level === "error");
    expect(faults.map((entry) => entry.message)).toStrictEqual(["sync request failed unexpectedly"]);
    expect((faults[0]!.details.error as Error).message).toBe("the host route broke");
  });
});
