/**
 * One owner across tabs (`@oversync/client/tabs`) in real headless Chromium: the pages of one
 * browser context are tabs of one origin, sharing OPFS, Web Locks and BroadcastChannel. Every tab
 * runs tab-sync-page/ (built by Vite, served on loopback), whose `open()` opens the sqlite-wasm
 * driver and a sync client against the reference server this file starts on real PostgreSQL, with
 * the example schema; the server's CORS headers let the page call it from its own origin. Each test
 * has a browser context (so its own OPFS and locks) and a user of its own.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXAMPLE_CLIENT_CONFIG, type RunningServer, exampleClientSchemaSql } from "@oversync/cli";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";
import { describeInChromium, launchChromium } from "./chromium.js";
import { type ServedPage, buildAndServePage, callPage } from "./test-page.js";
import type { Outcome, TabSetup, TabSyncPage } from "./tab-sync-page/main.js";

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "tab-sync-page");
const SERVER_WAIT_MILLIS = 30_000;

/**
 * A write that keeps SQLite busy far longer than any test runs (it counts to 10^10), so it is
 * still running when its tab is closed.
 */
const ENDLESS_UPDATE =
  "UPDATE users SET name = (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT 'counted ' || count(*) FROM c) WHERE id = ?";
/** A write that takes SQLite a few seconds: long enough for another tab's call to arrive meanwhile. */
const SLOW_UPDATE =
  "UPDATE users SET name = (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT 'counted ' || count(*) FROM c) WHERE id = ?";
const INSERT_USER = "INSERT INTO users (id, name, email) VALUES (?, ?, ?)";

