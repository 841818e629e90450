/**
 * The reference server started in-process (startServer) on real PostgreSQL and on PGlite, called
 * over loopback HTTP: probes, sign-in, JWT authentication, CORS, request logs, and a push/pull round
 * trip of the business-rich-v0 numeric scenarios through the example schema.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEV_JWT_SECRET,
  type JsonLogger,
  type RunningServer,
  createJwtAuth,
  startServer,
} from "@oversync/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireContracts } from "../support/contracts.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  device,
  pullAll,
  pushAndPullNumericScenarios,
  openWatch,
  pushBundle,
  send,
  signIn,
  slowPost,
  userRow,
  watchSubscribers,
} from "./serve-support.js";

const hasContracts = requireContracts();

/** A logger that keeps every entry, to check what the server logged. */
function recordingLogger(): JsonLogger & { readonly entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const entry = (level: string) => (msg: string, details?: Readonly<Record<string, unknown>>) =>
    entries.push({ level, msg, ...details });
  return { entries, info: entry("info"), warn: entry("warn"), error: entry("error") };
}

interface Target {
  server: RunningServer;
  logger: ReturnType<typeof recordingLogger>;
  said: string[];
}

let dataRoot: string;
let pgDb: TestDatabase;

beforeAll(async () => {
  dataRoot = await mkdtemp(join(tmpdir(), "oversync-serve-"));
  pgDb = await createTestDatabase();
});

afterAll(async () => {
  await pgDb?.drop();
  await rm(dataRoot, { recursive: true, force: true });
});

async function start(databaseUrl: string | undefined, dataDir: string): Promise<Target> {
  const logger = recordingLogger();
  const said: string[] = [];
  const server = await startServer({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    databaseUrl,
    jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
    tokenTtlSeconds: 3600,
    shutdownGraceMs: 5000,
    logger,
    say: (line) => said.push(line),
  });
  return { server, logger, said };
}

const engines: [string, () => string | undefined][] = [
  ["PGlite", () => undefined],
  ["PostgreSQL", () => pgDb.url],
];

