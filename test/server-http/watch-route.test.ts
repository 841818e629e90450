/**
 * `GET /sync/watch` over real HTTP on loopback against real PostgreSQL, read with the clients' own
 * SSE parser: headers flushed before any event, the catch-up event, wake-ups from commits (also
 * from a second server in its own OS process), heartbeats, the subscriber count returning to zero
 * when the client goes away, and every setup error of protocol-latest §1.12.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type ClientRequest, request as httpRequest } from "node:http";
import { fileURLToPath } from "node:url";
import { OversyncError, decodeCapabilitiesBody, decodeErrorBody } from "@oversync/protocol";
import {
  PgNotificationListener,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { RUN_FROM_SOURCE } from "../support/run-from-source.js";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { actor, initializeScope, push, userRow, uuid } from "../server/service-harness.js";
import { pgListener, readUntilSeq, testPool } from "../server/watch-support.js";
import { type LoopbackServer, call, serveOnLoopback, syncHeaders, testAuthenticate } from "./http-support.js";
import { WatchStream, openWatch } from "./watch-stream.js";

const HEARTBEAT_MS = 150;
/** protocol-latest §5: the count must reach 0 within 5 s after the client stops. */
const UNSUBSCRIBE_BOUND_MS = 5_000;

const quietLogger = { warn: () => undefined, error: () => undefined };

let db: TestDatabase;
/** This suite's own pool (db.pool stays unused; see testPool). */
let sql: pg.Pool;
let listener: PgNotificationListener;
let service: SyncRuntime;
let server: LoopbackServer;

beforeAll(async () => {
  db = await createTestDatabase("oversync_watch_http");
  sql = testPool(db.url);
  await createBusinessSchema(sql);
  listener = pgListener(db.url, "watch-http");
  service = createSyncService({
    pool: sql,
    appName: "nethttp-server-example",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: quietLogger,
    watch: {
      notifications: listener,
      heartbeatIntervalMs: HEARTBEAT_MS,
      allow: (who) => !who.userId.startsWith("forbidden-"),
    },
  });
  await service.bootstrap();
  server = await serveOnLoopback(
    createSyncHandler({ service, authenticate: testAuthenticate, basePath: "/api/v1" }),
  );
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await listener?.close();
  await sql?.end();
  await db?.drop();
});

async function freshUser(prefix: string) {
  const who = actor(`${prefix}-${uuid()}`);
  await initializeScope(service, who);
  return who;
}

