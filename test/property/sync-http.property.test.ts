/**
 * Every sync endpoint (SYNC_ROUTES) over real HTTP on loopback against real PostgreSQL, sent random
 * and mutated bodies, query strings, path segments, methods and headers. Whatever arrives, the
 * server never answers 5xx, answers every refusal with a JSON error body whose code is in the
 * catalogue with its own status, never lets PostgreSQL's error text out, logs no unexpected fault,
 * and leaves every sync and business table exactly as it was when it refuses.
 */
import { randomUUID } from "node:crypto";
import {
  ERROR_STATUS,
  OversyncError,
  type PushRow,
  canonicalRequestHash,
  decodeErrorBody,
  encodeBase64,
  isErrorCode,
  renderFloat4,
  renderFloat64,
} from "@oversync/protocol";
import {
  PgNotificationListener,
  SYNC_ROUTES,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { actor, initializeScope, push, userRow } from "../server/service-harness.js";
import {
  type LoopbackServer,
  recordingLogger,
  serveOnLoopback,
  testAuthenticate,
} from "../server-http/http-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { finiteDouble, finiteFloat, hostileUpload, int64, plainDecimal } from "./column-values.js";
import { edgeNumberToken, hostileBody, trickyString } from "./hostile-json.js";
import { runs, timeoutFor } from "./property-runs.js";
import {
  canonicalUuid,
  connectRequest,
  pushChunkRequest,
  pushCreateRequest,
  safeInt,
  sha256Hex,
  snapshotCreateRequest,
} from "./valid-wire.js";

const BASE = "/api/v1";
const MAX_BODY_BYTES = 64 * 1024;
const ALICE = "alice";
const ALICE_SOURCE = "alice-device";
/** The user most requests come from: her scope holds a bundle, a push session and a snapshot. */
const alice = actor(ALICE, ALICE_SOURCE);

let db: TestDatabase;
let listenerClient: PgNotificationListener;
let service: SyncRuntime;
let server: LoopbackServer;
const serviceLog = recordingLogger();
const handlerLog = recordingLogger();
/**
 * Alice's open push session and snapshot session. Paths name them by marker, replaced when the
 * request is sent, and each run reopens whichever a previous request deleted or committed, so
 * requests keep reaching live resources deep in the service.
 */
const live = { push: "", snapshot: "" };
const MARKERS: Readonly<Record<string, keyof typeof live | undefined>> = {
  push_id: "push",
  snapshot_id: "snapshot",
  bundle_seq: undefined,
};
/** One statement that digests every row of every sync and business table. */
let fingerprintSql: string;

beforeAll(async () => {
  db = await createTestDatabase("oversync_prop_http");
  await createBusinessSchema(db.pool);
  listenerClient = new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: db.url, application_name: "prop-http-listen" }),
    logger: { error: () => undefined },
  });
  service = createSyncService({
    pool: db.pool,
    appName: "nethttp-server-example",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: serviceLog.error, error: serviceLog.error },
    watch: { notifications: listenerClient },
  });
  await service.bootstrap();
  server = await serveOnLoopback(
    createSyncHandler({
      service,
      authenticate: testAuthenticate,
      basePath: BASE,
      maxBodyBytes: MAX_BODY_BYTES,
      logger: handlerLog,
    }),
  );

  await initializeScope(service, alice);
  await push(service, alice, 1, [userRow(randomUUID(), "Ada")]);

  const tables = await db.pool.query<{ name: string }>(
    `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables
      WHERE table_schema IN ('business', 'sync') AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  fingerprintSql = tables.rows
    .map(({ name }) => {
      const row = `(to_jsonb(t) - ${IGNORED_COLUMNS[name] ?? "'{}'::text[]"})::text`;
      return `SELECT '${name}' AS name, count(*) || ':' || coalesce(md5(string_agg(${row}, '|' ORDER BY ${row})), '') AS digest FROM ${name} t`;
    })
    .join(" UNION ALL ");
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await listenerClient?.close();
  await db?.drop();
});

/** Reopens Alice's live push and snapshot sessions when they are gone. */
async function ensureLive(): Promise<void> {
  const push = await db.pool.query("SELECT 1 FROM sync.push_sessions WHERE push_id::text = $1", [live.push]);
  if (push.rowCount === 0) live.push = await openPushSession();
  const snapshot = await db.pool.query("SELECT 1 FROM sync.snapshot_sessions WHERE snapshot_id::text = $1", [
    live.snapshot,
  ]);
  if (snapshot.rowCount === 0) {
    // Random creates may have used up Alice's open-session allowance; a dead id is still a fine input.
    live.snapshot = await service.createSnapshotSession(alice, {}).then(
      (session) => session.snapshot_id,
      () => live.snapshot,
    );
  }
}

/** Alice's session for her next source bundle, opened unless one is open already. */
async function openPushSession(): Promise<string> {
  const next = await db.pool.query<{ next: string }>(
    `SELECT coalesce(max(b.source_bundle_id), 0) + 1 AS next
       FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk)
      WHERE u.user_id = $1 AND b.source_id = $2`,
    [ALICE, ALICE_SOURCE],
  );
  const sourceBundleId = Number(next.rows[0]!.next);
  const open = await db.pool.query<{ push_id: string }>(
    `SELECT s.push_id::text FROM sync.push_sessions s JOIN sync.user_state u USING (user_pk)
      WHERE u.user_id = $1 AND s.source_id = $2 AND s.source_bundle_id = $3`,
    [ALICE, ALICE_SOURCE, sourceBundleId],
  );
  if (open.rows[0] !== undefined) return open.rows[0].push_id;
  const created = await service.createPushSession(alice, {
    source_bundle_id: sourceBundleId,
    planned_row_count: 2,
    canonical_request_hash: "0".repeat(64),
  });
  if (created.status !== "staging") throw new Error(`expected a staging push session, got ${created.status}`);
  return created.push_id;
}

/**
 * Columns left out of the fingerprint. A chunk request from the session's owner marks the session
 * used before the chunk is read (getSnapshotChunk → touchSnapshotSession), so the idle-session
 * eviction keeps it, even when the read is then refused (after_row_ordinal past the end, max_bytes
 * below the next row): liveness bookkeeping, not data a refused request may not change.
 */
const IGNORED_COLUMNS: Readonly<Record<string, string>> = {
  "sync.snapshot_sessions": "'last_used_at'",
};

async function fingerprint(): Promise<Record<string, string>> {
  const { rows } = await db.pool.query<{ name: string; digest: string }>(fingerprintSql);
  return Object.fromEntries(rows.map((row) => [row.name, row.digest]));
}

/** Phrases only PostgreSQL's or node-postgres's own error text contains (none of our messages do). */
const POSTGRES_TEXT =
  /violates|invalid input syntax|duplicate key value|syntax error at or near|SQLSTATE|stack depth limit|out of range for type|value too long for type|invalid byte sequence|null value in column|current transaction is aborted|relation "|Connection terminated|ECONNREFUSED/i;

/** A header value fetch can send (RFC 9110 field-vchar, space, tab), obs-text bytes included. */
const headerText = fc.string({
  unit: fc
    .oneof(fc.constant(0x09), fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
    .map((code) => String.fromCharCode(code)),
  maxLength: 24,
});

const authorization = fc.oneof(
  { weight: 12, arbitrary: fc.constant(`Bearer user:${ALICE}`) },
  { weight: 2, arbitrary: fc.constantFrom("Bearer user:bob", "Bearer user:carol") },
  { weight: 1, arbitrary: headerText.map((user) => `Bearer user:${user}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(undefined, "", "Basic YWxpY2U6eA==", "Bearer", "bearer user:alice"),
  },
);

