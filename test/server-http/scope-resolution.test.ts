/**
 * The host's scope resolution, over real HTTP on loopback against real PostgreSQL: a handler
 * mounted at a base path with a parameter (`/t/:team`) hands the parameter to `authenticate`, which
 * names a shared scope (`team:<id>`) for the members it lets in. Two users of one scope read each
 * other's bundles and sessions while a third user's own scope stays apart; a refused member gets
 * 403 before the service is reached; a scope id that breaks the identity rules is 401; the actor the
 * host's hooks see carries user and scope; and the watch stream cap counts streams by user, not by
 * scope.
 */
import { randomUUID } from "node:crypto";
import {
  type PushRow,
  canonicalRequestHash,
  decodeErrorBody,
  decodePullResponse,
  decodePushCommitResponse,
  decodePushCreateResponse,
  decodeSnapshotSessionBody,
} from "@oversync/protocol";
import {
  type Actor,
  type AuthenticatedUser,
  type AuthenticationContext,
  ScopeForbiddenError,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { pgListener, testPool } from "../server/watch-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type JsonReply, type LoopbackServer, call, serveOnLoopback, syncHeaders } from "./http-support.js";
import { WatchStream } from "./watch-stream.js";

const CAP = 2;
/** Team ids whose members the test auth lets in, by user. */
const members = new Map<string, Set<string>>();
/** What `authenticate` was given and what the watch hook saw, newest last. */
const contexts: AuthenticationContext[] = [];
const watchers: Actor[] = [];
/** When set, `authenticate` answers this instead of resolving the team scope. */
let override: AuthenticatedUser | undefined;

let db: TestDatabase;
let sql: pg.Pool;
let listener: ReturnType<typeof pgListener>;
let service: SyncRuntime;
let server: LoopbackServer;

/** `Bearer user:<id>` on `/t/<team>/…`: scope `team:<team>` for a member, 403 for anyone else. */
async function teamAuthenticate(
  request: Request,
  context: AuthenticationContext,
): Promise<AuthenticatedUser | null> {
  contexts.push(context);
  const userId = /^Bearer user:(.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
  if (userId === undefined) return null;
  if (override !== undefined) return override;
  const team = context.basePathParams.team ?? "";
  if (!members.get(userId)?.has(team)) throw new ScopeForbiddenError(`${userId} is not in team ${team}`);
  return { userId, scopeId: `team:${team}` };
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_scopes");
  sql = testPool(db.url);
  await createBusinessSchema(sql);
  listener = pgListener(db.url, "scope-resolution");
  service = createSyncService({
    pool: sql,
    appName: "oversync-scopes",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
    watch: {
      notifications: listener,
      maxStreamsPerUser: CAP,
      allow: (actor) => {
        watchers.push(actor);
        return true;
      },
    },
  });
  await service.bootstrap();
  const teams = createSyncHandler({ service, basePath: "/t/:team", authenticate: teamAuthenticate });
  const own = createSyncHandler({
    service,
    authenticate: async (request) => {
      const userId = /^Bearer user:(.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
      return userId === undefined ? null : { userId };
    },
  });
  server = await serveOnLoopback((request) =>
    new URL(request.url).pathname.startsWith("/t/") ? teams(request) : own(request),
  );
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await listener?.close();
  await sql?.end();
  await db?.drop();
});

function join(userId: string, team: string): void {
  const teams = members.get(userId) ?? new Set<string>();
  teams.add(team);
  members.set(userId, teams);
}

function post(base: string, path: string, userId: string, sourceId: string, body?: unknown) {
  return call(server.origin, `${base}${path}`, {
    method: "POST",
    headers: syncHeaders(userId, sourceId),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function get(base: string, path: string, userId: string, sourceId: string) {
  return call(server.origin, `${base}${path}`, { headers: syncHeaders(userId, sourceId) });
}

function ok(reply: JsonReply): unknown {
  expect(reply.status, reply.text).toBe(200);
  return reply.body;
}

function userRow(id: string, name: string): PushRow {
  return {
    schema: "business",
    table: "users",
    key: { id },
    op: "INSERT",
    base_row_version: 0,
    payload: {
      id,
      name,
      email: `${id}@example.com`,
      created_at: "2026-03-24T18:42:11Z",
      updated_at: "2026-03-24T18:42:11Z",
    },
  };
}

/** Connects `sourceId` and pushes `rows` as its bundle `sourceBundleId`; the committed bundle seq. */
async function push(base: string, userId: string, sourceId: string, sourceBundleId: number, rows: PushRow[]) {
  ok(await post(base, "/sync/connect", userId, sourceId, { has_local_pending_rows: false }));
  const request = {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  };
  const created = decodePushCreateResponse(
    ok(await post(base, "/sync/push-sessions", userId, sourceId, request)),
    request,
    sourceId,
  );
  if (created.status !== "staging") throw new Error(`unexpected push create ${JSON.stringify(created)}`);
  const pushId = created.push_id;
  ok(
    await post(base, `/sync/push-sessions/${pushId}/chunks`, userId, sourceId, {
      start_row_ordinal: 0,
      rows,
    }),
  );
  return decodePushCommitResponse(
    ok(await post(base, `/sync/push-sessions/${pushId}/commit`, userId, sourceId)),
    { sourceId, sourceBundleId },
  );
}

async function pulledIds(base: string, userId: string, sourceId: string): Promise<string[]> {
  const page = decodePullResponse(ok(await get(base, "/sync/pull?after_bundle_seq=0", userId, sourceId)), {
    afterBundleSeq: 0,
  });
  return page.bundles.flatMap((bundle) => bundle.rows.map((row) => String(row.key.id)));
}

describe("a scope the host resolves from the base path", () => {
  it("is shared by the members it names: one pushes, the other pulls and restores it", async () => {
    const team = `red-${randomUUID()}`;
    const [ada, bob, eve] = [`ada-${randomUUID()}`, `bob-${randomUUID()}`, `eve-${randomUUID()}`];
    join(ada, team);
    join(bob, team);
    const base = `/t/${team}`;
    const adaRow = randomUUID();
    const eveRow = randomUUID();
    const committed = await push(base, ada, "ada-phone", 1, [userRow(adaRow, "Ada")]);
    expect(contexts.at(-1)).toEqual({ basePathParams: { team } });
    // Bob, another member, reads Ada's bundle; his own (personal) scope does not have it.
    ok(await post(base, "/sync/connect", bob, "bob-laptop", { has_local_pending_rows: false }));
    expect(await pulledIds(base, bob, "bob-laptop")).toEqual([adaRow]);
    const created = await post(base, "/sync/snapshot-sessions", bob, "bob-laptop");
    const session = decodeSnapshotSessionBody(created.text);
    expect([session.snapshot_bundle_seq, session.row_count]).toEqual([committed.bundle_seq, 1]);
    const chunk = await get(base, `/sync/snapshot-sessions/${session.snapshot_id}`, bob, "bob-laptop");
    expect((ok(chunk) as { rows: { key: { id: string } }[] }).rows.map((row) => row.key.id)).toEqual([
      adaRow,
    ]);
    // Eve syncs her own scope at the root: she never sees the team's row, nor the team hers.
    await push("", eve, "eve-phone", 1, [userRow(eveRow, "Eve")]);
    expect(await pulledIds("", eve, "eve-phone")).toEqual([eveRow]);
    expect(await pulledIds(base, ada, "ada-phone")).toEqual([adaRow]);
    // Ada's own scope was never initialized: her team pushes did not land there.
    const own = await get("", "/sync/pull?after_bundle_seq=0", ada, "ada-phone");
    expect([own.status, (own.body as { error: string }).error]).toEqual([409, "scope_uninitialized"]);
    const { rows } = await sql.query(
      "SELECT _sync_scope_id AS scope FROM business.users WHERE id = ANY($1::uuid[]) ORDER BY scope",
      [[adaRow, eveRow]],
    );
    expect(rows).toEqual([{ scope: eve }, { scope: `team:${team}` }]);
  });

  it("decodes the base path parameter, and answers 404 where none can be read", async () => {
    const team = "blue team";
    const userId = `ada-${randomUUID()}`;
    join(userId, team);
    ok(await get("/t/blue%20team", "/sync/capabilities", userId, "ada-phone"));
    expect(contexts.at(-1)).toEqual({ basePathParams: { team } });
    for (const path of ["/t/%E0%A4%A/sync/capabilities", "/t//sync/capabilities", "/t/blue%20team"]) {
      const reply = await get("", path, userId, "ada-phone");
      expect([path, reply.status, (reply.body as { error: string }).error]).toEqual([path, 404, "not_found"]);
    }
  });

  it("refuses a user the host does not let in with 403 scope_forbidden, before the service", async () => {
    const team = `green-${randomUUID()}`;
    const member = `ada-${randomUUID()}`;
    join(member, team);
    await push(`/t/${team}`, member, "ada-phone", 1, [userRow(randomUUID(), "Ada")]);
    const stranger = `mallory-${randomUUID()}`;
    const reply = await get(`/t/${team}`, "/sync/pull?after_bundle_seq=0", stranger, "m-phone");
    expect([reply.status, reply.contentType]).toEqual([403, "application/json"]);
    expect(reply.body).toEqual({ error: "scope_forbidden", message: `${stranger} is not in team ${team}` });
    // A client reads it as a 403 without a protocol code: an authentication failure, not retried.
    const decoded = decodeErrorBody(reply.status, reply.body);
    expect([decoded.name, decoded.code, decoded.status]).toEqual(["HttpStatusError", "http_status", 403]);
    // Nothing the stranger sends reaches the scope: no session is opened for them.
    const rows = [userRow(randomUUID(), "Mallory")];
    const create = await post(`/t/${team}`, "/sync/push-sessions", stranger, "m-phone", {
      source_bundle_id: 1,
      planned_row_count: 1,
      canonical_request_hash: canonicalRequestHash(rows),
    });
    expect(create.status).toBe(403);
    const sessions = await sql.query(
      "SELECT count(*)::int AS n FROM sync.push_sessions WHERE source_id = 'm-phone'",
    );
    expect(sessions.rows[0].n).toBe(0);
  });

  it.each([
    ["an empty scope id", ""],
    ["a scope id with NUL", "team:\u0000x"],
    ["a scope id with a lone surrogate", "team:\ud800"],
    ["a scope id above MAX_IDENTITY_BYTES", `team:${"x".repeat(600)}`],
  ])("answers 401 authentication_failed when authenticate resolves %s", async (_name, scopeId) => {
    const userId = `ada-${randomUUID()}`;
    override = { userId, scopeId };
    try {
      const reply = await post("/t/any", "/sync/connect", userId, "ada-phone", {
        has_local_pending_rows: false,
      });
      expect(reply.status).toBe(401);
      expect(reply.body).toMatchObject({ error: "authentication_failed" });
      expect((reply.body as { message: string }).message).toMatch(/^authentication failed: the scope id/);
    } finally {
      override = undefined;
    }
  });

  it("refuses an actor with a bad scope id from a host that calls the service directly", async () => {
    const refusal = await service
      .connect({ scopeId: "", userId: "ada", sourceId: "ada-phone" }, { has_local_pending_rows: false })
      .then(
        () => undefined,
        (error: unknown) => error as { code: string },
      );
    expect(refusal?.code).toBe("authentication_failed");
  });
});

describe("watching a shared scope", () => {
  async function watch(base: string, userId: string, sourceId: string): Promise<WatchStream> {
    const controller = new AbortController();
    const response = await fetch(`${server.origin}${base}/sync/watch?after_bundle_seq=0`, {
      headers: syncHeaders(userId, sourceId),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    return new WatchStream(response, controller);
  }

  it("wakes every member for every member's bundle; the hook sees user and scope", async () => {
    const team = `teal-${randomUUID()}`;
    const [ada, bob] = [`ada-${randomUUID()}`, `bob-${randomUUID()}`];
    join(ada, team);
    join(bob, team);
    const base = `/t/${team}`;
    ok(await post(base, "/sync/connect", bob, "bob-laptop", { has_local_pending_rows: false }));
    const stream = await watch(base, bob, "bob-laptop");
    try {
      expect(watchers.at(-1)).toEqual({ scopeId: `team:${team}`, userId: bob, sourceId: "bob-laptop" });
      const committed = await push(base, ada, "ada-phone", 1, [userRow(randomUUID(), "Ada")]);
      expect(await stream.nextEvent()).toEqual({
        bundle_seq: committed.bundle_seq,
        source_id: "ada-phone",
        source_bundle_id: 1,
      });
      expect(service.watchSubscriberCount(`team:${team}`)).toBe(1);
    } finally {
      stream.controller.abort();
    }
  });

  it("caps the streams one user holds across scopes, not the members of one scope", async () => {
    const [teamA, teamB] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const [ada, bob, cy] = [`ada-${randomUUID()}`, `bob-${randomUUID()}`, `cy-${randomUUID()}`];
    for (const user of [ada, bob, cy]) join(user, teamA);
    join(ada, teamB);
    for (const team of [teamA, teamB]) {
      ok(await post(`/t/${team}`, "/sync/connect", ada, "ada-phone", { has_local_pending_rows: false }));
    }
    const streams = [
      await watch(`/t/${teamA}`, ada, "ada-phone"),
      await watch(`/t/${teamB}`, ada, "ada-phone"),
    ];
    try {
      // Ada holds CAP streams over two scopes: a third, on either, is refused.
      const refused = await get(`/t/${teamA}`, "/sync/watch?after_bundle_seq=0", ada, "ada-tablet");
      expect([refused.status, (refused.body as { error: string }).error]).toEqual([
        429,
        "bundle_change_watch_limit_exceeded",
      ]);
      // Other members of a scope Ada watches are not affected by her streams.
      streams.push(await watch(`/t/${teamA}`, bob, "bob-laptop"), await watch(`/t/${teamA}`, cy, "cy-phone"));
      expect(service.watchSubscriberCount(`team:${teamA}`)).toBe(CAP + 1);
      expect(service.watchSubscriberCount(`team:${teamB}`)).toBe(1);
    } finally {
      for (const stream of streams) stream.controller.abort();
    }
  });
});