/** Waits until the process holds no watch for `userId`, within the §5 bound. */
async function expectNoSubscribers(userId: string): Promise<void> {
  const deadline = Date.now() + UNSUBSCRIBE_BOUND_MS;
  while (service.watchSubscriberCount(userId) !== 0) {
    if (Date.now() > deadline)
      throw new Error(`subscriber of ${userId} still counted after ${UNSUBSCRIBE_BOUND_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the event stream", () => {
  it("answers with the SSE headers at once, before any event, then heartbeats while idle", async () => {
    const who = await freshUser("headers");
    await push(service, who, 1, [userRow(uuid(), "Ada")]);
    // Up to date: no event is due, yet the response (its headers) must arrive.
    const stream = await openWatch(`${server.origin}/api/v1`, who.userId, who.sourceId, 1);
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream");
    expect(stream.response.headers.get("cache-control")).toBe("no-cache");
    expect(stream.response.headers.get("x-accel-buffering")).toBe("no");
    expect(stream.response.headers.get("content-length")).toBeNull();
    await stream.readUntil(() => stream.raw.split(": heartbeat\n\n").length > 2);
    expect(stream.raw).toMatch(/^(: heartbeat\n\n)+$/);
    expect(stream.events).toStrictEqual([]);
    stream.controller.abort();
  });

  it("sends the catch-up event first when the client is behind, then one event per commit", async () => {
    const who = await freshUser("catchup");
    const probe = await service.openBundleWatch(who, { after_bundle_seq: 0 });
    await push(service, who, 1, [userRow(uuid(), "Ada")]);
    await push(service, who, 2, [userRow(uuid(), "Bob")]);
    await readUntilSeq(probe, 2);
    const stream = await openWatch(`${server.origin}/api/v1`, who.userId, who.sourceId, 0);
    expect(await stream.nextEvent()).toStrictEqual({ bundle_seq: 2 });
    expect(stream.raw.startsWith('event: bundle\ndata: {"bundle_seq":2}\n\n')).toBe(true);

    const peer = { ...who, sourceId: "peer-device" };
    const committed = await push(service, peer, 1, [userRow(uuid(), "Cy")]);
    expect(await stream.nextEvent()).toStrictEqual({
      bundle_seq: committed.bundle_seq,
      source_id: "peer-device",
      source_bundle_id: 1,
    });
    expect(stream.raw).toContain(
      `event: bundle\ndata: {"bundle_seq":3,"source_id":"peer-device","source_bundle_id":1}\n\n`,
    );
    stream.controller.abort();
  });

  it("ends the stream when the service closes", async () => {
    const closingListener = pgListener(db.url, "watch-http-closing");
    const closing = createSyncService({
      pool: sql,
      appName: "closing",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      logger: quietLogger,
      watch: { notifications: closingListener },
    });
    await closing.bootstrap();
    const closingServer = await serveOnLoopback(
      createSyncHandler({ service: closing, authenticate: testAuthenticate }),
    );
    try {
      const who = await freshUser("closing");
      const controller = new AbortController();
      const response = await fetch(`${closingServer.origin}/sync/watch`, {
        headers: syncHeaders(who.userId, who.sourceId),
        signal: controller.signal,
      });
      expect(response.status).toBe(200);
      const stream = new WatchStream(response, controller);
      await closing.close();
      await stream.ended();
      expect(stream.events).toStrictEqual([]);
    } finally {
      await closingServer.close();
      await closingListener.close();
    }
  });
});

describe("subscriber count", () => {
  it("is 1 while a stream is open and back to 0 after the client aborts", async () => {
    const who = await freshUser("abort");
    const stream = await openWatch(`${server.origin}/api/v1`, who.userId, who.sourceId, 0);
    expect(service.watchSubscriberCount(who.userId)).toBe(1);
    const second = await openWatch(`${server.origin}/api/v1`, who.userId, "second-device", 0);
    expect(service.watchSubscriberCount(who.userId)).toBe(2);
    stream.controller.abort();
    second.controller.abort();
    await expectNoSubscribers(who.userId);
  });

  it("is back to 0 after the client's socket is destroyed mid-stream", async () => {
    const who = await freshUser("socket");
    const { port } = new URL(server.origin);
    const opened = new Promise<ClientRequest>((resolve, reject) => {
      const request = httpRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/api/v1/sync/watch?after_bundle_seq=0",
          headers: syncHeaders(who.userId, who.sourceId),
        },
        (response) => {
          expect(response.statusCode).toBe(200);
          resolve(request);
        },
      );
      request.on("error", reject);
      request.end();
    });
    const request = await opened;
    expect(service.watchSubscriberCount(who.userId)).toBe(1);
    request.destroy();
    await expectNoSubscribers(who.userId);
  });
});

describe("setup errors", () => {
  async function expectSetupError(
    origin: string,
    path: string,
    headers: Record<string, string>,
    status: number,
    code: string,
  ): Promise<void> {
    const reply = await call(origin, path, { headers });
    expect([reply.status, reply.contentType]).toStrictEqual([status, "application/json"]);
    expect(Object.keys(reply.body as object).sort()).toStrictEqual(["error", "message"]);
    // The clients' decoder accepts it only when code and status belong together.
    const error = decodeErrorBody(reply.status, reply.body);
    expect(error).toBeInstanceOf(OversyncError);
    expect(error.code).toBe(code);
    expect(error.message.length).toBeGreaterThan(0);
  }

  it("400 invalid_request for a bad after_bundle_seq", async () => {
    const who = await freshUser("bad-query");
    for (const value of ["-1", "abc", "1.5", "", "1e3"]) {
      await expectSetupError(
        server.origin,
        `/api/v1/sync/watch?after_bundle_seq=${value}`,
        syncHeaders(who.userId, who.sourceId),
        400,
        "invalid_request",
      );
    }
    expect(service.watchSubscriberCount(who.userId)).toBe(0);
  });

  it("401 authentication_failed without credentials", async () => {
    await expectSetupError(
      server.origin,
      "/api/v1/sync/watch",
      { "oversync-source-id": "dev" },
      401,
      "authentication_failed",
    );
  });

  it("403 bundle_change_watch_forbidden when the host's hook refuses the actor, who is told so by capabilities", async () => {
    const who = await freshUser("forbidden");
    await expectSetupError(
      server.origin,
      "/api/v1/sync/watch",
      syncHeaders(who.userId, who.sourceId),
      403,
      "bundle_change_watch_forbidden",
    );
    const refused = await call(server.origin, "/api/v1/sync/capabilities", {
      headers: syncHeaders(who.userId, who.sourceId),
    });
    expect(decodeCapabilitiesBody(refused.text).features.bundle_change_watch).toBe(false);
    const allowed = await call(server.origin, "/api/v1/sync/capabilities", {
      headers: syncHeaders("someone", "dev"),
    });
    expect(decodeCapabilitiesBody(allowed.text).features.bundle_change_watch).toBe(true);
  });

  it("409 scope_uninitialized and scope_initializing", async () => {
    const stranger = `stranger-${uuid()}`;
    await expectSetupError(
      server.origin,
      "/api/v1/sync/watch",
      syncHeaders(stranger, "dev"),
      409,
      "scope_uninitialized",
    );
    const seeding = actor(`seeding-${uuid()}`);
    await service.connect(seeding, { has_local_pending_rows: true });
    await expectSetupError(
      server.origin,
      "/api/v1/sync/watch",
      syncHeaders(seeding.userId, "other"),
      409,
      "scope_initializing",
    );
    expect(service.watchSubscriberCount(seeding.userId)).toBe(0);
  });

  it("503 bundle_change_watch_disabled on a server without watch, whose capabilities say false", async () => {
    const plain = createSyncService({
      pool: sql,
      appName: "no-watch",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      logger: quietLogger,
    });
    await plain.bootstrap();
    const plainServer = await serveOnLoopback(
      createSyncHandler({ service: plain, authenticate: testAuthenticate }),
    );
    try {
      const who = await freshUser("disabled");
      await expectSetupError(
        plainServer.origin,
        "/sync/watch",
        syncHeaders(who.userId, who.sourceId),
        503,
        "bundle_change_watch_disabled",
      );
      const capabilities = await call(plainServer.origin, "/sync/capabilities", {
        headers: syncHeaders(who.userId, who.sourceId),
      });
      expect(decodeCapabilitiesBody(capabilities.text).features.bundle_change_watch).toBe(false);
    } finally {
      await plainServer.close();
      await plain.close();
    }
  });

  it("500 bundle_change_watch_failed when LISTEN cannot be set up", async () => {
    const missing = new URL(db.url);
    missing.pathname = `/${db.name}_missing`;
    const broken = new PgNotificationListener({
      createClient: () => new pg.Client({ connectionString: missing.toString() }),
      logger: { error: () => undefined },
    });
    const logged: string[] = [];
    const faulty = createSyncService({
      pool: sql,
      appName: "broken-listen",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      logger: { warn: () => undefined, error: (message) => logged.push(message) },
      watch: { notifications: broken },
    });
    await faulty.bootstrap();
    const faultyServer = await serveOnLoopback(
      createSyncHandler({ service: faulty, authenticate: testAuthenticate }),
    );
    try {
      const who = await freshUser("failed");
      await expectSetupError(
        faultyServer.origin,
        "/sync/watch",
        syncHeaders(who.userId, who.sourceId),
        500,
        "bundle_change_watch_failed",
      );
      const reply = await call(faultyServer.origin, "/sync/watch", {
        headers: syncHeaders(who.userId, who.sourceId),
      });
      expect(reply.text).not.toContain(missing.pathname.slice(1));
      expect(logged).toContain("watch failed");
      expect(faulty.watchSubscriberCount(who.userId)).toBe(0);
    } finally {
      await faultyServer.close();
      await faulty.close();
      await broken.close();
    }
  });
});

describe("several server processes", () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  });

  it("a commit in this process wakes a watch served by another OS process on the same database", async () => {
    const script = fileURLToPath(new URL("./watch-peer-process.ts", import.meta.url));
    child = spawn(process.execPath, [...RUN_FROM_SOURCE, script, db.url], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const origin = await new Promise<string>((resolve, reject) => {
      let output = "";
      child!.stdout!.on("data", (data: Buffer) => {
        output += data.toString();
        const line = output.split("\n")[0];
        if (output.includes("\n") && line !== undefined)
          resolve((JSON.parse(line) as { origin: string }).origin);
      });
      child!.once("exit", (code) => reject(new Error(`peer process exited with ${code}`)));
    });
    const who = await freshUser("cross-process");
    const stream = await openWatch(origin, who.userId, who.sourceId, 0);
    const committed = await push(service, who, 1, [userRow(uuid(), "Ada")]);
    expect(await stream.nextEvent()).toStrictEqual({
      bundle_seq: committed.bundle_seq,
      source_id: who.sourceId,
      source_bundle_id: 1,
    });
    // This process serves none of that user's streams.
    expect(service.watchSubscriberCount(who.userId)).toBe(0);
    stream.controller.abort();
  });
});
