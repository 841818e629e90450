/**
 * The reference server under conditions it does not control, over real HTTP on loopback against
 * real PostgreSQL: PostgreSQL ending every session of an `oversync serve` child process while
 * pushes run (the process stays up and serves the next request); a client leaving mid-body (an
 * info line, never an error); request headers or a body that never finish arriving (cut off with
 * 408 by the configured timeouts, while a watch stream open all that time keeps streaming).
 */
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { canonicalRequestHash } from "@oversync/protocol";
import { DEV_JWT_SECRET, type JsonLogger, type RunningServer, startServer } from "@oversync/cli";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LIVENESS_MS, eventually } from "../server/watch-support.js";
import { type TestDatabase, adminUrl, createTestDatabase } from "../support/postgres.js";
import { killServeProcesses, startServe } from "../support/serve-process.js";
import { type Reply, device, openWatch, pushBundle, signIn, userRow } from "./serve-support.js";

let db: TestDatabase;
let admin: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase("oversync_serve_resilience");
  admin = new pg.Pool({ connectionString: adminUrl, max: 1 });
});

afterEach(killServeProcesses);

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

/** Ends every session on the test database, as a PostgreSQL restart would. */
async function terminateBackends(): Promise<void> {
  await admin.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [db.name],
  );
}

describe("oversync serve on PostgreSQL as a child process", () => {
  it("survives the termination of its sessions under 16 pushers and serves the next request", async () => {
    const server = await startServe([], { DATABASE_URL: db.url, JWT_SECRET: "resilience-secret" });
    const outcomes = { ok: 0, unavailable: 0, unexpected: [] as string[] };
    /** Counts one answer; true when it was a 200. A 503 must be service_unavailable. */
    const counted = (reply: Reply): boolean => {
      if (reply.status === 200) outcomes.ok++;
      else if (reply.status === 503 && (reply.body as { error?: unknown }).error === "service_unavailable")
        outcomes.unavailable++;
      else outcomes.unexpected.push(`${reply.status} ${reply.text}`);
      return reply.status === 200;
    };
    /** Connects and pushes one row from a new source, stopping at the first refused step. */
    const attempt = async (token: string, sourceId: string): Promise<void> => {
      const client = device(server.url, token, sourceId);
      const rows = [userRow(randomUUID(), "storm")];
      if (!counted(await client.post("/sync/connect", { has_local_pending_rows: false }))) return;
      const created = await client.post("/sync/push-sessions", {
        source_bundle_id: 1,
        planned_row_count: rows.length,
        canonical_request_hash: canonicalRequestHash(rows),
      });
      if (!counted(created)) return;
      const pushId = (created.body as { push_id: string }).push_id;
      const chunk = await client.post(`/sync/push-sessions/${pushId}/chunks`, { start_row_ordinal: 0, rows });
      if (!counted(chunk)) return;
      counted(await client.post(`/sync/push-sessions/${pushId}/commit`));
    };

    const tokens = await Promise.all(Array.from({ length: 16 }, (_, i) => signIn(server.url, `storm-${i}`)));
    let stopped = false;
    const pushers = tokens.map(async (token, i) => {
      for (let n = 1; !stopped; n++) {
        await attempt(token, `storm-${i}-${n}`).catch((error: Error) => {
          outcomes.unexpected.push(`no answer: ${error.message}`);
        });
      }
    });
    const progress = (target: number) => eventually(() => expect(outcomes.ok).toBeGreaterThanOrEqual(target));
    try {
      await progress(32);
      // Terminate until some request has lost its connection mid-call, at least three times over.
      for (let round = 1; round <= 3 || outcomes.unavailable === 0; round++) {
        if (round > 30) throw new Error("no request lost its connection in 30 rounds of terminations");
        const before = outcomes.ok;
        await terminateBackends();
        // Any further success shows the process came through; how many is up to the machine's load.
        await progress(before + 1);
      }
    } finally {
      stopped = true;
      await Promise.all(pushers);
    }
    expect(outcomes.unexpected).toStrictEqual([]);
    expect(outcomes.unavailable).toBeGreaterThan(0);
    expect(
      server.logs.some((entry) => entry.level === "warn" && String(entry.msg).endsWith(" lost the database")),
    ).toBe(true);

    // Once more with nothing in flight: the idle connections die too, and the next requests are
    // served. A request that takes an idle connection before its goodbye arrives is answered 503,
    // which clients retry.
    await terminateBackends();
    const next = device(server.url, tokens[0]!, "after-the-storm");
    let connected = false;
    for (let attempt = 0; attempt < 5 && !connected; attempt++) {
      const reply = await next.post("/sync/connect", { has_local_pending_rows: false });
      connected = reply.status === 200;
      if (!connected) expect(reply.status).toBe(503);
    }
    expect(connected).toBe(true);
    expect(await pushBundle(next, 1, [userRow(randomUUID(), "after")])).toBeGreaterThan(0);
    expect(server.child.exitCode).toBeNull();
    server.child.kill("SIGTERM");
    expect(await server.exited).toStrictEqual({ code: 0, signal: null });
  });
});

