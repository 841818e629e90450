/**
 * What the HTTP layer decides by itself, before any service call: routing, 405, authentication,
 * the source header, body limits, JSON parsing, request validation and path parameters. The
 * service here records calls and fails if reached, so every test also proves the request never got
 * past the HTTP layer.
 */
import { type IncomingMessage, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import type { SyncService } from "@oversync/server";
import { createSyncHandler, toNodeListener } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type LoopbackServer,
  call,
  recordingLogger,
  serveOnLoopback,
  syncHeaders,
  testAuthenticate,
} from "./http-support.js";

const PUSH_ID = "0190f1a2-7b3c-7d4e-8f50-123456789abc";
const HASH = "a".repeat(64);

/** Every SyncService method, recording that it was reached. */
function unreachableService(calls: string[]): SyncService {
  const reached = (name: string) => async () => {
    calls.push(name);
    throw new Error(`service.${name} must not be reached by a rejected request`);
  };
  return {
    capabilities: reached("capabilities"),
    connect: reached("connect"),
    createPushSession: reached("createPushSession"),
    uploadPushChunk: reached("uploadPushChunk"),
    commitPushSession: reached("commitPushSession"),
    deletePushSession: reached("deletePushSession"),
    getCommittedBundleRows: reached("getCommittedBundleRows"),
    pull: reached("pull"),
    createSnapshotSession: reached("createSnapshotSession"),
    getSnapshotChunk: reached("getSnapshotChunk"),
    deleteSnapshotSession: reached("deleteSnapshotSession"),
    openBundleWatch: reached("openBundleWatch"),
    watchSubscriberCount: () => {
      calls.push("watchSubscriberCount");
      throw new Error("service.watchSubscriberCount must not be reached by a rejected request");
    },
    health: reached("health"),
    status: reached("status"),
    close: reached("close"),
  };
}

/** One request per authenticated route, each otherwise well formed. */
const SYNC_CALLS: { name: string; method: string; path: string; body?: string }[] = [
  { name: "capabilities", method: "GET", path: "/sync/capabilities" },
  { name: "connect", method: "POST", path: "/sync/connect", body: '{"has_local_pending_rows":false}' },
  {
    name: "push create",
    method: "POST",
    path: "/sync/push-sessions",
    body: JSON.stringify({ source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: HASH }),
  },
  {
    name: "push chunk",
    method: "POST",
    path: `/sync/push-sessions/${PUSH_ID}/chunks`,
    body: JSON.stringify({
      start_row_ordinal: 0,
      rows: [{ schema: "business", table: "users", key: { id: "u1" }, op: "DELETE", base_row_version: 1 }],
    }),
  },
  { name: "push commit", method: "POST", path: `/sync/push-sessions/${PUSH_ID}/commit` },
  { name: "push delete", method: "DELETE", path: `/sync/push-sessions/${PUSH_ID}` },
  { name: "committed rows", method: "GET", path: "/sync/committed-bundles/1/rows?max_rows=10" },
  { name: "pull", method: "GET", path: "/sync/pull?after_bundle_seq=0&max_bundles=10" },
  { name: "snapshot create", method: "POST", path: "/sync/snapshot-sessions" },
  {
    name: "snapshot chunk",
    method: "GET",
    path: `/sync/snapshot-sessions/${PUSH_ID}?after_row_ordinal=0&max_rows=10&max_bytes=1000`,
  },
  { name: "snapshot delete", method: "DELETE", path: `/sync/snapshot-sessions/${PUSH_ID}` },
];

const calls: string[] = [];
let server: LoopbackServer;

beforeAll(async () => {
  server = await serveOnLoopback(
    createSyncHandler({
      service: unreachableService(calls),
      authenticate: testAuthenticate,
      basePath: "/api/v1",
      maxBodyBytes: 4096,
    }),
  );
});

afterAll(async () => {
  await server?.close();
  expect(calls).toStrictEqual([]);
});

/** Asserts the reply is exactly `{error, message}` as JSON, with this status and code. */
function expectError(reply: Awaited<ReturnType<typeof call>>, status: number, code: string): string {
  expect(reply.status).toBe(status);
  expect(reply.contentType).toBe("application/json");
  expect(Object.keys(reply.body as object).sort()).toStrictEqual(["error", "message"]);
  const body = reply.body as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  expect(body.message).not.toMatch(/\n\s+at /);
  return body.message;
}

