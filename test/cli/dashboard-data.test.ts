/**
 * The dashboard's routes over real HTTP on PostgreSQL. `GET /dashboard/data` answers, on a clock the
 * test moves, the JSON the page draws: rates and latencies measured between two readings of the
 * Prometheus registry, totals, chart points after `since`, the active scope with its users and
 * sources and what PostgreSQL holds for them (latest bundle, retained floor, states, open snapshot
 * sessions), watch subscribers, and the limits; its three statements are keyed by scope and do not
 * grow with the data. Who may reach what: without an admin token the page and its data answer this
 * machine only; with one, the page (which holds no data) answers everyone and the data only
 * holders of the token. Then `oversync serve` itself: its banner names the dashboard, and both
 * routes answer. The remote caller is real at this machine's interface address when it has one,
 * otherwise simulated (test/support/remote-caller.ts).
 */
import { randomUUID } from "node:crypto";
import {
  DEV_JWT_SECRET,
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
  ServerActivity,
  createDashboard,
  createJwtAuth,
  createReferenceHandler,
  createServerMetrics,
  ensureExampleSchema,
} from "@oversync/cli";
import { type AdminAccess, createSyncService } from "@oversync/server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { remoteCallerKind, serveLocalAndRemote } from "../support/remote-caller.js";
import { killServeProcesses, startServe } from "../support/serve-process.js";
import { type RecordedStatement, recordingPool, scopeProblems } from "../server/scope-routing-support.js";
import { pgListener } from "../server/watch-support.js";
import { device, openWatch, pushBundle, send, signIn, userRow } from "./serve-support.js";

const TOKEN = "dashboard-data-admin-token-0123";

let db: TestDatabase;
/** What each test's server opened, closed at the end. */
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  db = await createTestDatabase("oversync_dashboard_data");
  await ensureExampleSchema(db.pool);
});

afterEach(killServeProcesses);

afterAll(async () => {
  for (const resource of opened.reverse()) await resource.close();
  await db?.drop();
});

/** The reference handler with metrics and a dashboard, as `serve` builds them, on a test clock. */
async function dashboardServer(options: { adminAccess?: AdminAccess; clock?: { now: number } } = {}) {
  const metrics = createServerMetrics();
  const listener = pgListener(db.url, "dashboard-data");
  opened.push(listener);
  const service = createSyncService({
    pool: db.pool,
    appName: EXAMPLE_APP_NAME,
    registeredTables: EXAMPLE_REGISTERED_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
    telemetry: metrics.telemetry,
    watch: { notifications: listener },
  });
  opened.push(service);
  await service.bootstrap();
  const now = options.clock === undefined ? undefined : () => options.clock!.now;
  const activity = new ServerActivity(now === undefined ? {} : { now });
  const statements: RecordedStatement[] = [];
  const dashboard = createDashboard({
    registry: metrics.registry,
    db: recordingPool(db.pool, statements),
    activity,
    ...(now === undefined ? {} : { now }),
  });
  const handler = createReferenceHandler({
    service,
    auth: createJwtAuth({ secret: DEV_JWT_SECRET }),
    metrics,
    dashboard,
    logger: activity.tap({ info: () => undefined, warn: () => undefined, error: () => undefined }),
    ...(options.adminAccess === undefined ? {} : { adminAccess: options.adminAccess }),
  });
  const server = await serveLocalAndRemote(handler);
  opened.push(server);
  return { server, statements };
}

const denied = { status: 403, body: { error: "admin_access_denied", message: expect.any(String) } };