/** A logger that keeps every entry with its level. */
function recordingLogger(): JsonLogger & { readonly entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const entry = (level: string) => (msg: string, details?: Readonly<Record<string, unknown>>) =>
    entries.push({ level, msg, ...details });
  return { entries, info: entry("info"), warn: entry("warn"), error: entry("error") };
}

/** The configured headers and request timeouts of the in-process server below. */
const TIMEOUT_MS = 1000;

describe("the reference server's request boundaries", () => {
  let server: RunningServer;
  let logger: ReturnType<typeof recordingLogger>;
  let port: number;

  beforeAll(async () => {
    logger = recordingLogger();
    server = await startServer({
      port: 0,
      host: "127.0.0.1",
      dataDir: "unused-with-postgres",
      databaseUrl: db.url,
      jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
      tokenTtlSeconds: 600,
      shutdownGraceMs: 1000,
      headersTimeoutMs: TIMEOUT_MS,
      requestTimeoutMs: TIMEOUT_MS,
      logger,
      say: () => undefined,
    });
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server?.close();
  });

  /** The request log lines for `path` so far. */
  const requestLines = (path: string) =>
    logger.entries.filter((entry) => entry.msg === "request" && entry.path === path);

  /**
   * Sends `text` on a raw connection and resolves with everything the server sent once it closes
   * the connection, and how long that took; fails when it stays open for LIVENESS_MS.
   */
  function sendAndAwaitClose(text: string): Promise<{ received: string; elapsedMs: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let received = "";
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`the connection was still open after ${LIVENESS_MS} ms`));
      }, LIVENESS_MS);
      socket.setEncoding("utf8").on("data", (chunk: string) => (received += chunk));
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(timer);
        resolve({ received, elapsedMs: performance.now() - started });
      });
      socket.write(text);
    });
  }

  it("logs a client that leaves mid-body as an aborted request at info level, never as an error", async () => {
    const token = await signIn(server.url, "leaver");
    const before = logger.entries.length;
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    // `Expect: 100-continue` makes the server say when it has taken the request line and headers.
    const continued = new Promise<void>((resolve) =>
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        if (chunk.startsWith("HTTP/1.1 100 Continue")) resolve();
      }),
    );
    socket.write(
      [
        "POST /sync/connect HTTP/1.1",
        "Host: 127.0.0.1",
        `Authorization: Bearer ${token}`,
        "Oversync-Source-ID: leaver-device",
        "Content-Type: application/json",
        "Content-Length: 1000",
        "Expect: 100-continue",
        "",
        "",
      ].join("\r\n"),
    );
    await continued;
    socket.write('{"has_local_pending_rows"');
    socket.destroy();

    await eventually(() => expect(requestLines("/sync/connect")).toHaveLength(1));
    const [line] = requestLines("/sync/connect");
    expect(line).toMatchObject({ level: "info", method: "POST", aborted: true });
    // The line claims no status the client did not cause: none when the client left before the
    // server answered, else the 400 of a body that ended early.
    expect([undefined, 400]).toContain(line?.status);
    const since = logger.entries.slice(before);
    expect(since.filter((entry) => entry.level !== "info")).toStrictEqual([]);
  });

  it.each([
    ["headers", "POST /dummy-signin HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
    [
      "body",
      "POST /dummy-signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    ],
  ])(
    "answers 408 and closes the connection when a request's %s never finish arriving, after the configured time",
    async (_, text) => {
      const { received, elapsedMs } = await sendAndAwaitClose(text);
      expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
      expect(logger.entries.filter((entry) => entry.level === "error")).toStrictEqual([]);
    },
  );

  it("never times out a watch stream, however long it stays open", async () => {
    const token = await signIn(server.url, "watcher");
    const writer = device(server.url, token, "watcher-writer");
    expect((await writer.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
    const watch = await openWatch(server.url, token, "watcher-device", 0);
    expect(watch.status).toBe(200);
    // A request cut off by the timeout shows that the watch has now been open longer than it.
    await sendAndAwaitClose("POST /dummy-signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n");
    const seq = await pushBundle(writer, 1, [userRow(randomUUID(), "w")]);
    expect(await watch.next()).toContain(`"bundle_seq":${seq}`);
    watch.close();
  });
});