describe("routing", () => {
  it("answers 404 not_found outside the base path and for unknown routes", async () => {
    for (const path of ["/sync/capabilities", "/api/v1/sync/nothing", "/api/v1/", "/api/v1sync/pull", "/"]) {
      expectError(await call(server.origin, path, { headers: syncHeaders("u", "s") }), 404, "not_found");
    }
  });

  it("a 404 names the base path fix when the path fits a route with another prefix", async () => {
    // Under basePath "/api/v1", a path without the prefix (a framework stripped its mount path).
    const stripped = expectError(
      await call(server.origin, "/sync/capabilities", { headers: syncHeaders("u", "s") }),
      404,
      "not_found",
    );
    expect(stripped).toContain('this handler serves routes under basePath "/api/v1"');
    expect(stripped).toContain("leave basePath unset");
    // A prefix the handler was not told about.
    const prefixed = expectError(
      await call(server.origin, "/api/v2/sync/pull?after_bundle_seq=0", { headers: syncHeaders("u", "s") }),
      404,
      "not_found",
    );
    expect(prefixed).toContain('a sync route lives under "/api/v2", but this handler has basePath "/api/v1"');
    expect(prefixed).toContain('set basePath: "/api/v2"');
    // Nothing to suggest for a path no route fits.
    expect(
      expectError(
        await call(server.origin, "/api/v1/sync/nothing", { headers: syncHeaders("u", "s") }),
        404,
        "not_found",
      ),
    ).toBe("no sync route at /api/v1/sync/nothing");
  });

  it("a body read by a body parser before the listener is refused with a message naming the fix", async () => {
    const logger = recordingLogger();
    const listener = toNodeListener(
      createSyncHandler({ service: unreachableService(calls), authenticate: testAuthenticate }),
      { logger },
    );
    // What express.json() does before the next handler: read the stream to its end, set req.body.
    const parsed = createServer((incoming: IncomingMessage & { body?: unknown }, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => {
        incoming.body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        listener(incoming, outgoing);
      });
    });
    await new Promise<void>((resolve) => parsed.listen(0, "127.0.0.1", resolve));
    try {
      const origin = `http://127.0.0.1:${(parsed.address() as AddressInfo).port}`;
      const reply = await call(origin, "/sync/connect", {
        method: "POST",
        headers: syncHeaders("u", "s"),
        body: '{"has_local_pending_rows":false}',
      });
      const message = expectError(reply, 500, "internal_error");
      expect(message).toContain("express.json()");
      expect(message).toContain("mount the sync handler before body parsers");
      expect(logger.entries.map((entry) => entry.message)).toContain(
        "the request body was read before the sync handler",
      );
    } finally {
      parsed.closeAllConnections();
      await new Promise<void>((resolve) => parsed.close(() => resolve()));
    }
  });

  it.each([
    ["PUT", "/sync/connect", "POST"],
    ["GET", "/sync/connect", "POST"],
    ["POST", "/sync/pull", "GET"],
    ["DELETE", "/sync/capabilities", "GET"],
    ["GET", `/sync/push-sessions/${PUSH_ID}/chunks`, "POST"],
    ["POST", `/sync/push-sessions/${PUSH_ID}`, "DELETE"],
    ["PATCH", "/syncx/health", "GET"],
    ["GET", "/sync/snapshot-sessions", "POST"],
    ["POST", `/sync/snapshot-sessions/${PUSH_ID}`, "GET, DELETE"],
  ])("%s %s is 405 method_not_allowed with Allow: %s", async (method, path, allow) => {
    const reply = await call(server.origin, `/api/v1${path}`, { method, headers: syncHeaders("u", "s") });
    expectError(reply, 405, "method_not_allowed");
    expect(reply.headers.get("allow")).toBe(allow);
  });
});

describe("authentication and source identity on every /sync route", () => {
  it.each(SYNC_CALLS.map((c) => [c.name, c] as const))("%s: 401 without valid credentials", async (_n, c) => {
    for (const authorization of [undefined, "Bearer nobody", "Basic dTpw"]) {
      const headers: Record<string, string> = { "oversync-source-id": "source-a" };
      if (authorization) headers.authorization = authorization;
      const reply = await call(server.origin, `/api/v1${c.path}`, {
        method: c.method,
        headers,
        body: c.body,
      });
      expectError(reply, 401, "authentication_failed");
    }
  });

  it.each(SYNC_CALLS.map((c) => [c.name, c] as const))(
    "%s: 400 without a valid source header",
    async (_n, c) => {
      for (const source of [undefined, "has space", "tab\there", "ünïcode", ""]) {
        const headers: Record<string, string> = { authorization: "Bearer user:alice" };
        if (source !== undefined) headers["oversync-source-id"] = source;
        const reply = await call(server.origin, `/api/v1${c.path}`, {
          method: c.method,
          headers,
          body: c.body,
        });
        expect(expectError(reply, 400, "invalid_request")).toMatch(/Oversync-Source-ID header/);
      }
    },
  );
});

