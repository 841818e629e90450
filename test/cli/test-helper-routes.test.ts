/**
 * `POST /test/retention-floor` and `GET /test/watch-subscribers` (protocol-latest §5) over real
 * HTTP, with the reference handler in front of a real sync service on PostgreSQL.
 */
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
import { OversyncError } from "@oversync/protocol";
import { type SyncRuntime, createSyncService, toNodeListener } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { send } from "./serve-support.js";

/**
 * The runtime does not offer these hooks yet, so this in-memory stand-in plays its part: users with
 * a latest bundle and a floor, the runtime's not-found error, and a fault for a floor past the
 * latest bundle (PostgreSQL's CHECK would refuse it). What is under test is the routes' wire
 * contract, not the runtime.
 */
class MemoryHooks implements TestHelperHooks {
  readonly users = new Map<string, { latest: number; floor: number }>();
  readonly watchers = new Map<string, number>();

  async setRetainedFloor(userId: string, floor: number): Promise<void> {
    const state = this.users.get(userId);
    if (state === undefined)
      throw new OversyncError("user_state_not_found", `user ${userId} has no sync state`);
    if (floor > state.latest)
      throw new Error(`check constraint violated: floor ${floor} > latest ${state.latest}`);
    state.floor = floor;
  }

  watchSubscriberCount(userId: string): number {
    return this.watchers.get(userId) ?? 0;
  }
}

let db: TestDatabase;
let service: SyncRuntime;
const hooks = new MemoryHooks();
const faults: { message: string; details: unknown }[] = [];
const servers: Server[] = [];
let origin: string;
let originWithoutHooks: string;

async function serve(testHooks: TestHelperHooks | undefined): Promise<string> {
  const handler = createReferenceHandler({
    service,
    auth: createJwtAuth({ secret: "helper-test-secret" }),
    testHooks,
    logger: { error: (message, details) => faults.push({ message, details }) },
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
  });
  await service.bootstrap();
  origin = await serve(hooks);
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

describe("POST /test/retention-floor", () => {
  it("moves the floor without any credentials and echoes it", async () => {
    hooks.users.set("floor-user", { latest: 7, floor: 0 });
    const reply = await postFloor(JSON.stringify({ user_id: "floor-user", retained_bundle_floor: 7 }));
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("application/json");
    expect(reply.body).toStrictEqual({ status: "ok", user_id: "floor-user", retained_bundle_floor: 7 });
    expect(hooks.users.get("floor-user")).toStrictEqual({ latest: 7, floor: 7 });
  });

  it.each([
    ["bad JSON", "{"],
    ["no user_id", JSON.stringify({ retained_bundle_floor: 1 })],
    ["a negative floor", JSON.stringify({ user_id: "floor-user", retained_bundle_floor: -1 })],
    ["a fractional floor", JSON.stringify({ user_id: "floor-user", retained_bundle_floor: 1.5 })],
    ["a floor given as a string", JSON.stringify({ user_id: "floor-user", retained_bundle_floor: "1" })],
  ])("answers %s with 400 invalid_request and changes nothing", async (_case, body) => {
    hooks.users.set("floor-user", { latest: 7, floor: 3 });
    const reply = await postFloor(body);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: "invalid_request", message: expect.any(String) });
    expect(hooks.users.get("floor-user")?.floor).toBe(3);
  });

  it("answers a user without sync state with 404 user_state_not_found", async () => {
    const reply = await postFloor(JSON.stringify({ user_id: "nobody", retained_bundle_floor: 0 }));
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ error: "user_state_not_found", message: expect.any(String) });
  });

  it("answers a runtime fault with 500 retention_floor_update_failed, logged but not disclosed", async () => {
    hooks.users.set("ahead-user", { latest: 2, floor: 0 });
    faults.length = 0;
    const reply = await postFloor(JSON.stringify({ user_id: "ahead-user", retained_bundle_floor: 5 }));
    expect(reply.status).toBe(500);
    expect(reply.body).toMatchObject({ error: "retention_floor_update_failed" });
    expect(reply.text).not.toContain("check constraint");
    expect(faults).toHaveLength(1);
  });

  it("is a POST route: GET is 405", async () => {
    const reply = await send(`${origin}/test/retention-floor`);
    expect(reply.status).toBe(405);
    expect(reply.headers.get("allow")).toBe("POST");
  });
});

describe("GET /test/watch-subscribers", () => {
  it("reports this process's count for the user", async () => {
    hooks.watchers.set("watched-user", 2);
    const watched = await send(`${origin}/test/watch-subscribers?user_id=watched-user`);
    expect(watched.status).toBe(200);
    expect(watched.body).toStrictEqual({
      user_id: "watched-user",
      subscriber_count: 2,
      process_local_only: true,
    });
    const idle = await send(`${origin}/test/watch-subscribers?user_id=idle-user`);
    expect(idle.body).toStrictEqual({ user_id: "idle-user", subscriber_count: 0, process_local_only: true });
  });

  it.each([
    ["no user_id", ""],
    ["an empty user_id", "?user_id="],
    ["user_id twice", "?user_id=a&user_id=b"],
  ])("answers %s with 400 invalid_request", async (_case, query) => {
    const reply = await send(`${origin}/test/watch-subscribers${query}`);
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
    const signIn = await send(`${originWithoutHooks}/dummy-signin`, {
      method: "POST",
      body: JSON.stringify({ user: "u", password: "p" }),
    });
    expect(signIn.status).toBe(200);
  });
});
