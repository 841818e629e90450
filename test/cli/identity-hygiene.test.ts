/**
 * User ids and source ids where they enter, over real HTTP with the reference handler (JWT sign-in,
 * test helpers, sync routes) in front of a real sync service on PostgreSQL, plus the
 * server-originated write API on the same service. An id PostgreSQL would rewrite (a lone surrogate
 * becomes U+FFFD, so two users would share a scope) or refuse (NUL; an index entry over 2704 bytes)
 * must be refused with a 4xx and a stable code before it reaches the database, never a 500 that
 * clients retry.
 *
 * Tokens for such ids are minted with the server's own JwtAuth: they stand for a host whose identity
 * provider issues them (our sign-in refuses them), which is exactly what the sync routes must not
 * trust blindly.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
  createJwtAuth,
  createReferenceHandler,
  ensureExampleSchema,
} from "@oversync/cli";
import { MAX_IDENTITY_BYTES, decodeErrorBody } from "@oversync/protocol";
import { ServerWriteError, type SyncRuntime, createSyncService, toNodeListener } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type Reply, device, pullAll, pushBundle, send, signIn, userRow } from "./serve-support.js";

const auth = createJwtAuth({ secret: "identity-hygiene-secret" });
let db: TestDatabase;
let service: SyncRuntime;
let server: Server;
let origin: string;
/** Faults the handler and the runtime logged: a refused id must never be one. */
const faults: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase("oversync_ident");
  await ensureExampleSchema(db.pool);
  service = createSyncService({
    pool: db.pool,
    appName: EXAMPLE_APP_NAME,
    registeredTables: EXAMPLE_REGISTERED_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: (message) => faults.push(message) },
  });
  await service.bootstrap();
  const handler = createReferenceHandler({
    service,
    auth,
    testHooks: service,
    logger: { error: (message) => faults.push(message) },
  });
  server = createServer(toNodeListener(handler));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await service?.close();
  await db?.drop();
  expect(faults).toStrictEqual([]);
});

/** A token whose subject is `userId`, as a host's identity provider might issue it. */
async function tokenFor(userId: string): Promise<string> {
  return (await auth.issueToken(userId)).token;
}

/** Asserts an error reply the clients decode with this status and code; returns its message. */
function expectError(reply: Reply, status: number, code: string): string {
  expect({
    status: reply.status,
    error: (reply.body as { error?: string } | undefined)?.error,
  }).toStrictEqual({
    status,
    error: code,
  });
  expect(decodeErrorBody(reply.status, reply.body).name).toBe("OversyncError");
  return (reply.body as { message: string }).message;
}