describe.each(engines)("reference server on %s", (engine, databaseUrl) => {
  let target: Target;
  let origin: string;

  beforeAll(async () => {
    target = await start(databaseUrl(), join(dataRoot, engine));
    origin = target.server.url;
  });

  afterAll(async () => {
    await target?.server.close();
  });

  it("answers the live-suite probes", async () => {
    const health = await send(`${origin}/syncx/health`);
    expect(health.status).toBe(200);
    const status = await send(`${origin}/syncx/status`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ app_name: "nethttp-server-example", status: "healthy" });
    expect((status.body as { registered_tables: string[] }).registered_tables).toHaveLength(8);
  });

  it("prints a banner naming the URL and database, with the dev-secret warning", () => {
    const banner = target.said.join("\n");
    expect(banner).toContain(`url        ${origin}`);
    expect(banner).toContain(
      engine === "PGlite"
        ? `PGlite (embedded PostgreSQL) in ${join(dataRoot, engine)}`
        : "PostgreSQL at postgres://",
    );
    expect(banner).toContain("JWT_SECRET is not set");
  });

  it("signs in any user and the token authenticates sync calls", async () => {
    const reply = await send(`${origin}/dummy-signin`, {
      method: "POST",
      body: JSON.stringify({ user: "alice-1", password: "pw", device: "dev-1" }),
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("application/json");
    expect(reply.body).toStrictEqual({ token: expect.any(String), expires_in: 3600, user: "alice-1" });
    const token = (reply.body as { token: string }).token;
    const capabilities = await device(origin, token, "dev-1").get("/sync/capabilities");
    expect(capabilities.status).toBe(200);
    expect(capabilities.body).toMatchObject({ app_name: "nethttp-server-example" });
  });

  it.each([
    ["not JSON", "{user:"],
    ["no user", JSON.stringify({ password: "pw" })],
    ["a blank user", JSON.stringify({ user: "  ", password: "pw" })],
    ["a user that is not a string", JSON.stringify({ user: 7, password: "pw" })],
  ])("refuses a sign-in with %s: 400 invalid_request", async (_case, body) => {
    const reply = await send(`${origin}/dummy-signin`, { method: "POST", body });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: "invalid_request", message: expect.any(String) });
  });

  it("refuses sync calls without a valid token: 401 authentication_failed", async () => {
    const foreign = await createJwtAuth({ secret: "another-secret" }).issueToken("mallory");
    for (const authorization of [
      undefined,
      "Bearer",
      "Bearer not.a.token",
      `Bearer ${foreign.token}`,
      "Basic Zm9vOmJhcg==",
    ]) {
      const reply = await send(`${origin}/sync/capabilities`, {
        headers: { "oversync-source-id": "dev-1", ...(authorization === undefined ? {} : { authorization }) },
      });
      expect({ authorization, status: reply.status, body: reply.body }).toMatchObject({
        authorization,
        status: 401,
        body: { error: "authentication_failed" },
      });
    }
  });

  it("grants CORS to pages of any origin by default, preflights included, and prints who may reach what", async () => {
    const page = "http://localhost:5173";
    const preflight = await send(`${origin}/sync/push-sessions`, {
      method: "OPTIONS",
      headers: { origin: page, "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    const health = await send(`${origin}/syncx/health`, { headers: { origin: page } });
    expect(health.status).toBe(200);
    const cors = (reply: { headers: Headers }) => {
      const found: Record<string, string> = {};
      reply.headers.forEach((value, name) => {
        if (name.startsWith("access-control-")) found[name] = value;
      });
      return found;
    };
    expect(cors(preflight)).toStrictEqual({
      "access-control-allow-origin": "*",
      "access-control-allow-headers": "Authorization, Content-Type, Oversync-Source-ID",
      "access-control-allow-methods": "POST, OPTIONS",
      "access-control-max-age": "600",
    });
    expect(cors(health)).toStrictEqual({
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "Retry-After",
    });
    const banner = target.said.join("\n");
    expect(banner).toContain(`  status     GET ${origin}/syncx/status: this machine only`);
    expect(banner).toContain(`  test       ${origin}/test/*: this machine only`);
    expect(banner).toContain("  cors       pages of any origin (*)");
  });

  it.skipIf(!hasContracts)("round-trips every numeric scenario through typed_rows", async () => {
    const token = await signIn(origin, `numeric-${engine}`);
    const checked = await pushAndPullNumericScenarios(device(origin, token, `numeric-${engine}-device`));
    console.log(`business-rich-v0 numericScenarios on ${engine}: ${checked}/10 round-tripped`);
    expect(checked).toBe(10);
  });

  it("serves watch: the stream wakes on a commit and /test/watch-subscribers counts it", async () => {
    const user = `watcher-${engine}`;
    const token = await signIn(origin, user);
    const capabilities = await device(origin, token, "watch-a").get("/sync/capabilities");
    expect(capabilities.body).toMatchObject({ features: { bundle_change_watch: true } });
    const first = await pushBundle(device(origin, token, "watch-a"), 1, [userRow(randomUUID(), "one")]);
    const watch = await openWatch(origin, token, "watch-a", first);
    expect(watch.status).toBe(200);
    expect(watch.contentType).toContain("text/event-stream");
    expect(await watchSubscribers(origin, user, 1)).toBe(1);
    const second = await pushBundle(device(origin, token, "watch-b"), 1, [userRow(randomUUID(), "two")]);
    let seen = "";
    while (!seen.includes("\n\n")) seen += (await watch.next()) ?? "";
    expect(seen).toContain("event: bundle");
    expect(seen).toContain(`"bundle_seq":${second}`);
    watch.close();
    expect(await watchSubscribers(origin, user, 0)).toBe(0);
  });

  it("logs one line per request with the user id (and a workspace's scope id) and never the token", async () => {
    const token = await signIn(origin, "logged-user");
    await device(origin, token, "logged-device").get("/sync/capabilities");
    // Not a member of the workspace: refused, and logged with the scope the request named.
    await device(origin, token, "logged-device").get("/w/logged-team/sync/capabilities");
    // The log line is written when the response closes, just after the client has read it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const requests = target.logger.entries.filter((entry) => entry.msg === "request");
    const lines = requests.filter((entry) => entry.user_id === "logged-user");
    expect(lines.map((entry) => [entry.method, entry.path, entry.status, entry.scope_id])).toStrictEqual([
      ["POST", "/dummy-signin", 200, undefined],
      ["GET", "/sync/capabilities", 200, undefined],
      ["GET", "/w/logged-team/sync/capabilities", 403, "workspace:logged-team"],
    ]);
    for (const line of lines) expect(line.duration_ms).toEqual(expect.any(Number));
    expect(JSON.stringify(target.logger.entries)).not.toContain(token);
    expect(requests.some((entry) => entry.status === 401 && entry.user_id === undefined)).toBe(true);
  });

  it("answers unknown routes 404 with a JSON error", async () => {
    const reply = await send(`${origin}/nope`);
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ error: "not_found" });
  });
});