const sourceHeader = fc.oneof(
  { weight: 12, arbitrary: fc.constant(ALICE_SOURCE) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(undefined, "", " ", "a b", "\u00ff", "x".repeat(600), "other-device"),
  },
  { weight: 1, arbitrary: headerText },
);

/** A path segment: a live id, another valid-looking one, or something hostile, raw or encoded. */
function segment(name: string): fc.Arbitrary<string> {
  const marker = MARKERS[name];
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(marker === undefined ? "1" : `@${marker}@`) },
    { weight: 2, arbitrary: canonicalUuid },
    { weight: 1, arbitrary: canonicalUuid.map((id) => id.toUpperCase()) },
    { weight: 1, arbitrary: safeInt(0).map(String) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "0",
        "-1",
        "01",
        "9007199254740993",
        "1;DROP",
        "%",
        "%ZZ",
        "%00",
        "%FF",
        "..",
        "%2F",
        "a%20b",
      ),
    },
    { weight: 2, arbitrary: trickyString(12).map((text) => encodeURIComponent(text.toWellFormed())) },
  );
}

/** A query string: known parameters with near-miss values, unknown ones, raw percent junk. */
const queryString = fc.oneof(
  fc.constant(""),
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            "after_bundle_seq",
            "max_bundles",
            "target_bundle_seq",
            "after_row_ordinal",
            "max_rows",
            "max_bytes",
          ),
          trickyString(6).map((name) => encodeURIComponent(name.toWellFormed())),
        ),
        fc.oneof(
          safeInt(0).map(String),
          edgeNumberToken.map(encodeURIComponent),
          fc.constantFrom("", "%", "%FF", "%ED%A0%80", "%00", "+1", "01", "1.0"),
          trickyString(8).map((value) => encodeURIComponent(value.toWellFormed())),
        ),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([name, value]) => `${name}=${value}`).join("&")}`),
);

/** Push chunk rows that name the business tables, so some reach the codecs and the database. */
const businessRow: fc.Arbitrary<PushRow> = fc
  .record({ id: canonicalUuid, name: trickyString(10), op: fc.constantFrom("INSERT", "UPDATE", "DELETE") })
  .map(({ id, name, op }) => ({ ...userRow(id, name, { op: op as PushRow["op"] }) }));

/** A valid-shaped body for each route that takes one. */
const VALID_BODIES: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  "POST /sync/connect": connectRequest,
  "POST /sync/push-sessions": fc.oneof(
    pushCreateRequest,
    fc.record({
      source_bundle_id: fc.constantFrom(1, 2, 3),
      planned_row_count: safeInt(1),
      canonical_request_hash: sha256Hex,
    }),
  ),
  "POST /sync/push-sessions/:push_id/chunks": fc.oneof(
    pushChunkRequest,
    fc.record({
      start_row_ordinal: fc.constantFrom(0, 1, 2),
      rows: fc.array(businessRow, { minLength: 1, maxLength: 2 }),
    }),
  ),
  "POST /sync/snapshot-sessions": snapshotCreateRequest,
};

const methods = fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS");

/** One request to one of the sync routes, or next to them. */
const request = fc.constantFrom(...SYNC_ROUTES, undefined).chain((route) => {
  const pattern = route?.path ?? "/sync/nope";
  const parts = pattern
    .split("/")
    .map((part) => (part.startsWith(":") ? segment(part.slice(1)) : fc.constant(part)));
  const key = `${route?.method} ${pattern}`;
  const valid = VALID_BODIES[key] ?? fc.constant({});
  return fc.record({
    key: fc.constant(key),
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constant(route?.method ?? "GET") },
      { weight: 1, arbitrary: methods },
    ),
    path: fc.tuple(...parts).map((segments) => segments.join("/")),
    query: queryString,
    body: fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 6, arbitrary: hostileBody(valid) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: MAX_BODY_BYTES - 16, max: MAX_BODY_BYTES + 64 })
          .map((n) => "x".repeat(n)),
      },
    ),
    authorization,
    source: sourceHeader,
    contentType: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(undefined, "application/json") },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "text/plain",
          "application/x-www-form-urlencoded",
          "",
          "application/json; charset=latin1",
        ),
      },
    ),
    contentEncoding: fc.oneof(
      { weight: 12, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom("identity", "gzip", "br", "x-unknown", "IDENTITY") },
    ),
  });
});

interface Reply {
  readonly status: number;
  readonly contentType: string | null;
  readonly text: string;
}

async function send(req: typeof request extends fc.Arbitrary<infer T> ? T : never): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (req.authorization !== undefined) headers.authorization = req.authorization;
  if (req.source !== undefined) headers["oversync-source-id"] = req.source;
  if (req.contentType !== undefined) headers["content-type"] = req.contentType;
  if (req.contentEncoding !== undefined) headers["content-encoding"] = req.contentEncoding;
  const controller = new AbortController();
  const withBody = req.method !== "GET" && req.method !== "HEAD" && req.body !== undefined;
  const path = req.path.replace("@push@", live.push).replace("@snapshot@", live.snapshot);
  const response = await fetch(`${server.origin}${BASE}${path}${req.query}`, {
    method: req.method,
    headers,
    body: withBody ? req.body : undefined,
    signal: controller.signal,
  });
  const contentType = response.headers.get("content-type");
  if (contentType === "text/event-stream") {
    // An open watch: its headers are the answer; hang up so the subscription ends.
    controller.abort();
    return { status: response.status, contentType, text: "" };
  }
  return { status: response.status, contentType, text: await response.text() };
}

/**
 * Checks an answer: never 5xx nor PostgreSQL's text; a refusal is a catalogued JSON error the
 * clients decode, and leaves every table as `before` was. Returns whether it was a refusal.
 */
async function expectSafeAnswer(
  reply: Reply,
  before: Record<string, string>,
  method: string,
): Promise<boolean> {
  expect(reply.status).toBeLessThan(500);
  expect(reply.text).not.toMatch(POSTGRES_TEXT);
  if (reply.status < 400) return false;
  const after = await fingerprint();
  // The names of the tables a refused request changed: none.
  expect(Object.keys(after).filter((name) => after[name] !== before[name])).toStrictEqual([]);
  // A HEAD answer carries no body; its status is all there is to check.
  if (method === "HEAD") return true;
  expect(reply.contentType).toBe("application/json");
  const body = JSON.parse(reply.text) as { error: unknown; message: unknown };
  expect(typeof body.error).toBe("string");
  expect(typeof body.message).toBe("string");
  expect(isErrorCode(body.error as string)).toBe(true);
  expect(ERROR_STATUS[body.error as keyof typeof ERROR_STATUS]).toBe(reply.status);
  // The clients' own decoder takes it as that code, extras included.
  expect(decodeErrorBody(reply.status, body)).toBeInstanceOf(OversyncError);
  return true;
}

/** A typed_rows value: mostly canonical for the column, sometimes a hostile near-miss. */
function typedValue(valid: fc.Arbitrary<string | null>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: hostileUpload });
}

/** Rows for every column family of business.typed_rows, and text-keyed docs rows. */
const typedRows: fc.Arbitrary<unknown[]> = fc.uniqueArray(
  fc.oneof(
    fc
      .record({
        id: canonicalUuid,
        name: typedValue(trickyString(12)),
        note: typedValue(fc.option(trickyString(40), { nil: null })),
        count_value: typedValue(int64.map(String)),
        small_count: typedValue(fc.integer({ min: -32768, max: 32767 }).map(String)),
        medium_count: typedValue(fc.integer().map(String)),
        exact_amount: typedValue(plainDecimal(21, 12)),
        enabled_flag: typedValue(fc.constantFrom("0", "1")),
        rating: typedValue(finiteDouble.map(renderFloat64)),
        float4_value: typedValue(finiteFloat.map(renderFloat4)),
        data: typedValue(fc.uint8Array({ maxLength: 64 }).map(encodeBase64)),
        created_at: typedValue(fc.constantFrom("2026-03-24T18:42:11.123456Z", "1970-01-01", null)),
      })
      .map((payload) => ({
        schema: "business",
        table: "typed_rows",
        key: { id: payload.id },
        op: "INSERT",
        base_row_version: 0,
        payload,
      })),
    fc
      .record({ doc_id: trickyString(12), body: fc.option(trickyString(40), { nil: null }) })
      .map((payload) => ({
        schema: "business",
        table: "docs",
        key: { doc_id: payload.doc_id },
        op: "INSERT",
        base_row_version: 0,
        payload,
      })),
  ),
  { minLength: 1, maxLength: 3, selector: (row) => JSON.stringify((row as { key: unknown }).key) },
);

const PUSHER = "pusher";
const PUSHER_SOURCE = "pusher-device";
/** The pusher's next source bundle id; it advances with every bundle committed. */
let pusherNext = 1;

/** A JSON request as the pusher. */
function asPusher(method: "POST" | "DELETE", path: string, body?: unknown): Promise<Reply> {
  return send({
    key: "",
    method,
    path,
    query: "",
    body: body === undefined ? undefined : JSON.stringify(body),
    authorization: `Bearer user:${PUSHER}`,
    source: PUSHER_SOURCE,
    contentType: "application/json",
    contentEncoding: undefined,
  });
}

describe("sync endpoints over HTTP and PostgreSQL", () => {
  it(
    "never answer 5xx, refuse only with catalogued JSON errors, and leave the database unchanged when refusing",
    async () => {
      await fc.assert(
        fc.asyncProperty(request, async (req) => {
          await ensureLive();
          const before = await fingerprint();
          await expectSafeAnswer(await send(req), before, req.method);
        }),
        {
          ...runs(200),
          // Found by this property: a cursor beyond 2^31−1 failed the SQL statement (500).
          examples: [
            [
              {
                key: "GET /sync/committed-bundles/:bundle_seq/rows",
                method: "GET",
                path: "/sync/committed-bundles/1/rows",
                query: "?after_row_ordinal=2147483648",
                body: undefined,
                authorization: `Bearer user:${ALICE}`,
                source: ALICE_SOURCE,
                contentType: undefined,
                contentEncoding: undefined,
              },
            ],
          ],
        },
      );
      // Every fault the handler or service hid behind a generic answer was logged here; none may occur.
      expect(handlerLog.entries).toStrictEqual([]);
      expect(serviceLog.entries).toStrictEqual([]);
    },
    timeoutFor(200, 100),
  );

  // A value the codec accepts at upload must never fail the commit: the commit is the one step a
  // client cannot fix by resending, so a late failure there would wedge its outbox.
  it(
    "commit every bundle whose chunk was accepted, whatever its values, or refuse a step with 4xx and no change",
    async () => {
      expect((await asPusher("POST", "/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
      await fc.assert(
        fc.asyncProperty(typedRows, async (rows) => {
          let hash: string;
          try {
            hash = canonicalRequestHash(rows as PushRow[]);
          } catch {
            // A lone surrogate has no hash; the server must still refuse the rows themselves.
            hash = "0".repeat(64);
          }
          const create = {
            source_bundle_id: pusherNext,
            planned_row_count: rows.length,
            canonical_request_hash: hash,
          };
          let before = await fingerprint();
          const created = await asPusher("POST", "/sync/push-sessions", create);
          if (await expectSafeAnswer(created, before, "POST")) return;
          const pushId = (JSON.parse(created.text) as { push_id: string }).push_id;
          try {
            before = await fingerprint();
            const chunk = await asPusher("POST", `/sync/push-sessions/${pushId}/chunks`, {
              start_row_ordinal: 0,
              rows,
            });
            if (await expectSafeAnswer(chunk, before, "POST")) return;
            before = await fingerprint();
            const commit = await asPusher("POST", `/sync/push-sessions/${pushId}/commit`);
            if (await expectSafeAnswer(commit, before, "POST")) return;
            pusherNext++;
          } finally {
            // A session left open would hold the pusher's next tuple; a committed one is gone already.
            await asPusher("DELETE", `/sync/push-sessions/${pushId}`);
          }
        }),
        runs(60),
      );
      expect(pusherNext).toBeGreaterThan(1);
      expect(handlerLog.entries).toStrictEqual([]);
      expect(serviceLog.entries).toStrictEqual([]);
    },
    timeoutFor(60, 300),
  );
});