function postSignIn(user: string): Promise<Reply> {
  return send(`${origin}/dummy-signin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password: "anything", device: "some-device" }),
  });
}

function postRetentionFloor(userId: string, floor: number): Promise<Reply> {
  return send(`${origin}/test/retention-floor`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id: userId, retained_bundle_floor: floor }),
  });
}

async function userState(userId: string) {
  const { rows } = await db.pool.query<{ next_bundle_seq: string; retained_bundle_floor: string }>(
    "SELECT next_bundle_seq::text, retained_bundle_floor::text FROM sync.user_state WHERE user_id = $1",
    [userId],
  );
  return rows[0];
}

/** Random text PostgreSQL cannot compress below its index entry limit (2704 bytes). */
function incompressible(bytes: number): string {
  return randomBytes(bytes).toString("base64");
}

/** A new user who signed in, connected and committed one users row; returns their device. */
async function userWithData(userId: string, name: string) {
  const alice = device(origin, await signIn(origin, userId), randomUUID());
  await pushBundle(alice, 1, [userRow(randomUUID(), name)]);
  return alice;
}

describe("user ids", () => {
  it("a lone surrogate cannot reach the user whose id PostgreSQL would store it as", async () => {
    const stem = `victim-${randomUUID()}`;
    const victimId = `${stem}\uFFFD`;
    const attackerId = `${stem}\ud800`;
    const victim = await userWithData(victimId, "VictimSecret");
    const before = await userState(victimId);

    const attacker = device(origin, await tokenFor(attackerId), "attacker-device");
    const replies = [
      await attacker.get("/sync/pull?after_bundle_seq=0&max_bundles=100"),
      await attacker.post("/sync/snapshot-sessions"),
      await attacker.post("/sync/connect", { has_local_pending_rows: false }),
    ];
    for (const reply of replies) {
      expect(expectError(reply, 401, "authentication_failed")).toMatch(/user id .*lone surrogate/);
      expect(reply.text).not.toContain("VictimSecret");
    }
    expectError(await postRetentionFloor(attackerId, 1), 400, "invalid_request");
    expect(expectError(await postSignIn(attackerId), 400, "invalid_request")).toMatch(
      /user .*lone surrogate U\+D800/,
    );

    // The victim's scope is untouched and still theirs.
    expect(await userState(victimId)).toStrictEqual(before);
    expect(before!.retained_bundle_floor).toBe("0");
    expect([...(await pullAll(victim)).keys()]).toStrictEqual([1]);
  });

  it("NUL in a user id is a 4xx everywhere it enters, never a 500", async () => {
    const nulId = `nul-${randomUUID()}\u0000tail`;
    const holder = device(origin, await tokenFor(nulId), "nul-device");
    expectError(
      await holder.post("/sync/connect", { has_local_pending_rows: false }),
      401,
      "authentication_failed",
    );
    expectError(await holder.get("/sync/pull?after_bundle_seq=0"), 401, "authentication_failed");
    expectError(await postRetentionFloor(nulId, 0), 400, "invalid_request");
    const query = `user_id=${encodeURIComponent(nulId)}`;
    expectError(await send(`${origin}/test/watch-subscribers?${query}`), 400, "invalid_request");
    expect(expectError(await postSignIn(nulId), 400, "invalid_request")).toMatch(/U\+0000/);
  });

  it(`a user id over ${MAX_IDENTITY_BYTES} UTF-8 bytes is refused; one at the limit syncs`, async () => {
    // 274 characters, most of them two bytes long: the limit counts UTF-8 bytes, not characters.
    const atLimit = `${"é".repeat(MAX_IDENTITY_BYTES / 2 - 18)}${randomUUID()}`;
    expect(new TextEncoder().encode(atLimit).length).toBe(MAX_IDENTITY_BYTES);
    const holder = await userWithData(atLimit, "AtLimit");
    expect([...(await pullAll(holder)).keys()]).toStrictEqual([1]);

    for (const tooLong of [incompressible(3072), `${atLimit}x`]) {
      const big = device(origin, await tokenFor(tooLong), "big-device");
      expect(
        expectError(
          await big.post("/sync/connect", { has_local_pending_rows: false }),
          401,
          "authentication_failed",
        ),
      ).toMatch(/more than the 512 allowed/);
      expectError(await postRetentionFloor(tooLong, 0), 400, "invalid_request");
      expect(expectError(await postSignIn(tooLong), 400, "invalid_request")).toMatch(
        /more than the 512 allowed/,
      );
      expect(await userState(tooLong)).toBeUndefined();
    }
  });
});

describe("source ids", () => {
  it(`an Oversync-Source-ID over ${MAX_IDENTITY_BYTES} bytes is 400 invalid_request; one at the limit syncs`, async () => {
    const userId = `src-${randomUUID()}`;
    const token = await signIn(origin, userId);
    const atLimit = device(origin, token, `${randomUUID()}${"s".repeat(MAX_IDENTITY_BYTES - 36)}`);
    expect(atLimit.sourceId).toHaveLength(MAX_IDENTITY_BYTES);
    await pushBundle(atLimit, 1, [userRow(randomUUID(), "FromLongSource")]);

    for (const sourceId of [incompressible(3072), `${atLimit.sourceId}s`]) {
      const tooLong = device(origin, token, sourceId);
      const request = { source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: "a".repeat(64) };
      for (const reply of [
        await tooLong.post("/sync/connect", { has_local_pending_rows: false }),
        await tooLong.post("/sync/push-sessions", request),
        await tooLong.post("/sync/snapshot-sessions"),
      ]) {
        expect(expectError(reply, 400, "invalid_request")).toMatch(
          /^Oversync-Source-ID header is \d+ bytes, more than the 512 allowed$/,
        );
      }
    }
    const { rows } = await db.pool.query(
      "SELECT s.source_id FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1",
      [userId],
    );
    expect(rows.map((row) => row.source_id)).toStrictEqual([atLimit.sourceId]);
  });

  it(`a replacement source id over ${MAX_IDENTITY_BYTES} bytes in a snapshot create is 400 snapshot_session_invalid`, async () => {
    const userId = `repl-${randomUUID()}`;
    const phone = await userWithData(userId, "Replaced");
    const replacement = (id: string) => ({
      source_replacement: { previous_source_id: phone.sourceId, new_source_id: id, reason: "history_pruned" },
    });
    for (const newId of [incompressible(3072), "n".repeat(MAX_IDENTITY_BYTES + 1)]) {
      const reply = await phone.post("/sync/snapshot-sessions", replacement(newId));
      expect(expectError(reply, 400, "snapshot_session_invalid")).toMatch(
        /new_source_id is \d+ bytes, more than the 512 allowed/,
      );
    }
    // Nothing was retired: the device still pushes from its source, then replaces it with an id at the limit.
    await pushBundle(phone, 2, [userRow(randomUUID(), "StillActive")]);
    const created = await phone.post("/sync/snapshot-sessions", replacement("n".repeat(MAX_IDENTITY_BYTES)));
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ row_count: 2 });
  });
});

describe("server-originated writes", () => {
  const insertUser = (tx: { query(text: string, values?: unknown[]): Promise<unknown> }) =>
    tx.query("INSERT INTO business.users (id, name, email) VALUES ($1, 'Server', 'server@example.com')", [
      randomUUID(),
    ]);

  async function serverWriteRejection(promise: Promise<unknown>): Promise<ServerWriteError> {
    const error = await promise.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ServerWriteError);
    return error as ServerWriteError;
  }

  it("refuse scope ids and writer ids outside the identity rules before touching the database", async () => {
    const stem = `server-victim-${randomUUID()}`;
    const victimId = `${stem}\uFFFD`;
    await userWithData(victimId, "ServerVictim");
    const before = await userState(victimId);
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      [
        "a lone surrogate scope",
        () => service.scopeManager.execWrite(`${stem}\ud800`, { writerId: "server:test" }, insertUser),
        /scopeId .*lone surrogate/,
      ],
      [
        "a NUL scope",
        () => service.scopeManager.execWrite("scope\u0000x", { writerId: "server:test" }, insertUser),
        /scopeId .*U\+0000/,
      ],
      [
        "an oversized scope",
        () => service.scopeManager.execWrite(incompressible(3072), { writerId: "server:test" }, insertUser),
        /scopeId is \d+ bytes/,
      ],
      [
        "an oversized writer id",
        () => service.scopeManager.execWrite(victimId, { writerId: incompressible(3072) }, insertUser),
        /writerId is \d+ bytes/,
      ],
      [
        "a lone surrogate bundle scope",
        () =>
          service.withinSyncBundle(
            { scopeId: `${stem}\ud800` },
            { sourceId: "server:t", sourceBundleId: 1 },
            insertUser,
          ),
        /scope id of a sync bundle .*lone surrogate/,
      ],
    ];
    // Each call starts only when awaited, so no refusal is left unhandled meanwhile.
    for (const [name, call, message] of cases) {
      const error = await serverWriteRejection(call());
      expect([error.code, error.message], name).toStrictEqual([
        "invalid_server_write",
        expect.stringMatching(message),
      ]);
    }
    expect(await userState(victimId)).toStrictEqual(before);
  });
});
