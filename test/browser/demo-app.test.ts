/**
 * The demo web app (demo/) end to end in headless Chromium: Vite builds it afresh, the reference
 * server serves it at /demo/ next to the sync routes on real PostgreSQL, and each browser context
 * stands for one browser (its own OPFS and service worker; its pages are that browser's tabs). Every wait is for something the page
 * shows (a row, the status line's data attributes), never for a fixed time.
 *
 * The screenshot is written to test-results/demo.png (gitignored) and its path printed.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDemo } from "../../demo/build-demo.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { repoRoot, startQuietReferenceServer } from "../support/readme-support.js";
import { describeInChromium, launchChromium } from "./chromium.js";

/** How long a wait for the page may take before the test fails. */
const WAIT_MS = 30_000;
const SCREENSHOT = join(repoRoot, "test-results", "demo.png");

/** One browser of a user: a context (own storage) with the demo open in one page. */
interface Device {
  readonly context: BrowserContext;
  readonly page: Page;
}

/** The status line as its data attributes say. */
interface StatusLine {
  readonly connection: string;
  readonly activity: string;
  readonly pending: number;
  readonly syncedAt: string;
  readonly storage: string;
}

describeInChromium("the demo web app in Chromium", () => {
  let outDir: string;
  let database: TestDatabase;
  let server: RunningServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), "oversync-demo-build-"));
    await buildDemo(outDir);
    database = await createTestDatabase("oversync_demo");
    server = await startQuietReferenceServer(database.url, join(outDir, "unused-pglite"), {
      demoDir: outDir,
    });
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await database?.drop();
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  });

  /** A new browser (context) with the demo open. */
  async function openDemo(): Promise<Device> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
    await page.goto(`${server.url}/demo/`);
    return { context, page };
  }

  async function closeAll(...devices: Device[]): Promise<void> {
    for (const device of devices) await device.context.close();
  }

  async function signIn(device: Device, user: string): Promise<void> {
    const { page } = device;
    await page.waitForSelector("body[data-screen=sign-in]", { timeout: WAIT_MS });
    await page.fill("#sign-in-user", user);
    await page.click("#sign-in-form button[type=submit]");
    await page.waitForSelector("body[data-screen=workspace] #lists[data-loaded]", {
      state: "attached",
      timeout: WAIT_MS,
    });
  }

  async function addList(device: Device, name: string): Promise<void> {
    await device.page.fill("#new-list input[name=name]", name);
    await device.page.press("#new-list input[name=name]", "Enter");
    // A new list is selected at once.
    await device.page.waitForSelector(`#lists li.selected .name >> text="${name}"`, { timeout: WAIT_MS });
  }

  async function selectList(device: Device, name: string): Promise<void> {
    await device.page.click(`#lists li button.name >> text="${name}"`);
    await device.page.waitForSelector(`#lists li.selected .name >> text="${name}"`, { timeout: WAIT_MS });
  }

  async function addTodo(device: Device, name: string): Promise<void> {
    await device.page.fill("#new-todo input[name=name]", name);
    await device.page.press("#new-todo input[name=name]", "Enter");
    await device.page.waitForSelector(`#todos li .name >> text="${name}"`, { timeout: WAIT_MS });
  }

  async function renameTodo(device: Device, from: string, to: string): Promise<void> {
    const named = device.page.locator("#todos li", { has: device.page.locator(`.name >> text="${from}"`) });
    // The row's content becomes a form, so it is found again by its id.
    const item = device.page.locator(`#todos li[data-id="${await named.getAttribute("data-id")}"]`);
    await item.locator("button.edit").click();
    await item.locator("form.rename input").fill(to);
    await item.locator("form.rename input").press("Enter");
    await device.page.waitForSelector(`#todos li .name >> text="${to}"`, { timeout: WAIT_MS });
  }

  async function finishTodo(device: Device, name: string): Promise<void> {
    const item = device.page.locator("#todos li", { has: device.page.locator(`.name >> text="${name}"`) });
    await item.locator("button.done").click();
    await device.page.waitForSelector(`#todos li .name >> text="${name}"`, {
      state: "detached",
      timeout: WAIT_MS,
    });
  }

  /** Waits until the selector's elements show exactly `texts`, in order. */
  async function waitForTexts(device: Device, selector: string, texts: readonly string[]): Promise<void> {
    try {
      await device.page.waitForFunction(
        ([css, expected]) =>
          JSON.stringify([...document.querySelectorAll(css)].map((node) => node.textContent)) === expected,
        [selector, JSON.stringify(texts)] as const,
        { timeout: WAIT_MS },
      );
    } catch (error) {
      const shown = await texts_(device, selector);
      throw new Error(`${selector} shows ${JSON.stringify(shown)}, expected ${JSON.stringify(texts)}`, {
        cause: error,
      });
    }
  }

  function texts_(device: Device, selector: string): Promise<(string | null)[]> {
    return device.page.$$eval(selector, (nodes) => nodes.map((node) => node.textContent));
  }

  const lists = (device: Device, names: readonly string[]) => waitForTexts(device, "#lists li .name", names);
  const todos = (device: Device, names: readonly string[]) => waitForTexts(device, "#todos li .name", names);

  async function status(device: Device): Promise<StatusLine> {
    const data = await device.page.$eval("#status", (node) => ({ ...(node as HTMLElement).dataset }));
    return {
      connection: data.connection ?? "",
      activity: data.activity ?? "",
      pending: Number(data.pending),
      syncedAt: data.syncedAt ?? "",
      storage: data.storage ?? "",
    };
  }

  /** Waits until the status line satisfies `condition` (checked on each change of its attributes). */
  async function waitForStatus(
    device: Device,
    what: string,
    condition: (line: StatusLine) => boolean,
  ): Promise<StatusLine> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const line = await status(device);
      if (condition(line)) return line;
      if (Date.now() > deadline)
        throw new Error(`the status line never showed ${what}: ${JSON.stringify(line)}`);
      await statusChange(device, 1000);
    }
  }

  /** Whether #status's attributes change within `millis` (resolves as soon as they do). */
  function statusChange(device: Device, millis: number): Promise<boolean> {
    return device.page.evaluate(
      (timeout) =>
        new Promise<boolean>((resolve) => {
          const observer = new MutationObserver(() => {
            observer.disconnect();
            resolve(true);
          });
          observer.observe(document.getElementById("status")!, { attributes: true });
          setTimeout(() => {
            observer.disconnect();
            resolve(false);
          }, timeout);
        }),
      millis,
    );
  }

  const uploaded = (device: Device) =>
    waitForStatus(
      device,
      "everything uploaded",
      (line) => line.connection === "online" && line.pending === 0,
    );

  /** Rows of the user's lists and todos in PostgreSQL. */
  async function serverRows(user: string): Promise<{ lists: string[]; todos: string[] }> {
    const teams = await database.pool.query<{ name: string }>(
      "SELECT name FROM business.teams WHERE _sync_scope_id = $1 ORDER BY name",
      [user],
    );
    const members = await database.pool.query<{ name: string }>(
      "SELECT name FROM business.team_members WHERE _sync_scope_id = $1 ORDER BY name",
      [user],
    );
    return { lists: teams.rows.map((row) => row.name), todos: members.rows.map((row) => row.name) };
  }

  const someone = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

  it("two browsers of one user converge: lists, todos, renames and deletes reach the other", async () => {
    const user = someone("ada");
    const [laptop, phone] = [await openDemo(), await openDemo()];
    await signIn(laptop, user);
    await signIn(phone, user);
    await addList(laptop, "Groceries");
    await addTodo(laptop, "milk");
    await addTodo(laptop, "bread");
    await lists(phone, ["Groceries"]);
    await todos(phone, ["bread", "milk"]);

    await addTodo(phone, "eggs");
    await renameTodo(phone, "bread", "rye bread");
    await finishTodo(phone, "milk");
    await addList(phone, "Hardware");
    await addTodo(phone, "nails");
    await lists(laptop, ["Groceries", "Hardware"]);
    await selectList(laptop, "Groceries");
    await todos(laptop, ["eggs", "rye bread"]);
    await selectList(laptop, "Hardware");
    await todos(laptop, ["nails"]);

    await Promise.all([uploaded(laptop), uploaded(phone)]);
    expect(await texts_(laptop, "#lists li .count")).toEqual(["2", "1"]);
    expect(await texts_(phone, "#lists li .count")).toEqual(["2", "1"]);
    expect(await serverRows(user)).toEqual({
      lists: ["Groceries", "Hardware"],
      todos: ["eggs", "nails", "rye bread"],
    });
    expect((await status(laptop)).storage).toBe("opfs");
    await closeAll(laptop, phone);
  });

  it("an edit made offline shows at once, waits as a pending change, and syncs when back online", async () => {
    const user = someone("grace");
    const [laptop, phone] = [await openDemo(), await openDemo()];
    await signIn(laptop, user);
    await signIn(phone, user);
    await addList(laptop, "Trip");
    await lists(phone, ["Trip"]);
    await uploaded(laptop);

    await laptop.context.setOffline(true);
    await addTodo(laptop, "passport");
    await waitForStatus(
      laptop,
      "one pending change, offline",
      (line) => line.pending === 1 && line.connection === "offline",
    );
    expect((await serverRows(user)).todos).toEqual([]);

    await laptop.context.setOffline(false);
    await todos(phone, ["passport"]);
    await uploaded(laptop);
    expect((await serverRows(user)).todos).toEqual(["passport"]);
    await closeAll(laptop, phone);
  });

  it("a reload offline keeps the rows and the pending change (OPFS); back online, it reaches the other browser", async () => {
    const user = someone("linus");
    const [laptop, phone] = [await openDemo(), await openDemo()];
    await signIn(laptop, user);
    await signIn(phone, user);
    await addList(laptop, "Books");
    await lists(phone, ["Books"]);
    await uploaded(laptop);
    // The service worker has cached the app, so the page opens without a network.
    await laptop.page.waitForSelector("body[data-offline-ready=true]", {
      state: "attached",
      timeout: WAIT_MS,
    });

    await laptop.context.setOffline(true);
    await addTodo(laptop, "Dune");
    await waitForStatus(laptop, "one pending change", (line) => line.pending === 1);
    await laptop.page.reload();
    await laptop.page.waitForSelector("body[data-screen=workspace] #lists[data-loaded]", {
      state: "attached",
      timeout: WAIT_MS,
    });
    await lists(laptop, ["Books"]);
    await todos(laptop, ["Dune"]);
    // The change is still queued in the local database, which alone holds it: the server has not seen it.
    const reloaded = await waitForStatus(
      laptop,
      "one pending change after the reload",
      (line) => line.pending === 1,
    );
    expect(reloaded.storage).toBe("opfs");
    expect((await serverRows(user)).todos).toEqual([]);

    await laptop.context.setOffline(false);
    await todos(phone, ["Dune"]);
    await uploaded(laptop);
    expect((await serverRows(user)).todos).toEqual(["Dune"]);
    await closeAll(laptop, phone);
  });

  it("a second user sees none of the first user's rows, and the first none of theirs", async () => {
    const first = someone("alice");
    const second = someone("bob");
    const alice = await openDemo();
    await signIn(alice, first);
    await addList(alice, "Alice's secrets");
    await addTodo(alice, "hidden");
    await uploaded(alice);

    // Bob signs in after Alice's rows are on the server: restoring his account brings none of them.
    const bob = await openDemo();
    await signIn(bob, second);
    await waitForStatus(bob, "a completed sync", (line) => line.syncedAt !== "");
    expect(await texts_(bob, "#lists li .name")).toEqual([]);
    await addList(bob, "Bob's plans");
    await uploaded(bob);

    // Alice syncs after Bob's list is on the server, and still sees only her own.
    const before = (await status(alice)).syncedAt;
    await alice.page.click("#sync-now");
    await waitForStatus(
      alice,
      "a sync after Bob's upload",
      (line) => line.syncedAt > before && line.pending === 0,
    );
    expect(await texts_(alice, "#lists li .name")).toEqual(["Alice's secrets"]);
    expect(await texts_(bob, "#lists li .name")).toEqual(["Bob's plans"]);
    expect(await serverRows(first)).toEqual({ lists: ["Alice's secrets"], todos: ["hidden"] });
    expect(await serverRows(second)).toEqual({ lists: ["Bob's plans"], todos: [] });
    await closeAll(alice, bob);
  });

  it("two tabs of one browser share the user's database; closing the tab that holds it hands it over", async () => {
    const user = someone("tabs");
    const first = await openDemo();
    await signIn(first, user);
    const second: Device = { context: first.context, page: await first.context.newPage() };
    second.page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
    // The session is shared, so the second tab opens straight on the lists, through the first tab.
    await second.page.goto(`${server.url}/demo/`);
    await second.page.waitForSelector("body[data-screen=workspace] #lists[data-loaded]", {
      state: "attached",
      timeout: WAIT_MS,
    });
    expect((await status(first)).storage).toBe("opfs");
    expect((await status(second)).storage).toBe("another-tab");

    await addList(first, "Shared");
    await lists(second, ["Shared"]);
    await selectList(second, "Shared");
    await addTodo(second, "from the second tab");
    await todos(first, ["from the second tab"]);

    await first.page.close();
    await waitForStatus(second, "this tab holding the database", (line) => line.storage === "opfs");
    await addTodo(second, "after the hand-over");
    await uploaded(second);
    expect(await serverRows(user)).toEqual({
      lists: ["Shared"],
      todos: ["after the hand-over", "from the second tab"],
    });
    await closeAll(second);
  });

  it("writes a screenshot of the demo", async () => {
    const device = await openDemo();
    await signIn(device, someone("ada"));
    await addList(device, "Weekend");
    await addTodo(device, "water the plants");
    await addList(device, "Groceries");
    for (const todo of ["bread", "coffee", "oranges"]) await addTodo(device, todo);
    // For a calm picture (not a check): the status idle, with nothing uploaded, and so for a second.
    do {
      await waitForStatus(
        device,
        "everything uploaded, nothing running",
        (line) => line.pending === 0 && line.activity === "idle",
      );
    } while (await statusChange(device, 1000));
    await mkdir(join(repoRoot, "test-results"), { recursive: true });
    await device.page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = await readFile(SCREENSHOT);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    console.log(`screenshot of the demo: ${SCREENSHOT}`);
    await closeAll(device);
  });

  it("no page raised an uncaught error", () => {
    expect(pageErrors).toEqual([]);
  });
});
