/**
 * `POST /test/retention-floor` and `GET /test/watch-subscribers` (protocol-latest §5) over real
 * HTTP, with the reference handler in front of a real sync service on PostgreSQL. The retention
 * route is served by the runtime itself, passed as the hooks exactly as `serve` does.
 */
import { randomUUID } from "node:crypto";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type TestHelperHooks,
  createJwtAuth,
  createReferenceHandler,
  ensureExampleSchema,
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
} from "@oversync/cli";
import { type SyncRuntime, createSyncService, toNodeListener } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { device, pushBundle, send, signIn, userRow } from "./serve-support.js";

/**
 * Watch streams stay open only while a client holds them, so this stand-in plays the runtime's
 * subscriber count; what is under test there is the route's wire contract.
 */
class MemoryWatchHooks implements Pick<TestHelperHooks, "watchSubscriberCount"> {
  readonly watchers = new Map<string, number>();

  watchSubscriberCount(userId: string): number {
    return this.watchers.get(userId) ?? 0;
  }
}

let db: TestDatabase;
let service: SyncRuntime;
const watchHooks = new MemoryWatchHooks();
const handlerFaults: string[] = [];
const runtimeFaults: string[] = [];
const servers: Server[] = [];
let origin: string;
let watchOrigin: string;
let originWithoutHooks: string;

async function serve(testHooks: Partial<TestHelperHooks> | undefined): Promise<string> {
  const handler = createReferenceHandler({
    service,
    auth: createJwtAuth({ secret: "helper-test-secret" }),
    testHooks,
    logger: { error: (message) => handlerFaults.push(message) },
  });
  const server = createServer(toNodeListener(handler));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await ensureExampleSchema(db.pool);
  service = createSyncService({
    pool: db.pool,
    appName: EXAMPLE_APP_NAME,
    registeredTables: EXAMPLE_REGISTERED_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: (message) => runtimeFaults.push(message) },
  });
  await service.bootstrap();
  origin = await serve(service);
  watchOrigin = await serve(watchHooks);
  originWithoutHooks = await serve(undefined);
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await service?.close();
  await db?.drop();
});

