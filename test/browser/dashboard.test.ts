/**
 * The reference server's diagnostics dashboard (`/dashboard`) in headless Chromium, on a real
 * `startServer` over PostgreSQL with an admin token: on the server's machine the page loads without
 * asking for anything and draws live figures; while `oversync simulate` pushes from several devices
 * its tiles, charts and tables follow (the bundles committed, the charts' points, the simulated
 * users with their devices); an open watch stream and a 5xx answer show in their tables; a caller
 * off the machine gets a page that shows nothing and asks for the token, refuses a wrong one, and
 * works with the right one, which it sends only as a bearer header, never in a URL. Every wait is for
 * something the page shows (its data attributes), never for a fixed time.
 *
 * The remote caller is real (Chromium at this machine's interface address, the server on all
 * interfaces) when the machine has such an address, otherwise simulated: a handler built from the
 * same parts, served by test/support/remote-caller.ts with a fixed remote peer address.
 *
 * The screenshot is written to test-results/dashboard.png (gitignored) and its path printed.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEV_JWT_SECRET,
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
  type RunningServer,
  ServerActivity,
  createDashboard,
  createJwtAuth,
  createReferenceHandler,
  createServerMetrics,
  runSimulation,
  startServer,
} from "@oversync/cli";
import { type SyncRuntime, createSyncService } from "@oversync/server";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { device, openWatch, pushBundle, send, signIn, userRow } from "../cli/serve-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { repoRoot } from "../support/readme-support.js";
import {
  type LocalAndRemote,
  interfaceAddress,
  remoteCallerKind,
  serveLocalAndRemote,
} from "../support/remote-caller.js";
import { describeInChromium, launchChromium } from "./chromium.js";

/** How long a wait for the page may take before the test fails. */
const WAIT_MS = 30_000;
const SCREENSHOT = join(repoRoot, "test-results", "dashboard.png");
const TOKEN = "dashboard-test-admin-token-0123456789";

