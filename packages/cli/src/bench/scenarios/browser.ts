/**
 * The client in a browser: Debian's Chromium (driven by playwright-core) runs the page of
 * bench/browser-page, built by Vite from the sources, against an `oversync serve` child on
 * PostgreSQL. In the page a client on the sqlite-wasm driver (OPFS, in its worker) restores --rows
 * rows from a snapshot (the rows pushed from this process first) and pushes --browser-push-rows
 * rows of its own; the limit of each is raw sqlite-wasm inserting the same rows in the same page
 * (a worker of its own, one prepared statement, one transaction), and the same inserts through
 * the driver are shown too. The browser's profile lives in a temporary directory, so OPFS is on
 * disk (an incognito context would keep it in memory).
 *
 * Before that, the gzip size of what an app ships to sync in a browser: the client and the driver
 * bundled by Vite (the page's JS, the driver's worker with SQLite's JS glue, and sqlite3.wasm).
 *
 * It needs the repository (the page's sources, and its dev dependencies vite and playwright-core)
 * and /usr/bin/chromium; without them it is skipped with a note saying why.
 */
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import { toNodeListener } from "@oversync/server";
import { serveBuiltFiles } from "../../demo-files.js";
import { DEVICE_CONFIG, DEVICE_SQL, insertLocally, itemsFor } from "../bench-schema.js";
import type { BenchContext } from "../context.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
/**
 * bench/browser-page of the repository: five levels up from src/bench/scenarios (and
 * dist/bench/scenarios). Resolved when the scenario runs, not at import: where the CLI is bundled
 * or loaded from a non-file URL, importing it must still work.
 */
function benchPageDir(): string {
  return fileURLToPath(new URL("../../../../../bench/browser-page/", import.meta.url));
}
const SOURCE_CONDITIONS = ["@oversync/source", "module", "browser", "development|production"];
const PAGE_PATH = "/bench";

/** What the page answers (bench/browser-page/main.ts), in milliseconds. */
interface PushTimes {
  readonly rawInsert: number;
  readonly insert: number;
  readonly push: number;
}

interface RestoreTimes {
  readonly restore: number;
  readonly rawInsert: number;
  readonly insert: number;
}

type Vite = typeof import("vite");
type Playwright = typeof import("playwright-core");

export async function runBrowser(ctx: BenchContext): Promise<void> {
  const skip = (why: string) => {
    ctx.notes.push(`Skipped: ${why}.`);
    ctx.progress(`skipped: ${why}`);
  };
  if (!existsSync(CHROMIUM)) return skip(`no ${CHROMIUM} on this machine (apt-get install chromium)`);
  if (!existsSync(join(benchPageDir(), "index.html"))) {
    return skip("its page (bench/browser-page) is in the oversync repository: run the bench there");
  }
  let vite: Vite;
  let playwright: Playwright;
  try {
    vite = await import("vite");
    playwright = await import("playwright-core");
  } catch {
    return skip("it needs the repository's dev dependencies vite and playwright-core (npm install)");
  }
  await measureBundle(ctx, vite);
  await measureInBrowser(ctx, vite, playwright);
}

/** Builds the client and the driver as an app would, and adds the gzip sizes of what it emits. */
async function measureBundle(ctx: BenchContext, vite: Vite): Promise<void> {
  ctx.progress("bundle sizes");
  const outDir = await ctx.tempDir();
  await vite.build({
    root: benchPageDir(),
    configFile: false,
    logLevel: "warn",
    resolve: { conditions: SOURCE_CONDITIONS },
    worker: { format: "es" },
    build: {
      outDir,
      emptyOutDir: true,
      target: "es2022",
      reportCompressedSize: false,
      rollupOptions: { input: join(benchPageDir(), "size-entry.ts") },
    },
  });
  const sizes = { page: [0, 0], worker: [0, 0], wasm: [0, 0] };
  const unused: string[] = [];
  for (const entry of await readdir(join(outDir, "assets"))) {
    const bytes = await readFile(join(outDir, "assets", entry));
    const pair = [bytes.byteLength, gzipSync(bytes, { level: 9 }).byteLength];
    if (entry.endsWith(".wasm")) sizes.wasm = add(sizes.wasm, pair);
    else if (entry.startsWith("sqlite-wasm-worker")) sizes.worker = add(sizes.worker, pair);
    // sqlite-wasm's other workers (its Worker1 API and the "opfs" VFS proxy), emitted but never loaded.
    else if (/^sqlite3-(worker1|opfs-async-proxy)/.test(entry)) unused.push(entry);
    else if (entry.endsWith(".js")) sizes.page = add(sizes.page, pair);
  }
  const kib = (bytes: number) => bytes / 1024;
  const f = ctx.figures;
  f.add("browser.size-js", "client + sqlite-wasm driver, all JS loaded (gzip)", "KiB", [
    kib(sizes.page[1]! + sizes.worker[1]!),
  ]);
  f.add("browser.size-page-js", "… of which the page's bundle: client, driver, zod (gzip)", "KiB", [
    kib(sizes.page[1]!),
  ]);
  f.add("browser.size-worker-js", "… of which the driver's worker with SQLite's JS glue (gzip)", "KiB", [
    kib(sizes.worker[1]!),
  ]);
  f.add("browser.size-wasm", "sqlite3.wasm (gzip)", "KiB", [kib(sizes.wasm[1]!)]);
  ctx.notes.push(
    `Bundle: Vite ${vite.version}, minified, of \`createSyncClient\` and \`openSqliteWasmDriver\`; before gzip the page's JS is ${kib(sizes.page[0]!).toFixed(1)} KiB, the worker's ${kib(sizes.worker[0]!).toFixed(1)} KiB, sqlite3.wasm ${kib(sizes.wasm[0]!).toFixed(1)} KiB. Also emitted but never loaded by the driver: ${unused.join(", ") || "nothing"}.`,
  );
}