describe("request bodies", () => {
  const chunkPath = `/api/v1/sync/push-sessions/${PUSH_ID}/chunks`;

  it("413 request_too_large for a declared length over the limit", async () => {
    const body = JSON.stringify({ start_row_ordinal: 0, rows: [], padding: "x".repeat(5000) });
    const reply = await call(server.origin, chunkPath, {
      method: "POST",
      headers: syncHeaders("u", "s"),
      body,
    });
    expect(expectError(reply, 413, "request_too_large")).toMatch(/exceeds 4096 bytes/);
  });

  it("413 request_too_large for a chunked body that grows past the limit", async () => {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${server.origin}${chunkPath}`);
      const outgoing = httpRequest(url, { method: "POST", headers: syncHeaders("u", "s") }, (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode!, body: text }));
      });
      outgoing.on("error", reject);
      // No Content-Length: node sends Transfer-Encoding: chunked, so only counting reveals the size.
      for (let i = 0; i < 10; i++) outgoing.write("x".repeat(1000));
      outgoing.end();
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: "request_too_large" });
  });

  it("a 413 on a large declared body does not stall the kept-alive connection", async () => {
    const body = "x".repeat(2 * 1024 * 1024);
    const tooLarge = await call(server.origin, chunkPath, {
      method: "POST",
      headers: syncHeaders("u", "s"),
      body,
    });
    expect(tooLarge.headers.get("connection")).toBe("close");
    expectError(tooLarge, 413, "request_too_large");
    const next = await call(server.origin, "/api/v1/sync/pull?after_bundle_seq=0");
    expectError(next, 401, "authentication_failed");
  });

  it("a 413 reaches a client still streaming a large chunked body", async () => {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const outgoing = httpRequest(
        new URL(`${server.origin}${chunkPath}`),
        { method: "POST", headers: syncHeaders("u", "s") },
        (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            text += chunk;
          });
          response.on("end", () => resolve({ status: response.statusCode!, body: text }));
        },
      );
      // Once the server has answered and closed, further writes fail; only the reply matters.
      outgoing.on("error", (error) => (outgoing.writableEnded ? undefined : reject(error)));
      const piece = "x".repeat(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 64 && !outgoing.destroyed) {
          sent++;
          if (!outgoing.write(piece)) return void outgoing.once("drain", pump);
        }
        outgoing.end();
      };
      pump();
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: "request_too_large" });
  });

  it.each([
    ["connect", "/sync/connect"],
    ["push create", "/sync/push-sessions"],
    ["push chunk", `/sync/push-sessions/${PUSH_ID}/chunks`],
  ])("%s: malformed or missing JSON is 400 invalid_request", async (_name, path) => {
    for (const body of ["", "{", "not json", '{"a":1}}', "\u0000"]) {
      const reply = await call(server.origin, `/api/v1${path}`, {
        method: "POST",
        headers: syncHeaders("u", "s"),
        body,
      });
      expectError(reply, 400, "invalid_request");
    }
  });

  it("invalid UTF-8 and compressed bodies are 400 invalid_request", async () => {
    const badUtf8 = await call(server.origin, "/api/v1/sync/connect", {
      method: "POST",
      headers: syncHeaders("u", "s"),
      body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    });
    expect(expectError(badUtf8, 400, "invalid_request")).toMatch(/UTF-8/);
    const gzip = await call(server.origin, "/api/v1/sync/connect", {
      method: "POST",
      headers: syncHeaders("u", "s", { "content-encoding": "gzip" }),
      body: "{}",
    });
    expect(expectError(gzip, 400, "invalid_request")).toMatch(/Content-Encoding gzip/);
  });

  it.each([
    ["connect", "/sync/connect", "{}", "connect_invalid", /has_local_pending_rows/],
    [
      "connect",
      "/sync/connect",
      '{"has_local_pending_rows":"yes"}',
      "connect_invalid",
      /has_local_pending_rows/,
    ],
    ["connect", "/sync/connect", "[]", "connect_invalid", /body/],
    [
      "push create",
      "/sync/push-sessions",
      JSON.stringify({ source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: "ABC" }),
      "push_session_invalid",
      /canonical_request_hash/,
    ],
    [
      "push create",
      "/sync/push-sessions",
      JSON.stringify({ source_bundle_id: 0, planned_row_count: 1, canonical_request_hash: HASH }),
      "push_session_invalid",
      /source_bundle_id/,
    ],
    [
      "push create",
      "/sync/push-sessions",
      JSON.stringify({ source_bundle_id: "1", planned_row_count: 1, canonical_request_hash: HASH }),
      "push_session_invalid",
      /source_bundle_id/,
    ],
    [
      "push create",
      "/sync/push-sessions",
      JSON.stringify({
        source_bundle_id: 1,
        planned_row_count: 1,
        canonical_request_hash: HASH,
        initialization_id: "NOT-A-UUID",
      }),
      "push_session_invalid",
      /initialization_id/,
    ],
    [
      "push chunk",
      `/sync/push-sessions/${PUSH_ID}/chunks`,
      JSON.stringify({ start_row_ordinal: 0, rows: [] }),
      "push_chunk_invalid",
      /rows/,
    ],
    [
      "push chunk",
      `/sync/push-sessions/${PUSH_ID}/chunks`,
      JSON.stringify({ start_row_ordinal: -1, rows: [] }),
      "push_chunk_invalid",
      /start_row_ordinal/,
    ],
    [
      "push chunk",
      `/sync/push-sessions/${PUSH_ID}/chunks`,
      JSON.stringify({
        start_row_ordinal: 0,
        rows: [
          {
            schema: "business",
            table: "users",
            key: { id: "u1" },
            op: "INSERT",
            base_row_version: 0,
            payload: { id: "u1", count: 5 },
          },
        ],
      }),
      "push_chunk_invalid",
      /rows\[0\]\.payload\.count/,
    ],
    [
      "push chunk",
      `/sync/push-sessions/${PUSH_ID}/chunks`,
      JSON.stringify({
        start_row_ordinal: 0,
        rows: [{ schema: "business", table: "users", key: { id: 1 }, op: "DELETE", base_row_version: 0 }],
      }),
      "push_chunk_invalid",
      /rows\[0\]\.key/,
    ],
    [
      "push chunk",
      `/sync/push-sessions/${PUSH_ID}/chunks`,
      JSON.stringify({
        start_row_ordinal: 0,
        rows: [{ schema: "business", table: "users", key: { id: "u" }, op: "MERGE", base_row_version: 0 }],
      }),
      "push_chunk_invalid",
      /rows\[0\]\.op/,
    ],
  ])("%s: invalid body is 400 %s naming the field", async (_name, path, body, code, field) => {
    const reply = await call(server.origin, `/api/v1${path}`, {
      method: "POST",
      headers: syncHeaders("u", "s"),
      body: body as string,
    });
    expect(expectError(reply, 400, code as string)).toMatch(field as RegExp);
  });

  it.each([
    [
      "/sync/committed-bundles/1/rows?after_row_ordinal=-1",
      "committed_bundle_chunk_invalid",
      /after_row_ordinal/,
    ],
    ["/sync/committed-bundles/1/rows?max_rows=0", "committed_bundle_chunk_invalid", /max_rows/],
    ["/sync/committed-bundles/1/rows?max_rows=1&max_rows=2", "committed_bundle_chunk_invalid", /max_rows/],
    ["/sync/pull?after_bundle_seq=x", "invalid_request", /after_bundle_seq/],
    ["/sync/pull?after_bundle_seq=0&max_bundles=0", "invalid_request", /max_bundles/],
    ["/sync/pull?after_bundle_seq=%207", "invalid_request", /after_bundle_seq/],
  ])("GET %s is 400 %s naming the parameter", async (path, code, field) => {
    const reply = await call(server.origin, `/api/v1${path}`, { headers: syncHeaders("u", "s") });
    expect(expectError(reply, 400, code)).toMatch(field);
  });
});

describe("snapshot requests", () => {
  const replacement = (fields: Record<string, unknown>) =>
    JSON.stringify({
      source_replacement: {
        previous_source_id: "s",
        new_source_id: "s-next",
        reason: "history_pruned",
        ...fields,
      },
    });

  it.each([
    ["{", /JSON/],
    ["[]", /body/],
    ['{"source_id":"s"}', /source_id/],
    [replacement({ reason: "bored" }), /reason/],
    [replacement({ new_source_id: "s" }), /new_source_id/],
    [replacement({ new_source_id: "has space" }), /new_source_id/],
    [replacement({ previous_source_id: "" }), /previous_source_id/],
    [replacement({ extra: true }), /extra|source_replacement/],
  ])("create body %s is 400 snapshot_session_invalid", async (body, field) => {
    const reply = await call(server.origin, "/api/v1/sync/snapshot-sessions", {
      method: "POST",
      headers: syncHeaders("u", "s"),
      body,
    });
    expect(expectError(reply, 400, "snapshot_session_invalid")).toMatch(field);
  });

  it.each([
    ["after_row_ordinal=-1&max_rows=10&max_bytes=10", /after_row_ordinal/],
    ["after_row_ordinal=0&max_rows=0&max_bytes=10", /max_rows/],
    ["after_row_ordinal=0&max_rows=10&max_bytes=0", /max_bytes/],
    ["after_row_ordinal=0&max_rows=10&max_bytes=1.5", /max_bytes/],
    ["after_row_ordinal=x&max_rows=10&max_bytes=10", /after_row_ordinal/],
  ])("chunk query %s is 400 snapshot_chunk_invalid", async (query, field) => {
    const reply = await call(server.origin, `/api/v1/sync/snapshot-sessions/${PUSH_ID}?${query}`, {
      headers: syncHeaders("u", "s"),
    });
    expect(expectError(reply, 400, "snapshot_chunk_invalid")).toMatch(field);
  });

  it.each(["not-a-uuid", "0190F1A2-7B3C-7D4E-8F50-123456789ABC", "snap%2F1%20x", "%E0%A4%A", "%00"])(
    "snapshot_id %s is 404 snapshot_session_not_found on read and delete",
    async (snapshotId) => {
      const read = await call(
        server.origin,
        `/api/v1/sync/snapshot-sessions/${snapshotId}?after_row_ordinal=0&max_rows=1&max_bytes=10`,
        { headers: syncHeaders("u", "s") },
      );
      expectError(read, 404, "snapshot_session_not_found");
      const remove = await call(server.origin, `/api/v1/sync/snapshot-sessions/${snapshotId}`, {
        method: "DELETE",
        headers: syncHeaders("u", "s"),
      });
      expectError(remove, 404, "snapshot_session_not_found");
    },
  );
});

describe("path parameters", () => {
  const badPushIds = [
    "0190F1A2-7B3C-7D4E-8F50-123456789ABC",
    "not-a-uuid",
    "0190f1a27b3c7d4e8f50123456789abc",
    "%20190f1a2-7b3c-7d4e-8f50-123456789abc",
    "'%3B%20DROP%20TABLE%20users%3B--",
  ];

  it.each(badPushIds)(
    "push_id %s is 404 push_session_not_found on chunks, commit and delete",
    async (pushId) => {
      const chunk = await call(server.origin, `/api/v1/sync/push-sessions/${pushId}/chunks`, {
        method: "POST",
        headers: syncHeaders("u", "s"),
        body: SYNC_CALLS[3]!.body!,
      });
      expectError(chunk, 404, "push_session_not_found");
      const commit = await call(server.origin, `/api/v1/sync/push-sessions/${pushId}/commit`, {
        method: "POST",
        headers: syncHeaders("u", "s"),
      });
      expectError(commit, 404, "push_session_not_found");
      const remove = await call(server.origin, `/api/v1/sync/push-sessions/${pushId}`, {
        method: "DELETE",
        headers: syncHeaders("u", "s"),
      });
      expectError(remove, 404, "push_session_not_found");
    },
  );

  it.each(["0", "-1", "01", "abc", "1.5", "99999999999999999999", "1%20"])(
    "bundle_seq %s is 400 committed_bundle_chunk_invalid",
    async (seq) => {
      const reply = await call(server.origin, `/api/v1/sync/committed-bundles/${seq}/rows`, {
        headers: syncHeaders("u", "s"),
      });
      expect(expectError(reply, 400, "committed_bundle_chunk_invalid")).toMatch(/bundle_seq/);
    },
  );
});
