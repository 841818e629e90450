/**
 * The per-user cap on open `GET /sync/watch` streams, over real HTTP on loopback against real
 * PostgreSQL: one stream past the cap is 429 bundle_change_watch_limit_exceeded with Retry-After,
 * other users are not affected, concurrent opens never overrun it, and a closed stream frees its
 * place. The cap's option is checked when the service is created.
 */
import { randomUUID } from "node:crypto";
import { OversyncError, decodeErrorBody } from "@oversync/protocol";
import {
  DEFAULT_WATCH_MAX_STREAMS_PER_USER,
  ServiceConfigError,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { actor, initializeScope } from "../server/service-harness.js";
import { eventually, pgListener, testPool } from "../server/watch-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type LoopbackServer, call, serveOnLoopback, syncHeaders, testAuthenticate } from "./http-support.js";
import { type WatchStream, openWatch } from "./watch-stream.js";

const CAP = 2;

let db: TestDatabase;
let sql: pg.Pool;
let listener: ReturnType<typeof pgListener>;
let service: SyncRuntime;
let server: LoopbackServer;

beforeAll(async () => {
  db = await createTestDatabase("oversync_watch_cap");
  sql = testPool(db.url);
  await createBusinessSchema(sql);
  listener = pgListener(db.url, "watch-cap");
  service = createSyncService({
    pool: sql,
    appName: "oversync-watch-cap",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
    watch: { notifications: listener, maxStreamsPerUser: CAP },
  });
  await service.bootstrap();
  server = await serveOnLoopback(createSyncHandler({ service, authenticate: testAuthenticate }));
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await listener?.close();
  await sql?.end();
  await db?.drop();
});

async function freshUser(prefix: string): Promise<string> {
  const userId = `${prefix}-${randomUUID()}`;
  await initializeScope(service, actor(userId));
  return userId;
}

/** Asks for one more stream, expecting the cap's refusal. */
async function expectRefused(userId: string, sourceId: string): Promise<void> {
  const reply = await call(server.origin, "/sync/watch?after_bundle_seq=0", {
    headers: syncHeaders(userId, sourceId),
  });
  expect(reply.status).toBe(429);
  expect(reply.headers.get("retry-after")).toBe("1");
  const decoded = decodeErrorBody(reply.status, reply.body);
  expect(decoded).toBeInstanceOf(OversyncError);
  expect((decoded as OversyncError).code).toBe("bundle_change_watch_limit_exceeded");
}

describe("open watch streams per user", () => {
  it("are capped: one more is 429 with Retry-After, other users still watch, a closed one frees its place", async () => {
    const userId = await freshUser("capped");
    const streams: WatchStream[] = [];
    for (let i = 0; i < CAP; i++) streams.push(await openWatch(server.origin, userId, `device-${i}`, 0));
    await expectRefused(userId, "device-extra");
    expect(service.watchSubscriberCount(userId)).toBe(CAP);

    const other = await freshUser("other");
    const otherStream = await openWatch(server.origin, other, "device-0", 0);

    streams.shift()!.controller.abort();
    await eventually(() => expect(service.watchSubscriberCount(userId)).toBe(CAP - 1));
    streams.push(await openWatch(server.origin, userId, "device-again", 0));
    await expectRefused(userId, "device-extra");

    for (const stream of [...streams, otherStream]) stream.controller.abort();
    await eventually(() => expect(service.watchSubscriberCount(userId)).toBe(0));
  });

  it("are never overrun by concurrent opens", async () => {
    const userId = await freshUser("racing");
    const controllers = Array.from({ length: 3 * CAP }, () => new AbortController());
    const responses = await Promise.all(
      controllers.map((controller, i) =>
        fetch(`${server.origin}/sync/watch?after_bundle_seq=0`, {
          headers: syncHeaders(userId, `device-${i}`),
          signal: controller.signal,
        }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toStrictEqual([...Array(CAP).fill(200), ...Array(2 * CAP).fill(429)]);
    expect(service.watchSubscriberCount(userId)).toBe(CAP);
    for (const controller of controllers) controller.abort();
    await eventually(() => expect(service.watchSubscriberCount(userId)).toBe(0));
  });
});

describe("the cap option", () => {
  it("defaults to 16 and must be a positive whole number", () => {
    expect(DEFAULT_WATCH_MAX_STREAMS_PER_USER).toBe(16);
    for (const maxStreamsPerUser of [0, -1, 1.5, Number.NaN]) {
      expect(() =>
        createSyncService({
          pool: sql,
          appName: "oversync-watch-cap",
          registeredTables: BUSINESS_TABLES,
          maxSupportedSchemaVersion: 1,
          watch: { notifications: listener, maxStreamsPerUser },
        }),
      ).toThrow(ServiceConfigError);
    }
  });
});