function add(sum: number[], pair: number[]): number[] {
  return [sum[0]! + pair[0]!, sum[1]! + pair[1]!];
}

async function measureInBrowser(ctx: BenchContext, vite: Vite, playwright: Playwright): Promise<void> {
  const { rows, browserPushRows } = ctx.sizes;
  const db = await ctx.database();
  const server = await ctx.serve(db);

  ctx.progress(`pushing ${rows.toLocaleString("en-US")} rows from Node for the browser to restore`);
  const restoreUser = `bench-browser-restore-${randomUUID()}`;
  const seeder = await ctx.device(server, await ctx.tempDir(), "seeder", restoreUser);
  await seeder.client.attach(restoreUser);
  await insertLocally(seeder.driver, "items", itemsFor(rows));
  await seeder.client.pushPending();
  await seeder.close();

  const pageDir = await ctx.tempDir();
  await vite.build({
    root: benchPageDir(),
    base: `${PAGE_PATH}/`,
    configFile: false,
    logLevel: "warn",
    resolve: { conditions: SOURCE_CONDITIONS },
    worker: { format: "es" },
    build: { outDir: pageDir, emptyOutDir: true, target: "es2022", reportCompressedSize: false },
  });
  const files = serveBuiltFiles(pageDir, PAGE_PATH);
  const pageServer = createServer(
    toNodeListener(async (request) => (await files(request)) ?? new Response("not found", { status: 404 })),
  );
  await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  ctx.defer(() => closeServer(pageServer));

  const context = await playwright.chromium.launchPersistentContext(await ctx.tempDir(), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  ctx.defer(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${(pageServer.address() as AddressInfo).port}${PAGE_PATH}/`);
  await page.waitForFunction(() => "oversyncBrowserBench" in window);
  const call = async <R>(method: "push" | "restore", user: string, count: number, round: number) => {
    const request = {
      baseUrl: `${server.origin}/`,
      token: await server.token(user),
      user,
      rows: count,
      round,
      deviceSql: DEVICE_SQL,
      config: DEVICE_CONFIG,
    };
    try {
      return (await page.evaluate(
        ([name, argument]) =>
          (window as unknown as Record<string, Record<string, (value: unknown) => Promise<unknown>>>)
            .oversyncBrowserBench![name]!(argument),
        [method, request] as const,
      )) as R;
    } catch (error) {
      throw new Error(
        `the page's ${method} failed: ${(error as Error).message}; page errors: ${pageErrors.join("; ")}`,
      );
    }
  };

  const times = {
    restore: [] as number[],
    restoreRaw: [] as number[],
    restoreInsert: [] as number[],
    push: [] as number[],
    pushRaw: [] as number[],
    pushInsert: [] as number[],
  };
  for (let round = 0; round < ctx.rounds; round++) {
    ctx.progress(`round ${round + 1}/${ctx.rounds}`);
    const restored = await call<RestoreTimes>("restore", restoreUser, rows, round);
    times.restore.push(restored.restore);
    times.restoreRaw.push(restored.rawInsert);
    times.restoreInsert.push(restored.insert);
    const pushed = await call<PushTimes>(
      "push",
      `bench-browser-push-${randomUUID()}`,
      browserPushRows,
      round,
    );
    times.push.push(pushed.push);
    times.pushRaw.push(pushed.rawInsert);
    times.pushInsert.push(pushed.insert);
  }

  const restoreCount = rows.toLocaleString("en-US");
  const pushCount = browserPushRows.toLocaleString("en-US");
  const f = ctx.figures;
  f.add(
    "browser.restore-raw",
    `raw sqlite-wasm INSERT of the ${restoreCount} restored rows`,
    "ms",
    times.restoreRaw,
    {
      rows,
      isLimit: true,
    },
  );
  f.add("browser.restore", `attach() restoring ${restoreCount} rows from a snapshot`, "ms", times.restore, {
    rows,
    limit: "browser.restore-raw",
  });
  f.add("browser.restore-insert", `the same rows inserted through the driver`, "ms", times.restoreInsert, {
    rows,
    limit: "browser.restore-raw",
  });
  f.add("browser.push-raw", `raw sqlite-wasm INSERT of ${pushCount} rows`, "ms", times.pushRaw, {
    rows: browserPushRows,
    isLimit: true,
  });
  f.add("browser.push", `pushPending() of ${pushCount} rows over HTTP`, "ms", times.push, {
    rows: browserPushRows,
    limit: "browser.push-raw",
  });
  f.add(
    "browser.push-insert",
    `the app's INSERT of those rows through the driver (capture)`,
    "ms",
    times.pushInsert,
    {
      rows: browserPushRows,
      limit: "browser.push-raw",
    },
  );
  ctx.notes.push(
    `Chromium ${context.browser()?.version() ?? "(version unknown)"}, headless, OPFS (opfs-sahpool) on disk in a temporary profile. The raw limit is @sqlite.org/sqlite-wasm in a worker of its own: one prepared INSERT, one transaction, timed in the worker. "Through the driver" is the same inserts as an app makes them, one postMessage round trip each, in one transaction.`,
  );
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