function postFloor(body: string, base = origin) {
  return send(`${base}/test/retention-floor`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
}

/** The user's retained floor and latest bundle seq, read from the database. */
async function floorOf(userId: string) {
  const { rows } = await db.pool.query<{ floor: number; latest: number }>(
    `SELECT retained_bundle_floor::int AS floor, (next_bundle_seq - 1)::int AS latest
       FROM sync.user_state WHERE user_id = $1`,
    [userId],
  );
  return rows[0];
}

/** A fresh user (as the live suites invent one per test) that committed `bundles` bundles over HTTP. */
async function userWithBundles(bundles: number) {
  const userId = `floor-${randomUUID()}`;
  const phone = device(origin, await signIn(origin, userId), "phone");
  for (let i = 1; i <= bundles; i++) {
    await pushBundle(phone, i, [userRow(randomUUID(), `user ${i}`)]);
  }
  return { userId, phone };
}

describe("POST /test/retention-floor", () => {
  it("moves the floor to latest without any credentials; pulls from below it then answer history_pruned", async () => {
    const { userId, phone } = await userWithBundles(3);
    const reply = await postFloor(JSON.stringify({ user_id: userId, retained_bundle_floor: 3 }));
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("application/json");
    expect(reply.body).toStrictEqual({ status: "ok", user_id: userId, retained_bundle_floor: 3 });
    expect(await floorOf(userId)).toEqual({ floor: 3, latest: 3 });

    const pruned = await phone.get("/sync/pull?after_bundle_seq=0");
    expect(pruned.status).toBe(409);
    expect(pruned.body).toMatchObject({ error: "history_pruned" });
    const rows = await phone.get("/sync/committed-bundles/3/rows");
    expect(rows.status).toBe(409);
    expect(rows.body).toMatchObject({ error: "history_pruned" });
    const upToDate = await phone.get("/sync/pull?after_bundle_seq=3");
    expect(upToDate.status).toBe(200);
    expect(upToDate.body).toStrictEqual({ stable_bundle_seq: 3, bundles: [], has_more: false });
  });

  it.each([
    ["bad JSON", () => "{"],
    ["no user_id", () => JSON.stringify({ retained_bundle_floor: 1 })],
    ["a negative floor", (user: string) => JSON.stringify({ user_id: user, retained_bundle_floor: -1 })],
    ["a fractional floor", (user: string) => JSON.stringify({ user_id: user, retained_bundle_floor: 1.5 })],
    [
      "a floor given as a string",
      (user: string) => JSON.stringify({ user_id: user, retained_bundle_floor: "1" }),
    ],
    [
      "a floor above the latest bundle",
      (user: string) => JSON.stringify({ user_id: user, retained_bundle_floor: 3 }),
    ],
  ])("answers %s with 400 invalid_request and changes nothing", async (_case, body) => {
    const { userId } = await userWithBundles(2);
    const reply = await postFloor(body(userId));
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: "invalid_request", message: expect.any(String) });
    expect(await floorOf(userId)).toEqual({ floor: 0, latest: 2 });
  });

  it("answers a user without sync state with 404 user_state_not_found", async () => {
    const reply = await postFloor(JSON.stringify({ user_id: "nobody", retained_bundle_floor: 0 }));
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ error: "user_state_not_found", message: expect.any(String) });
  });

  it("answers a database fault with 500 retention_floor_update_failed, logged but not disclosed", async () => {
    const { userId } = await userWithBundles(2);
    await db.pool.query(`
      CREATE FUNCTION public.refuse_floor() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'floor refused by test trigger'; END $$;
      CREATE TRIGGER refuse_floor BEFORE UPDATE OF retained_bundle_floor ON sync.user_state
        FOR EACH ROW EXECUTE FUNCTION public.refuse_floor();`);
    runtimeFaults.length = 0;
    handlerFaults.length = 0;
    try {
      const reply = await postFloor(JSON.stringify({ user_id: userId, retained_bundle_floor: 2 }));
      expect(reply.status).toBe(500);
      expect(reply.body).toMatchObject({ error: "retention_floor_update_failed" });
      expect(reply.text).not.toContain("test trigger");
      // Logged once, by the runtime that mapped it.
      expect(runtimeFaults).toEqual(["retained floor update failed"]);
      expect(handlerFaults).toEqual([]);
      expect(await floorOf(userId)).toEqual({ floor: 0, latest: 2 });
    } finally {
      await db.pool.query(
        "DROP TRIGGER refuse_floor ON sync.user_state; DROP FUNCTION public.refuse_floor()",
      );
    }
  });

  it("is a POST route: GET is 405", async () => {
    const reply = await send(`${origin}/test/retention-floor`);
    expect(reply.status).toBe(405);
    expect(reply.headers.get("allow")).toBe("POST");
  });
});

describe("GET /test/watch-subscribers", () => {
  it("reports this process's count for the user", async () => {
    watchHooks.watchers.set("watched-user", 2);
    const watched = await send(`${watchOrigin}/test/watch-subscribers?user_id=watched-user`);
    expect(watched.status).toBe(200);
    expect(watched.body).toStrictEqual({
      user_id: "watched-user",
      subscriber_count: 2,
      process_local_only: true,
    });
    const idle = await send(`${watchOrigin}/test/watch-subscribers?user_id=idle-user`);
    expect(idle.body).toStrictEqual({ user_id: "idle-user", subscriber_count: 0, process_local_only: true });
    // The runtime serves the route too (no watch streams are open here).
    const runtime = await send(`${origin}/test/watch-subscribers?user_id=watched-user`);
    expect(runtime.body).toStrictEqual({
      user_id: "watched-user",
      subscriber_count: 0,
      process_local_only: true,
    });
  });

  it.each([
    ["no user_id", ""],
    ["an empty user_id", "?user_id="],
    ["user_id twice", "?user_id=a&user_id=b"],
  ])("answers %s with 400 invalid_request", async (_case, query) => {
    const reply = await send(`${watchOrigin}/test/watch-subscribers${query}`);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: "invalid_request" });
  });
});

describe("without runtime hooks", () => {
  it("the helper routes are absent (404), sign-in still works", async () => {
    expect(
      (await postFloor(JSON.stringify({ user_id: "u", retained_bundle_floor: 0 }), originWithoutHooks))
        .status,
    ).toBe(404);
    expect((await send(`${originWithoutHooks}/test/watch-subscribers?user_id=u`)).status).toBe(404);
    const signedIn = await send(`${originWithoutHooks}/dummy-signin`, {
      method: "POST",
      body: JSON.stringify({ user: "u", password: "p" }),
    });
    expect(signedIn.status).toBe(200);
  });
});
