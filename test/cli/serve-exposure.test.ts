/**
 * Who may reach what on the reference server. Its handler (with the `--test-hooks` wrapper, as
 * `serve` builds it) over real HTTP on PostgreSQL: status, the test helpers and the test hooks
 * answer loopback callers and refuse remote ones unless the admin token, `publicStatus` or
 * `publicTestHelpers` opens them, while health, sign-in and the sync routes answer anyone;
 * `oversync simulate` reaches the test helpers of such a server elsewhere with OVERSYNC_ADMIN_TOKEN
 * and is refused without it. Then `oversync serve` as a child process: its banner states the exposure its flags and
 * OVERSYNC_ADMIN_TOKEN chose, and it serves accordingly; a short token is refused at startup.
 * The remote caller is real at this machine's interface address when it has one, otherwise
 * simulated (test/support/remote-caller.ts).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
  type ReferenceHandlerOptions,
  type SimulationReport,
  createJwtAuth,
  createReferenceHandler,
  ensureExampleSchema,
  main,
} from "@oversync/cli";
import { type PgNotificationListener, type SyncRuntime, createSyncService } from "@oversync/server";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { RequestFaults, testHookRoutes } from "../../packages/cli/src/test-hooks.js";
import { pgListener } from "../server/watch-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  type LocalAndRemote,
  interfaceAddress,
  remoteCallerKind,
  serveLocalAndRemote,
} from "../support/remote-caller.js";
import { killServeProcesses, runCli, startServe } from "../support/serve-process.js";
import { type Reply, device, send, signIn } from "./serve-support.js";

const TOKEN = "serve-exposure-admin-token-0123";
const BEARER = { authorization: `Bearer ${TOKEN}` };

let db: TestDatabase;
let service: SyncRuntime;
let listener: PgNotificationListener;
const opened: LocalAndRemote[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await ensureExampleSchema(db.pool);
  listener = pgListener(db.url, "serve-exposure");
  service = createSyncService({
    pool: db.pool,
    appName: EXAMPLE_APP_NAME,
    registeredTables: EXAMPLE_REGISTERED_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
    // Watch on, as `serve` has it, for the simulator's watch scenario below.
    watch: { notifications: listener },
  });
  await service.bootstrap();
});

afterEach(killServeProcesses);

afterAll(async () => {
  for (const server of opened) await server.close();
  await service?.close();
  await listener?.close();
  await db?.drop();
});

/** The reference handler as `serve --test-hooks` builds it, with `options` on top. */
async function referenceServer(
  options: Partial<Pick<ReferenceHandlerOptions, "adminAccess" | "publicStatus" | "publicTestHelpers">>,
): Promise<LocalAndRemote> {
  const auth = createJwtAuth({ secret: "exposure-test-secret" });
  const faults = new RequestFaults(auth);
  const handler = createReferenceHandler({
    service,
    auth,
    testHooks: service,
    extraRoutes: testHookRoutes(faults, service, db.pool),
    logger: { warn: () => undefined, error: () => undefined },
    ...options,
  });
  const server = await serveLocalAndRemote(faults.wrap(handler));
  opened.push(server);
  return server;
}