describe(`GET /dashboard/data (remote caller ${remoteCallerKind()})`, () => {
  it("answers the figures, the active scope with its sources, watch subscribers and limits, as JSON", async () => {
    const clock = { now: Date.parse("2026-05-01T12:00:00Z") };
    const start = clock.now;
    const { server, statements } = await dashboardServer({ clock });
    const data = async (since?: number) => {
      const reply = await send(
        `${server.local}/dashboard/data${since === undefined ? "" : `?since=${since}`}`,
      );
      expect(reply.status).toBe(200);
      expect(reply.headers.get("cache-control")).toBe("no-store");
      return reply.body as Record<string, unknown>;
    };

    const first = await data();
    expect(first).toMatchObject({
      generated_at: "2026-05-01T12:00:00.000Z",
      poll_interval_ms: 1000,
      server: {
        app_name: EXAMPLE_APP_NAME,
        lifecycle: "running",
        accepting_operations: true,
        inflight_operations: expect.any(Number),
        started_at: "2026-05-01T12:00:00.000Z",
      },
      // One reading: nothing to measure a rate from yet.
      current: { window_seconds: null, requests_per_second: null, p50_ms: null, bundles_per_second: null },
      series: [],
      database_ok: true,
      scopes: [],
      scopes_tracked: 0,
      watch: { open_streams: 0, scopes: [] },
      errors: [],
      limits: { scopes: 50, sources_per_scope: 10, errors: 50, history_seconds: 300 },
    });

    // One user: a phone pushes two rows and watches; a laptop opens a snapshot session.
    const user = `dash-${randomUUID().slice(0, 8)}`;
    const token = await signIn(server.local, user);
    const phone = device(server.local, token, "phone");
    const laptop = device(server.local, token, "laptop");
    const bundleSeq = await pushBundle(phone, 1, [
      userRow(randomUUID(), "Ada"),
      userRow(randomUUID(), "Bob"),
    ]);
    expect((await laptop.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
    expect((await laptop.post("/sync/snapshot-sessions")).status).toBe(200);
    clock.now = start + 1000;
    const watch = await openWatch(server.local, token, "phone", bundleSeq);
    expect(watch.status).toBe(200);
    // Requests: sign-in, phone connect, push create, chunk and commit, laptop connect, snapshot, watch.
    const requests = 8;

    clock.now = start + 2000;
    statements.length = 0;
    const second = await data();
    expect(second).toMatchObject({
      generated_at: "2026-05-01T12:00:02.000Z",
      current: {
        window_seconds: 2,
        requests_per_second: requests / 2,
        errors_per_second: 0,
        p50_ms: expect.any(Number),
        p95_ms: expect.any(Number),
        bundles_per_second: 0.5,
        rows_per_second: { push: 1, pull: 0, snapshot: 0 },
        open_watch_streams: 1,
      },
      totals: {
        requests,
        errors: 0,
        bundles_committed: 1,
        rows: { push: 2, pull: 0, snapshot: 0 },
        conflicts: 0,
        history_pruned: 0,
        snapshot_sessions_created: 1,
        snapshot_capacity_waits: 0,
      },
      series: [
        {
          t: start + 2000,
          requests_per_second: requests / 2,
          errors_per_second: 0,
          p50_ms: expect.any(Number),
          p95_ms: expect.any(Number),
          bundles_per_second: 0.5,
        },
      ],
      scopes: [
        {
          scope_id: user,
          user_ids: [user],
          last_seen: "2026-05-01T12:00:01.000Z",
          latest_bundle_seq: bundleSeq,
          retained_floor: 0,
          scope_state: "initialized",
          watch_subscribers: 1,
          pending_snapshots: 1,
          // Most recently heard from first.
          sources: [
            {
              source_id: "phone",
              last_seen: "2026-05-01T12:00:01.000Z",
              last_endpoint: "watch",
              state: "active",
              committed_source_bundle_id: 1,
              last_commit_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
              replaced_by_source_id: null,
              pending_snapshots: 0,
            },
            {
              source_id: "laptop",
              last_seen: "2026-05-01T12:00:00.000Z",
              last_endpoint: "snapshotCreate",
              state: null,
              committed_source_bundle_id: null,
              last_commit_at: null,
              replaced_by_source_id: null,
              pending_snapshots: 1,
            },
          ],
        },
      ],
      scopes_tracked: 1,
      watch: { open_streams: 1, scopes: [{ scope_id: user, subscribers: 1 }] },
      errors: [],
    });
    const endpoints = second.endpoints as { endpoint: string; requests: number; p50_ms: number | null }[];
    expect(endpoints.map((entry) => entry.endpoint).sort()).toStrictEqual(
      [
        "connect",
        "dashboardData",
        "dummySignin",
        "pushChunk",
        "pushCommit",
        "pushCreate",
        "snapshotCreate",
        "watch",
      ].sort(),
    );
    expect(endpoints.find((entry) => entry.endpoint === "connect")).toMatchObject({
      requests: 2,
      errors: 0,
      requests_per_second: 1,
      p50_ms: expect.any(Number),
      p95_ms: expect.any(Number),
    });
    // Three statements, each keyed by the listed scopes (routable to one shard), however much data.
    expect(statements.map((statement) => scopeProblems(statement.text, []))).toStrictEqual([[], [], []]);

    // `since` leaves out the points the page already has.
    clock.now = start + 3000;
    const third = await data(start + 2000);
    expect((third.series as { t: number }[]).map((point) => point.t)).toStrictEqual([start + 3000]);
    expect(third.current).toMatchObject({
      window_seconds: 3,
      requests_per_second: Math.round((requests / 3) * 1000) / 1000,
    });
    watch.close();
  });

  it("without an admin token, answers the page and the data to this machine only", async () => {
    const { server } = await dashboardServer();
    const page = await send(`${server.local}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toMatch(
      /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'; .*frame-ancestors 'none'$/,
    );
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect((await send(`${server.local}/dashboard/data`)).status).toBe(200);
    // Typed with a trailing slash, the page's address redirects to the page.
    const slash = await fetch(`${server.local}/dashboard/`, { redirect: "manual" });
    expect({ status: slash.status, location: slash.headers.get("location") }).toStrictEqual({
      status: 308,
      location: "../dashboard",
    });
    expect((await fetch(`${server.local}/dashboard/`)).url).toBe(`${server.local}/dashboard`);

    for (const path of ["/dashboard", "/dashboard/", "/dashboard/data"]) {
      const reply = await send(`${server.remote}${path}`);
      expect({ status: reply.status, body: reply.body }).toStrictEqual(denied);
    }
    // A page of another site open in a browser on this machine is no admin either.
    const crossSite = await send(`${server.local}/dashboard/data`, {
      headers: { origin: "https://evil.example" },
    });
    expect({ status: crossSite.status, body: crossSite.body }).toStrictEqual(denied);
  });

  it("with an admin token, answers the page (no data in it) to anyone and the data to holders of the token", async () => {
    const { server } = await dashboardServer({ adminAccess: { token: TOKEN } });
    const user = `secret-${randomUUID().slice(0, 8)}`;
    await pushBundle(device(server.local, await signIn(server.local, user), "phone"), 1, [
      userRow(randomUUID(), "Ada"),
    ]);

    const page = await send(`${server.remote}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("<title>oversync dashboard</title>");
    expect(page.text).not.toContain(user);
    expect(page.text).toBe((await send(`${server.local}/dashboard`)).text);

    const wrong: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: TOKEN },
    ];
    for (const headers of wrong) {
      const reply = await send(`${server.remote}/dashboard/data`, { headers });
      expect({ status: reply.status, body: reply.body }).toStrictEqual(denied);
    }
    const data = await send(`${server.remote}/dashboard/data`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(data.status).toBe(200);
    expect(
      (data.body as { scopes: { scope_id: string }[] }).scopes.map((scope) => scope.scope_id),
    ).toStrictEqual([user]);
  });
});

describe("oversync serve: the dashboard", () => {
  it("names it in the banner and serves the page and its data", async () => {
    const server = await startServe([], { DATABASE_URL: db.url });
    expect(server.stderr()).toContain(`  dashboard  ${server.url}/dashboard: this machine only`);
    const page = await send(`${server.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<svg id="chart-bundles"');
    const data = await send(`${server.url}/dashboard/data`);
    expect(data.status).toBe(200);
    expect(Object.keys(data.body as object)).toStrictEqual([
      "generated_at",
      "poll_interval_ms",
      "server",
      "current",
      "totals",
      "series",
      "endpoints",
      "database_ok",
      "scopes",
      "scopes_tracked",
      "watch",
      "errors",
      "limits",
    ]);
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  });
});