describeInChromium(
  `the reference server's dashboard in Chromium (remote caller ${remoteCallerKind()})`,
  () => {
    let dataDir: string;
    let database: TestDatabase;
    let server: RunningServer;
    /** `http://127.0.0.1:<port>`: the server's own machine. */
    let local: string;
    /** The server as a caller off the machine reaches it. */
    let remote: string;
    /** The simulated remote server, when the machine has no interface address. */
    let simulated: { server: LocalAndRemote; service: SyncRuntime } | undefined;
    let browser: Browser;
    let page: Page;
    const contexts: BrowserContext[] = [];
    const pageErrors: string[] = [];

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), "oversync-dashboard-"));
      database = await createTestDatabase("oversync_dashboard");
      server = await startServer({
        port: 0,
        host: "0.0.0.0",
        dataDir,
        databaseUrl: database.url,
        jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
        tokenTtlSeconds: 600,
        shutdownGraceMs: 1000,
        testHooks: true,
        adminToken: TOKEN,
        logger: { info: () => {}, warn: () => {}, error: () => {} },
        say: () => {},
      });
      const port = new URL(server.url).port;
      local = `http://127.0.0.1:${port}`;
      const address = interfaceAddress();
      if (address !== undefined) {
        remote = `http://${address}:${port}`;
      } else {
        simulated = await simulatedRemote();
        remote = simulated.server.remote;
      }
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await simulated?.server.close();
      await simulated?.service.close();
      await server?.close();
      await database?.drop();
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    });

    /** The reference handler with its dashboard, built as `serve` builds it, for a simulated remote caller. */
    async function simulatedRemote(): Promise<{ server: LocalAndRemote; service: SyncRuntime }> {
      const service = createSyncService({
        pool: database.pool,
        appName: EXAMPLE_APP_NAME,
        registeredTables: EXAMPLE_REGISTERED_TABLES,
        maxSupportedSchemaVersion: 1,
        logger: { warn: () => undefined, error: () => undefined },
      });
      await service.bootstrap();
      const metrics = createServerMetrics();
      const activity = new ServerActivity();
      const handler = createReferenceHandler({
        service,
        auth: createJwtAuth({ secret: DEV_JWT_SECRET }),
        adminAccess: { token: TOKEN },
        metrics,
        dashboard: createDashboard({ registry: metrics.registry, db: database.pool, activity }),
        logger: activity.tap({ info: () => undefined, warn: () => undefined, error: () => undefined }),
      });
      return { server: await serveLocalAndRemote(handler), service };
    }

    /** A new browser (context) with the dashboard of `origin` open; `watch` sees its page before it loads. */
    async function openPage(
      origin: string,
      watch: (context: BrowserContext, page: Page) => void = () => undefined,
    ): Promise<{ context: BrowserContext; page: Page }> {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      contexts.push(context);
      const opened = await context.newPage();
      opened.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
      watch(context, opened);
      const response = await opened.goto(`${origin}/dashboard`);
      expect(response?.status()).toBe(200);
      return { context, page: opened };
    }

    /** A number the page shows: a tile's or chart's data attribute. */
    async function shown(selector: string, attribute: string): Promise<number> {
      const text = await page.$eval(selector, (node, name) => node.getAttribute(name), attribute);
      return Number(text);
    }

    /** Waits until `selector`'s `attribute` is a number above `floor` (re-checked on each render). */
    async function waitAbove(
      selector: string,
      attribute: string,
      what: string,
      floor: number,
    ): Promise<number> {
      try {
        await page.waitForFunction(
          ([css, name, above]) => {
            const text = document.querySelector(css)?.getAttribute(name);
            return text !== null && text !== undefined && text !== "" && Number(text) > above;
          },
          [selector, attribute, floor] as const,
          { timeout: WAIT_MS },
        );
      } catch (error) {
        throw new Error(`${what}: ${selector} ${attribute} stayed ${await shown(selector, attribute)}`, {
          cause: error,
        });
      }
      return shown(selector, attribute);
    }

    it("opens on the server's machine without a token and draws live figures", async () => {
      ({ page } = await openPage(local));
      await page.waitForSelector("body[data-state=live][data-polls]", {
        state: "attached",
        timeout: WAIT_MS,
      });
      expect(await page.isHidden("#token-form")).toBe(true);
      expect(await page.textContent("#app")).toBe(`${EXAMPLE_APP_NAME} · running`);
      expect(Number.isInteger(await shown("#t-requests", "data-value"))).toBe(true);
      // A second poll has a reading to measure rates from.
      await waitAbove("body", "data-polls", "a second poll", 1);
      expect(await page.$eval("#t-rps", (node) => node.getAttribute("data-value"))).toMatch(/^[0-9.]+$/);
    });

    it("follows oversync simulate: bundles, charts, and the simulated users with their devices", async () => {
      const bundlesBefore = await shown("#t-bundles", "data-value");
      const requestsBefore = await shown("#t-requests", "data-value");
      const progress = { text: "", write: (chunk: string) => (progress.text += chunk) };
      const simulation = runSimulation({
        scenarios: ["multi-device-sync", "multi-device-complex"],
        serverUrl: local,
        parallel: 2,
        cleanup: true,
        progress,
      });
      // While the devices push, the page's figures move on their own polls.
      const bundles = await waitAbove("#t-bundles", "data-value", "bundles committed", bundlesBefore);
      await waitAbove("#chart-bundles", "data-max", "the bundles chart", 0);
      await waitAbove("#chart-requests", "data-max", "the request-rate chart", 0);
      await waitAbove("#t-requests", "data-value", "requests", requestsBefore);
      const report = await simulation;
      expect(report.failed, progress.text).toBe(0);
      // The page has drawn what the server held after the run once a poll begun after it is shown
      // (the one under way when the run ended may have begun before).
      await waitAbove(
        "body",
        "data-polls",
        "two polls after the run",
        (await shown("body", "data-polls")) + 1,
      );
      // Every simulated user is listed, with its devices.
      const users = report.runs.flatMap((run) => run.user_ids);
      for (const user of users) {
        const scope = await page.$eval(`tbody[data-scope="${user}"]`, (tbody) => ({
          cells: [...tbody.querySelectorAll("tr.scope td")].map((td) => td.textContent),
          sources: [...tbody.querySelectorAll("tr.source")].map((tr) => [
            tr.getAttribute("data-source"),
            tr.querySelectorAll("td")[3]!.textContent,
          ]),
        }));
        expect(scope.cells[0]).toBe(user);
        expect(scope.cells[1]).toBe(user);
        expect(scope.cells[3]).toBe("initialized");
        expect(Number(scope.cells[4])).toBeGreaterThan(0);
        expect(scope.sources.length, user).toBeGreaterThanOrEqual(2);
        expect(scope.sources.every(([, state]) => state === "active" || state === "no commit yet")).toBe(
          true,
        );
        expect(scope.sources.some(([, state]) => state === "active")).toBe(true);
      }
      expect(bundles).toBeGreaterThan(bundlesBefore);
      // The endpoint table lists the push endpoints with their latencies.
      const commit = await page.$eval('#endpoints tr[data-endpoint="pushCommit"]', (tr) =>
        [...tr.querySelectorAll("td")].map((td) => td.textContent),
      );
      expect(Number(commit[4]!.replace(/,/g, ""))).toBeGreaterThan(0);
    });

    it("shows an open watch stream and a 5xx answer, and writes the screenshot", async () => {
      const user = `watcher-${randomUUID().slice(0, 8)}`;
      const token = await signIn(local, user);
      const tablet = device(local, token, "tablet");
      const bundleSeq = await pushBundle(tablet, 1, [userRow(randomUUID(), "Watching Ada")]);
      const watch = await openWatch(local, token, "tablet", bundleSeq);
      expect(watch.status).toBe(200);
      await page.waitForSelector(`#watch tr[data-scope="${user}"]`, { timeout: WAIT_MS });
      expect(await page.textContent(`#watch tr[data-scope="${user}"] td.num`)).toBe("1");
      await waitAbove("#t-watch", "data-value", "open watch streams", 0);

      const rule = await send(`${local}/test/fail-requests`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user_id: user, endpoint: "pull", status: 500 }),
      });
      expect(rule.status).toBe(200);
      const pull = await send(`${local}/sync/pull?after_bundle_seq=0`, {
        headers: { authorization: `Bearer ${token}`, "oversync-source-id": "tablet" },
      });
      expect(pull.status).toBe(500);
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll("#errors tr.error td")].some(
            (td) => td.textContent === "GET /sync/pull answered 500",
          ),
        undefined,
        { timeout: WAIT_MS },
      );

      await mkdir(join(repoRoot, "test-results"), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const png = await readFile(SCREENSHOT);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      console.log(`screenshot of the dashboard: ${SCREENSHOT}`);

      watch.close();
      await page.waitForSelector(`#watch tr[data-scope="${user}"]`, { state: "detached", timeout: WAIT_MS });
    });

    it("asks a caller off the server's machine for the token, refuses a wrong one, and opens with the right one", async () => {
      const urls: string[] = [];
      const dataCalls: { status: number; authorization: string | undefined }[] = [];
      // Listening from before the page loads, so its first data request is seen too.
      const { page: outside } = await openPage(remote, (context, opened) => {
        context.on("request", (request) => urls.push(request.url()));
        opened.on("response", (response) => {
          if (new URL(response.url()).pathname === "/dashboard/data") {
            dataCalls.push({
              status: response.status(),
              authorization: response.request().headers().authorization,
            });
          }
        });
      });
      await outside.waitForSelector("body[data-state=token-needed]", { state: "attached", timeout: WAIT_MS });
      expect(await outside.isVisible("#token-form")).toBe(true);
      expect(await outside.textContent("#token-note")).toContain("send the admin token");
      // Nothing of the server's data reached the page.
      expect(await outside.$$("tbody[data-scope]")).toEqual([]);
      expect(await outside.getAttribute("body", "data-polls")).toBeNull();
      expect(await outside.textContent("#t-bundles")).toBe("–");

      await outside.fill("#token", `${TOKEN}-wrong`);
      await outside.click("#token-form button[type=submit]");
      await outside.waitForSelector("body[data-state=token-refused]", {
        state: "attached",
        timeout: WAIT_MS,
      });
      expect(await outside.evaluate(() => sessionStorage.getItem("oversync-admin-token"))).toBeNull();
      expect(await outside.getAttribute("body", "data-polls")).toBeNull();

      await outside.fill("#token", TOKEN);
      await outside.click("#token-form button[type=submit]");
      await outside.waitForSelector("body[data-state=live][data-polls]", {
        state: "attached",
        timeout: WAIT_MS,
      });
      expect(await outside.isHidden("#token-form")).toBe(true);
      expect(Number.isInteger(Number(await outside.getAttribute("#t-requests", "data-value")))).toBe(true);
      expect(await outside.evaluate(() => sessionStorage.getItem("oversync-admin-token"))).toBe(TOKEN);

      expect(dataCalls.map((call) => call.status)).toEqual([403, 403, ...dataCalls.slice(2).map(() => 200)]);
      expect(dataCalls.map((call) => call.authorization)).toEqual([
        undefined,
        `Bearer ${TOKEN}-wrong`,
        ...dataCalls.slice(2).map(() => `Bearer ${TOKEN}`),
      ]);
      expect(urls.filter((url) => url.includes(TOKEN))).toEqual([]);
      expect(outside.url()).toBe(`${remote}/dashboard`);
    });

    it("no page raised an uncaught error", async () => {
      for (const context of contexts) await context.close();
      expect(pageErrors).toEqual([]);
    });
  },
);