/** One call to each admin route: status, the two upstream test helpers, and three test hooks. */
function adminCalls(base: string, headers: Record<string, string> = {}): Promise<Reply>[] {
  const post = (path: string, body: unknown) =>
    send(`${base}${path}`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return [
    send(`${base}/syncx/status`, { headers }),
    send(`${base}/test/watch-subscribers?user_id=nobody`, { headers }),
    post("/test/retention-floor", { user_id: "nobody-at-all", retained_bundle_floor: 0 }),
    send(`${base}/test/hooks`, { headers }),
    post("/test/server-sql", { user_id: "nobody", statements: [{ sql: "SELECT 1" }] }),
    post("/test/fail-requests", { user_id: "nobody", endpoint: "pull", status: 500 }),
  ];
}

function expectDenied(reply: Reply): void {
  expect({ status: reply.status, body: reply.body }).toStrictEqual({
    status: 403,
    body: { error: "admin_access_denied", message: expect.any(String) },
  });
}

describe(`the reference handler's admin routes (remote caller ${remoteCallerKind()})`, () => {
  it("answer loopback callers and refuse remote ones; health, sign-in and sync answer anyone", async () => {
    const server = await referenceServer({});
    const local = await Promise.all(adminCalls(server.local));
    expect(local.map((reply) => reply.status)).toStrictEqual([200, 200, 404, 200, 422, 200]);
    // Each route ran: an unknown user has no floor to move, a SELECT writes nothing (422).
    expect(local[2]!.body).toMatchObject({ error: "user_state_not_found" });
    expect(local[4]!.body).toMatchObject({ error: "no_captured_changes" });
    for (const reply of await Promise.all(adminCalls(server.remote))) expectDenied(reply);

    const health = await send(`${server.remote}/syncx/health`);
    expect({ status: health.status, body: health.body }).toStrictEqual({
      status: 200,
      body: { status: "healthy", lifecycle: "running" },
    });
    const token = await signIn(server.remote, "remote-user");
    const capabilities = await device(server.remote, token, "remote-device").get("/sync/capabilities");
    expect(capabilities.status).toBe(200);
  });

  it("answer remote callers that send the admin token, and only them", async () => {
    const server = await referenceServer({ adminAccess: { token: TOKEN } });
    const withToken = await Promise.all(adminCalls(server.remote, BEARER));
    expect(withToken.map((reply) => reply.status)).toStrictEqual([200, 200, 404, 200, 422, 200]);
    const wrong = await Promise.all(adminCalls(server.remote, { authorization: `Bearer ${TOKEN}x` }));
    for (const reply of wrong) expectDenied(reply);
  });

  it("publicStatus opens status alone; publicTestHelpers opens the test helpers and hooks alone", async () => {
    const statusOpen = await Promise.all(adminCalls((await referenceServer({ publicStatus: true })).remote));
    expect(statusOpen[0]!.status).toBe(200);
    expect(statusOpen[0]!.body).toMatchObject({ app_name: EXAMPLE_APP_NAME });
    for (const reply of statusOpen.slice(1)) expectDenied(reply);

    const helpersOpen = await Promise.all(
      adminCalls((await referenceServer({ publicTestHelpers: true })).remote),
    );
    expectDenied(helpersOpen[0]!);
    expect(helpersOpen.slice(1).map((reply) => reply.status)).toStrictEqual([200, 404, 200, 422, 200]);
  });
});

describe(`oversync simulate against a server elsewhere (remote caller ${remoteCallerKind()})`, () => {
  /** `oversync simulate` run in this process with `env`; its exit code and its report. */
  async function simulate(server: string, env: NodeJS.ProcessEnv) {
    const output = join(await mkdtemp(join(tmpdir(), "oversync-simulate-token-")), "report.json");
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      const exitCode = await main(
        ["simulate", "--scenario=watch-peer-push", `--server=${server}`, "--cleanup", `--output=${output}`],
        env,
      );
      return { exitCode, report: JSON.parse(await readFile(output, "utf8")) as SimulationReport };
    } finally {
      stdout.mockRestore();
      await rm(dirname(output), { recursive: true, force: true });
    }
  }

  it("sends OVERSYNC_ADMIN_TOKEN to the test helpers, which refuse it otherwise", async () => {
    const server = await referenceServer({ adminAccess: { token: TOKEN } });
    const withToken = await simulate(server.remote, { OVERSYNC_ADMIN_TOKEN: TOKEN });
    expect(withToken.report.runs[0]?.failure).toBeUndefined();
    expect(withToken.exitCode).toBe(0);

    const without = await simulate(server.remote, {});
    expect(without.exitCode).toBe(1);
    expect(without.report.runs[0]?.failure).toMatchObject({
      kind: "error",
      message: expect.stringMatching(/^GET \/test\/watch-subscribers answered 403: .*admin_access_denied/),
    });
  });
});

