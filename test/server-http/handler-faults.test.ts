/**
 * Unexpected faults and streaming. A service that throws a plain Error stands in for faults a real
 * database cannot be made to produce on demand at each endpoint (a driver bug, a lost connection
 * mid-call): the stub below exists only for that, and says so.
 */
import { request as httpRequest } from "node:http";
import { type PublicRoute, type SyncService, createSyncHandler } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type LoopbackServer,
  call,
  recordingLogger,
  serveOnLoopback,
  syncHeaders,
  testAuthenticate,
} from "./http-support.js";

const SECRET = "password=hunter2 at 10.0.0.5";
const PUSH_ID = "0190f1a2-7b3c-7d4e-8f50-123456789abc";

/** STUB (fault injection only): every method fails with an internal error carrying secrets. */
function faultyService(): SyncService {
  const fail = async () => {
    throw new Error(`connection lost: ${SECRET}`);
  };
  return {
    capabilities: fail,
    connect: fail,
    createPushSession: fail,
    uploadPushChunk: fail,
    commitPushSession: fail,
    deletePushSession: fail,
    getCommittedBundleRows: fail,
    pull: fail,
    createSnapshotSession: fail,
    getSnapshotChunk: fail,
    deleteSnapshotSession: fail,
    openBundleWatch: fail,
    watchSubscriberCount: () => {
      throw new Error(`connection lost: ${SECRET}`);
    },
    health: fail,
    status: fail,
    close: fail,
  };
}

const logger = recordingLogger();
let server: LoopbackServer;

/** Records what a streaming route saw, for the disconnect test. */
const stream = { aborted: false, cancelled: false, opened: 0 };

const streamingRoute: PublicRoute = {
  method: "GET",
  path: "/test/stream",
  auth: "none",
  failureCode: "internal_error",
  handle: async ({ request }) => {
    stream.opened++;
    request.signal.addEventListener("abort", () => {
      stream.aborted = true;
    });
    const encoder = new TextEncoder();
    let timer: NodeJS.Timeout | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(": open\n\n"));
        let n = 0;
        timer = setInterval(() => controller.enqueue(encoder.encode(`data: ${++n}\n\n`)), 20);
      },
      cancel() {
        stream.cancelled = true;
        clearInterval(timer);
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  },
};

beforeAll(async () => {
  server = await serveOnLoopback(
    createSyncHandler({
      service: faultyService(),
      authenticate: async (request) => {
        if (request.headers.get("authorization") === "Bearer explode")
          throw new Error(`auth backend: ${SECRET}`);
        return testAuthenticate(request);
      },
      logger,
      routes: [streamingRoute],
    }),
  );
});

afterAll(async () => {
  await server?.close();
});

describe("unexpected faults", () => {
  it.each([
    ["GET", "/sync/capabilities", undefined, "internal_error"],
    ["POST", "/sync/connect", '{"has_local_pending_rows":true}', "connect_failed"],
    [
      "POST",
      "/sync/push-sessions",
      JSON.stringify({ source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: "0".repeat(64) }),
      "push_session_create_failed",
    ],
    [
      "POST",
      `/sync/push-sessions/${PUSH_ID}/chunks`,
      JSON.stringify({
        start_row_ordinal: 0,
        rows: [{ schema: "s", table: "t", key: { id: "1" }, op: "DELETE", base_row_version: 1 }],
      }),
      "push_chunk_failed",
    ],
    ["POST", `/sync/push-sessions/${PUSH_ID}/commit`, undefined, "push_session_commit_failed"],
    ["DELETE", `/sync/push-sessions/${PUSH_ID}`, undefined, "push_session_delete_failed"],
    ["GET", "/sync/committed-bundles/3/rows", undefined, "committed_bundle_rows_failed"],
    ["GET", "/sync/pull?after_bundle_seq=0", undefined, "pull_failed"],
    ["POST", "/sync/snapshot-sessions", undefined, "snapshot_session_create_failed"],
    [
      "GET",
      `/sync/snapshot-sessions/${PUSH_ID}?after_row_ordinal=0&max_rows=1&max_bytes=100`,
      undefined,
      "snapshot_chunk_failed",
    ],
    ["DELETE", `/sync/snapshot-sessions/${PUSH_ID}`, undefined, "snapshot_session_delete_failed"],
    ["GET", "/syncx/health", undefined, "health_failed"],
    ["GET", "/syncx/status", undefined, "status_failed"],
  ])(
    "%s %s: 500 %s with a generic message; the details go to the log only",
    async (method, path, body, code) => {
      const logged = logger.entries.length;
      const reply = await call(server.origin, path, {
        method,
        headers: syncHeaders("alice", "source-a"),
        body,
      });
      expect(reply.status).toBe(500);
      expect(reply.contentType).toBe("application/json");
      expect(reply.body).toStrictEqual({
        error: code,
        message: "the server failed to handle this request; retry later",
      });
      expect(reply.text).not.toContain("hunter2");
      expect(reply.text).not.toMatch(/\bat .*\.ts:\d+/);
      expect(logger.entries.length).toBe(logged + 1);
      const entry = logger.entries.at(-1)!;
      expect(entry.details).toMatchObject({ method, code });
      // An authenticated route's fault names whose request it was: the user and the scope.
      if (path.startsWith("/sync/"))
        expect(entry.details).toMatchObject({ scopeId: "alice", userId: "alice" });
      else expect(entry.details).not.toHaveProperty("userId");
      expect(String((entry.details as { error: Error }).error.message)).toContain("hunter2");
    },
  );

  it("a failing authentication hook is the route's 500, never a leak", async () => {
    const reply = await call(server.origin, "/sync/pull?after_bundle_seq=0", {
      headers: { authorization: "Bearer explode", "oversync-source-id": "s" },
    });
    expect(reply.status).toBe(500);
    expect(reply.body).toMatchObject({ error: "pull_failed" });
    expect(reply.text).not.toContain("hunter2");
  });
});

describe("node:http adapter streaming", () => {
  it("flushes headers at once, streams chunks as produced, and aborts the request when the client leaves", async () => {
    const received = await new Promise<{ status: number; contentType: string | undefined; first: string }>(
      (resolve, reject) => {
        const outgoing = httpRequest(`${server.origin}/test/stream`, (response) => {
          response.setEncoding("utf8");
          response.once("data", (chunk: string) => {
            resolve({
              status: response.statusCode!,
              contentType: response.headers["content-type"],
              first: chunk,
            });
            response.destroy();
          });
        });
        outgoing.on("error", reject);
        outgoing.end();
      },
    );
    expect(received).toMatchObject({ status: 200, contentType: "text/event-stream" });
    expect(received.first.startsWith(": open\n\n")).toBe(true);
    for (let i = 0; i < 100 && !(stream.aborted && stream.cancelled); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(stream).toMatchObject({ opened: 1, aborted: true, cancelled: true });
  });

  it("delivers events incrementally", async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.origin}/test/stream`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("data: 2\n\n")) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value);
    }
    controller.abort();
    expect(text).toMatch(/^: open\n\ndata: 1\n\ndata: 2\n\n/);
  });
});