describeInChromium("one owner across tabs in Chromium", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;
  let served: ServedPage;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase("oversync_tabs");
    dir = await mkdtemp(join(tmpdir(), "oversync-tabs-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
    served = await buildAndServePage(PAGE_DIR);
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await server?.close();
    await db?.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Calls the tab page's API in `page`. */
  function tab<M extends keyof TabSyncPage & string>(
    page: Page,
    method: M,
    ...args: Parameters<TabSyncPage[M]>
  ): Promise<Awaited<ReturnType<TabSyncPage[M]>>> {
    return callPage(page, "oversyncTabPage", method, args) as Promise<Awaited<ReturnType<TabSyncPage[M]>>>;
  }

  /** Runs `body` with a fresh browser context (its own OPFS and locks), closed afterwards. */
  async function inContext(body: (context: BrowserContext) => Promise<void>): Promise<void> {
    const context = await browser.newContext();
    try {
      await body(context);
    } finally {
      await context.close();
    }
  }

  async function newTab(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
    await page.goto(served.url);
    return page;
  }

  /** A database of its own and a signed-in user of its own for test `slug`. */
  async function setupFor(slug: string, uploads: TabSetup["uploads"] = "auto"): Promise<TabSetup> {
    const user = `tabs-${slug}`;
    const response = await fetch(new URL("/dummy-signin", server.url), {
      method: "POST",
      body: JSON.stringify({ user, password: "any" }),
    });
    const { token } = (await response.json()) as { token: string };
    return {
      name: `${slug}.db`,
      pool: "tabs",
      file: `${slug}.db`,
      baseUrl: server.url,
      token,
      user,
      schemaSql: exampleClientSchemaSql(),
      config: EXAMPLE_CLIENT_CONFIG as unknown as TabSetup["config"],
      uploads,
    };
  }

  /** Two tabs of one context: the first opens the database (the owner), then the second. */
  async function ownerAndFollower(context: BrowserContext, setup: TabSetup): Promise<[Page, Page]> {
    const owner = await newTab(context);
    const follower = await newTab(context);
    expect(await tab(owner, "open", setup)).toBe("owner");
    expect(await tab(follower, "open", setup)).toBe("follower");
    return [owner, follower];
  }

  /** The user's name on the server, or undefined while the row is not there. */
  async function serverName(id: string): Promise<string | undefined> {
    const { rows } = await db.pool.query<{ name: string }>("SELECT name FROM business.users WHERE id = $1", [
      id,
    ]);
    return rows[0]?.name;
  }

  /**
   * Waits until the server holds the user row with `name` (uploads run in the background); answers
   * the name the server holds then, or at the deadline.
   */
  async function untilOnServer(id: string, name: string): Promise<string | undefined> {
    const deadline = Date.now() + SERVER_WAIT_MILLIS;
    for (;;) {
      const held = await serverName(id);
      if (held === name || Date.now() > deadline) return held;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  function ok(outcome: Outcome): unknown {
    if (!outcome.ok) expect.fail(`the call failed: ${JSON.stringify(outcome.error)}`);
    return outcome.value;
  }

  it("of three tabs opening one database at once, exactly one owns it, and only it opened it", async () => {
    await inContext(async (context) => {
      const setup = await setupFor("three-tabs");
      const pages = await Promise.all([1, 2, 3].map(() => newTab(context)));
      const roles = await Promise.all(pages.map((page) => tab(page, "open", setup)));
      expect([...roles].sort()).toEqual(["follower", "follower", "owner"]);
      const opens = await Promise.all(pages.map((page) => tab(page, "openCalls")));
      expect(opens).toEqual(roles.map((role) => (role === "owner" ? 1 : 0)));
    });
  });

  it("a follower's write is run by the owner, and both tabs' live queries and change events see it", async () => {
    await inContext(async (context) => {
      const [owner, follower] = await ownerAndFollower(context, await setupFor("follower-write"));
      const query = "SELECT id, name FROM users ORDER BY id";
      for (const page of [owner, follower]) {
        await tab(page, "watch", "users", query);
        await tab(page, "waitForWatch", "users", []);
      }
      const id = crypto.randomUUID();
      expect(await tab(follower, "run", INSERT_USER, [id, "Ada", "ada@example.com"])).toEqual({
        ok: true,
        value: { changes: 1, lastInsertRowid: { bigint: "1" } },
      });
      await tab(owner, "waitForOwnerStatement", INSERT_USER);
      for (const page of [owner, follower]) {
        await tab(page, "waitForWatch", "users", [{ id, name: "Ada" }]);
        await tab(page, "waitForTableChange", "users", "local");
      }
      expect(await tab(follower, "openCalls")).toBe(0);
    });
  });

  it("values cross tabs exactly, errors keep their class, code and message, and a batch is all or nothing", async () => {
    await inContext(async (context) => {
      const [owner, follower] = await ownerAndFollower(context, await setupFor("values-errors"));
      const key = [...crypto.getRandomValues(new Uint8Array(16))];
      const data = [0, 255, 1, 128];
      ok(
        await tab(follower, "run", "INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
          { bytes: key },
          "f",
          { bytes: data },
        ]),
      );
      expect(await tab(follower, "query", "SELECT id, data, typeof(id) AS type FROM files")).toEqual({
        ok: true,
        value: [{ id: { bytes: key }, data: { bytes: data }, type: "blob" }],
      });
      expect(await tab(follower, "query", "SELECT ? AS big", [{ bigint: "9007199254740993" }])).toEqual({
        ok: true,
        value: [{ big: { bigint: "9007199254740993" } }],
      });

      const missingTable = "INSERT INTO no_such_table VALUES (1)";
      const inFollower = await tab(follower, "run", missingTable);
      expect(inFollower).toEqual(await tab(owner, "run", missingTable));
      expect(inFollower).toMatchObject({
        ok: false,
        error: {
          name: "SqliteError",
          code: "sqlite_error",
          sqliteCode: "SQLITE_ERROR",
          message: expect.stringContaining("no such table: no_such_table"),
          isSyncClientError: true,
          isOversyncClientError: true,
          isSqliteError: true,
        },
      });
      expect(await tab(follower, "query", "SELECT ?", [{ bigint: (2n ** 64n).toString() }])).toMatchObject({
        ok: false,
        error: {
          name: "OversyncClientError",
          code: "sql_param_invalid",
          isSyncClientError: true,
          isOversyncClientError: true,
          isSqliteError: false,
        },
      });

      const id = crypto.randomUUID();
      expect(
        await tab(follower, "batch", [
          { sql: INSERT_USER, params: [id, "Grace", "g@example.com"] },
          { sql: INSERT_USER, params: [id, "Grace again", "g@example.com"] },
        ]),
      ).toMatchObject({ ok: false, error: { name: "SqliteError", sqliteCode: "SQLITE_CONSTRAINT" } });
      expect(await tab(follower, "query", "SELECT count(*) AS n FROM users")).toEqual({
        ok: true,
        value: [{ n: { bigint: "0" } }],
      });
      expect(
        await tab(follower, "batch", [
          { sql: INSERT_USER, params: [id, "Grace", "g@example.com"] },
          { sql: "UPDATE users SET name = ? WHERE id = ?", params: ["Grace Hopper", id] },
        ]),
      ).toEqual({
        ok: true,
        value: [
          { changes: 1, lastInsertRowid: { bigint: "1" } },
          { changes: 1, lastInsertRowid: { bigint: "1" } },
        ],
      });
      expect(await tab(owner, "query", "SELECT name FROM users")).toEqual({
        ok: true,
        value: [{ name: "Grace Hopper" }],
      });
    });
  });

  it("a follower's sync() runs in the owner and sends the row to the server; the owner's status is mirrored", async () => {
    await inContext(async (context) => {
      // Uploads off: only the follower's sync() can send the row.
      const [owner, follower] = await ownerAndFollower(context, await setupFor("follower-sync", "off"));
      const id = crypto.randomUUID();
      ok(await tab(follower, "run", INSERT_USER, [id, "Lin", "lin@example.com"]));
      expect(await tab(follower, "pendingSyncStatus")).toMatchObject({
        ok: true,
        value: { hasPendingSyncData: true, pendingRowCount: 1 },
      });
      await tab(follower, "waitForStatus", { pendingChangeCount: 1 });
      expect(await serverName(id)).toBeUndefined();

      expect(await tab(follower, "sync")).toMatchObject({ ok: true, value: { pushOutcome: "committed" } });
      expect(await serverName(id)).toBe("Lin");
      const mirrored = (await tab(follower, "waitForStatus", { pendingChangeCount: 0, lastError: null })) as {
        lastSyncedAt: string | null;
      };
      expect(mirrored.lastSyncedAt).not.toBeNull();
      expect(await tab(owner, "openCalls")).toBe(1);
      expect(await tab(follower, "openCalls")).toBe(0);
    });
  });

  it("closing the owner's tab hands over without losing a committed write or a queued upload", async () => {
    await inContext(async (context) => {
      const setup = await setupFor("handover");
      const [owner, follower] = await ownerAndFollower(context, setup);
      // A third tab, behind the follower in the lock's queue: it stays a follower, of the new owner.
      const third = await newTab(context);
      expect(await tab(third, "open", setup)).toBe("follower");
      const names = "SELECT name FROM users ORDER BY name";
      await tab(third, "watch", "names", names);
      // The owner's tab can no longer reach the server: its uploads fail and the changes stay queued.
      const serverOrigin = new URL(server.url).origin;
      await owner.route(
        (url) => url.origin === serverOrigin,
        (route) => route.abort("connectionrefused"),
      );
      const ownersRow = crypto.randomUUID();
      const followersRow = crypto.randomUUID();
      ok(await tab(owner, "run", INSERT_USER, [ownersRow, "written by the owner", "o@example.com"]));
      ok(await tab(follower, "run", INSERT_USER, [followersRow, "written by the follower", "f@example.com"]));
      await tab(follower, "waitForStatus", { pendingChangeCount: 2 });
      expect(await serverName(ownersRow)).toBeUndefined();
      expect(await serverName(followersRow)).toBeUndefined();

      await owner.close();
      await tab(follower, "waitForRole", "owner");
      expect(await tab(follower, "openCalls")).toBe(1);
      expect(await untilOnServer(ownersRow, "written by the owner")).toBe("written by the owner");
      expect(await untilOnServer(followersRow, "written by the follower")).toBe("written by the follower");
      expect(await tab(follower, "query", "SELECT name FROM users ORDER BY name")).toEqual({
        ok: true,
        value: [{ name: "written by the follower" }, { name: "written by the owner" }],
      });
      await tab(follower, "waitForStatus", { pendingChangeCount: 0 });

      ok(
        await tab(third, "run", INSERT_USER, [
          crypto.randomUUID(),
          "written by the third tab",
          "t@example.com",
        ]),
      );
      await tab(third, "waitForWatch", "names", [
        { name: "written by the follower" },
        { name: "written by the owner" },
        { name: "written by the third tab" },
      ]);
      expect(await tab(follower, "query", "SELECT count(*) AS n FROM users")).toEqual({
        ok: true,
        value: [{ n: { bigint: "3" } }],
      });
      await tab(third, "waitForStatus", { pendingChangeCount: 0 });
      expect(await tab(third, "openCalls")).toBe(0);
    });
  }, 120_000);

  it("a write in flight when the owner's tab goes away fails with owner_tab_lost; a read in flight is answered by the next owner", async () => {
    await inContext(async (context) => {
      const [owner, follower] = await ownerAndFollower(context, await setupFor("in-flight"));
      const id = crypto.randomUUID();
      ok(await tab(follower, "run", INSERT_USER, [id, "Sam", "sam@example.com"]));
      const read = "SELECT name FROM users WHERE id = ?";
      await tab(follower, "start", "write", "run", ENDLESS_UPDATE, [id]);
      await tab(follower, "start", "read", "query", read, [id]);
      // Both reached the owner, which handed them to SQLite (the read waits behind the write).
      await tab(owner, "waitForOwnerStatement", ENDLESS_UPDATE);
      await tab(owner, "waitForOwnerStatement", read);

      await owner.close();
      const write = await tab(follower, "settle", "write");
      expect(write).toMatchObject({
        ok: false,
        error: { name: "OversyncClientError", code: "owner_tab_lost", isSyncClientError: true },
      });
      expect(write.ok ? "" : write.error.message).toContain("check");
      expect(await tab(follower, "settle", "read")).toEqual({ ok: true, value: [{ name: "Sam" }] });
      expect(await tab(follower, "role")).toBe("owner");

      // The app checks (the write did not take effect: it rolled back with its tab) and retries.
      ok(await tab(follower, "run", "UPDATE users SET name = ? WHERE id = ?", ["Sam again", id]));
      expect(await tab(follower, "query", read, [id])).toEqual({ ok: true, value: [{ name: "Sam again" }] });
      expect(await untilOnServer(id, "Sam again")).toBe("Sam again");
    });
  }, 120_000);

  it("an owner's close() finishes the calls it accepted and leaves later ones to the next owner", async () => {
    await inContext(async (context) => {
      const setup = await setupFor("graceful-close");
      const [owner, follower] = await ownerAndFollower(context, setup);
      await tab(follower, "spyOnChannel", setup.name);
      const id = crypto.randomUUID();
      ok(await tab(owner, "run", INSERT_USER, [id, "Kay", "kay@example.com"]));
      await tab(owner, "start", "slow", "run", SLOW_UPDATE, [id]);
      await tab(owner, "waitForOwnerStatement", SLOW_UPDATE);
      await tab(owner, "startClose");

      // Sent while the owner leaves: answered "not run", then run by the next owner (this tab).
      const later = crypto.randomUUID();
      ok(await tab(follower, "run", INSERT_USER, [later, "sent while the owner left", "l@example.com"]));
      expect(await tab(follower, "notRunReplies")).toBeGreaterThan(0);
      expect(await tab(owner, "settle", "slow")).toMatchObject({ ok: true, value: { changes: 1 } });
      expect(await tab(owner, "settle", "close")).toEqual({ ok: true, value: undefined });
      expect(await tab(owner, "run", "SELECT 1")).toMatchObject({
        ok: false,
        error: { code: "client_closed" },
      });
      expect(await tab(follower, "role")).toBe("owner");
      expect(await tab(follower, "query", "SELECT name FROM users ORDER BY name")).toEqual({
        ok: true,
        value: [{ name: "counted 3000000" }, { name: "sent while the owner left" }],
      });

      // The tab that left can join again, as a follower of the new owner.
      const reopened = await newTab(context);
      expect(await tab(reopened, "open", setup)).toBe("follower");
      expect(await tab(reopened, "query", "SELECT count(*) AS n FROM users")).toEqual({
        ok: true,
        value: [{ n: { bigint: "2" } }],
      });
    });
  }, 120_000);

  it("a tab taking over retries while the OPFS pool is still held elsewhere, and fails visibly when it stays held", async () => {
    await inContext(async (context) => {
      const setup = await setupFor("pool-held");
      const holder = await newTab(context);
      const joining = await newTab(context);
      await tab(holder, "holdPool", setup.file, setup.pool);

      await tab(joining, "startOpen", { ...setup, openRetryMillis: 2000 });
      expect(await tab(joining, "settle", "open")).toMatchObject({
        ok: false,
        error: {
          name: "OversyncClientError",
          code: "database_already_owned",
          message: expect.stringContaining("stayed held elsewhere for 2000 ms"),
        },
      });
      const attempts = await tab(joining, "openCalls");
      expect(attempts).toBeGreaterThan(1);

      // Freed while the next tab retries: it takes over.
      await tab(joining, "startOpen", setup);
      await tab(joining, "waitForOpenCalls", attempts + 2);
      await tab(holder, "releasePool");
      expect(await tab(joining, "settle", "open")).toEqual({ ok: true, value: "owner" });
    });
  });

  it("the pages raised no uncaught error", () => {
    expect(pageErrors).toEqual([]);
  });
});