describe("reference server lifecycle", () => {
  it("keeps PGlite data across a restart on the same directory", async () => {
    const dataDir = join(dataRoot, "restart");
    const first = await start(undefined, dataDir);
    const id = randomUUID();
    let bundleSeq: number;
    try {
      const token = await signIn(first.server.url, "restart-user");
      bundleSeq = await pushBundle(device(first.server.url, token, "restart-device"), 1, [
        userRow(id, "kept"),
      ]);
    } finally {
      await first.server.close();
    }
    const second = await start(undefined, dataDir);
    try {
      const token = await signIn(second.server.url, "restart-user");
      const bundles = await pullAll(device(second.server.url, token, "restart-device"));
      expect(bundles.get(bundleSeq)?.map((row) => row.key)).toStrictEqual([{ id }]);
    } finally {
      await second.server.close();
    }
  });

  it("cuts requests still open when the shutdown grace period ends, then closes", async () => {
    const logger = recordingLogger();
    const server = await startServer({
      port: 0,
      host: "127.0.0.1",
      dataDir: join(dataRoot, "unused-grace"),
      databaseUrl: pgDb.url,
      jwtSecret: { secret: "grace-secret", isDevDefault: false },
      tokenTtlSeconds: 60,
      shutdownGraceMs: 100,
      logger,
      say: () => undefined,
    });
    const stuck = slowPost(`${server.url}/dummy-signin`, JSON.stringify({ user: "stuck", password: "x" }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.close();
    await expect(stuck.reply).rejects.toThrow();
    expect(logger.entries.map((entry) => entry.msg)).toContain(
      "cutting connections still open after the grace period",
    );
    expect(logger.entries.at(-1)?.msg).toBe("stopped");
  });

  it("refuses a second server on the same PGlite directory", async () => {
    const dataDir = join(dataRoot, "locked");
    const first = await start(undefined, dataDir);
    try {
      await expect(start(undefined, dataDir)).rejects.toMatchObject({ code: "data_dir_locked" });
    } finally {
      await first.server.close();
    }
  });

  it("reports an unreachable PostgreSQL with a masked URL", async () => {
    const error = await start("postgres://someone:s3cret@127.0.0.1:1/nowhere", join(dataRoot, "unused")).then(
      () => undefined,
      (failure: unknown) => failure as Error & { code: string },
    );
    expect(error?.code).toBe("database_unavailable");
    expect(error?.message).toContain("postgres://someone:****@127.0.0.1:1/nowhere");
    expect(error?.message).not.toContain("s3cret");
  });
});