describe("oversync serve: exposure flags and the banner", () => {
  it("states the defaults: status and test helpers for this machine only, CORS for any origin", async () => {
    const server = await startServe([], { DATABASE_URL: db.url });
    const banner = server.stderr();
    expect(banner).toContain(
      `  health     GET ${server.url}/syncx/health: anyone (healthy or not, no details)`,
    );
    expect(banner).toContain(`  status     GET ${server.url}/syncx/status: this machine only`);
    expect(banner).toContain(`  test       ${server.url}/test/*: this machine only`);
    expect(banner).toContain("  cors       pages of any origin (*)");
    expect(banner).not.toContain("admin      ");
    expect((await send(`${server.url}/syncx/status`)).status).toBe(200);
    expect((await send(`${server.url}/test/watch-subscribers?user_id=u`)).status).toBe(200);
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  });

  it("states --public-status, the admin token, --test-hooks and --cors-origin, and serves as it says", async () => {
    const server = await startServe(
      [
        "--host",
        "0.0.0.0",
        "--public-status",
        "--test-hooks",
        "--cors-origin",
        "http://localhost:5173,https://app.example.com",
      ],
      { DATABASE_URL: db.url, OVERSYNC_ADMIN_TOKEN: TOKEN },
    );
    const banner = server.stderr();
    expect(banner).toContain(`  status     GET ${server.url}/syncx/status: anyone (--public-status)`);
    expect(banner).toContain(
      `  test       ${server.url}/test/* (with --test-hooks): this machine, or anyone with the admin token`,
    );
    expect(banner).toContain(
      `  dashboard  ${server.url}/dashboard: this machine, or anyone with the admin token (the page asks for it)`,
    );
    expect(banner).toContain("  cors       pages of http://localhost:5173, https://app.example.com");
    expect(banner).toContain(
      "  admin      token from OVERSYNC_ADMIN_TOKEN, sent as Authorization: Bearer <token>",
    );
    expect(banner).not.toContain(TOKEN);

    const allowed = await send(`${server.url}/sync/pull`, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173", "access-control-request-method": "GET" },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    const refused = await send(`${server.url}/syncx/health`, { headers: { origin: "https://evil.example" } });
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();

    const address = interfaceAddress();
    if (address !== undefined) {
      // The process listens on all interfaces, so this machine's own address is a remote caller.
      const remote = server.url.replace("localhost", address);
      expect((await send(`${remote}/syncx/status`)).status).toBe(200);
      expectDenied(await send(`${remote}/test/hooks`));
      expect((await send(`${remote}/test/hooks`, { headers: BEARER })).status).toBe(200);
      // The dashboard's page holds no data and asks for the token; its data needs the token.
      expect((await send(`${remote}/dashboard`)).status).toBe(200);
      expectDenied(await send(`${remote}/dashboard/data`));
      expect((await send(`${remote}/dashboard/data`, { headers: BEARER })).status).toBe(200);
    }
    expect((await send(`${server.url}/test/hooks`)).status).toBe(200);
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  });

  it("refuses a short admin token before opening the database", async () => {
    const run = runCli(["serve", "--port", "0"], { DATABASE_URL: db.url, OVERSYNC_ADMIN_TOKEN: "short" });
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toContain("OVERSYNC_ADMIN_TOKEN must be at least 16 characters");
    expect(run.stderr()).toContain("[invalid_config]");
    expect(run.stderr()).not.toContain("oversync reference server");
  });

  it("refuses a --cors-origin that is not an origin, as a usage error", async () => {
    const run = runCli(["serve", "--cors-origin", "https://app.example.com/path"]);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain('--cors-origin "https://app.example.com/path" is not an origin');
  });
});
