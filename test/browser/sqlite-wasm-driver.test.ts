/**
 * The sqlite-wasm driver in real headless Chromium: Vite bundles the test page (sqlite-wasm-page/,
 * with the driver's worker as the bundler finds it through `new URL(…, import.meta.url)`), a
 * loopback HTTP server serves it, and playwright-core drives Debian's Chromium. The page runs the
 * driver conformance cases and the browser-only cases on OPFS; each case's result becomes a test
 * here, so a failing case fails by name.
 *
 * Without /usr/bin/chromium the suite is skipped, saying so, unless OVERSYNC_REQUIRE_BROWSER=1
 * (set by CI), which makes a missing browser a failure.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type Page, chromium } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driverConformanceCases, groupCases } from "../client-drivers/driver-conformance-cases.js";
import { SQLITE_WASM_TRAITS, sqliteWasmCases } from "./sqlite-wasm-cases.js";
import type { CaseResult, SqliteWasmPage } from "./sqlite-wasm-page/main.js";

const CHROMIUM = "/usr/bin/chromium";
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "sqlite-wasm-page");
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".map": "application/json",
};

const required = process.env.OVERSYNC_REQUIRE_BROWSER === "1";
const available = existsSync(CHROMIUM);

if (!available && !required) {
  // Reported as skipped, never as passed.
  describe.skip(`sqlite-wasm driver in Chromium (skipped: no ${CHROMIUM}; apt-get install chromium)`, () => {
    it("runs the driver conformance cases in Chromium", () => {});
  });
} else if (!available) {
  describe("sqlite-wasm driver in Chromium", () => {
    it("needs Chromium (OVERSYNC_REQUIRE_BROWSER=1)", () => {
      expect.fail(
        `${CHROMIUM} is missing; install it (apt-get install -y chromium) or unset OVERSYNC_REQUIRE_BROWSER`,
      );
    });
  });
} else {
  describe("sqlite-wasm driver in Chromium", () => {
    let outDir: string;
    let server: Server;
    let browser: Browser;
    let page: Page;
    const results = new Map<string, CaseResult>();
    const pageErrors: string[] = [];

    beforeAll(async () => {
      outDir = await mkdtemp(join(tmpdir(), "oversync-sqlite-wasm-page-"));
      await build({
        root: PAGE_DIR,
        configFile: false,
        logLevel: "warn",
        resolve: { conditions: ["@oversync/source", "module", "browser", "development|production"] },
        worker: { format: "es" },
        build: { outDir, emptyOutDir: true, minify: false, reportCompressedSize: false, target: "es2022" },
      });
      server = await serve(outDir);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
      page = await browser.newPage();
      page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      const reported = await callPage(page, "runCases");
      for (const result of reported) results.set(key(result.group, result.name), result);
    }, 240_000);

    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
    });

    const cases = [...driverConformanceCases(SQLITE_WASM_TRAITS), ...sqliteWasmCases()];
    for (const [group, members] of groupCases(cases)) {
      describe(group, () => {
        for (const { name } of members) {
          it(name, () => {
            const result = results.get(key(group, name));
            if (result === undefined) expect.fail("the page reported no result for this case");
            if (result.failure !== undefined) expect.fail(result.failure);
          });
        }
      });
    }

    it("a database in OPFS keeps its rows across a page reload", async () => {
      await callPage(page, "writeBeforeReload");
      await page.reload();
      expect(await callPage(page, "readAfterReload")).toEqual({
        persistence: "opfs",
        rows: [{ id: "written before the reload" }],
      });
    });

    it("the page raised no uncaught error", () => {
      expect(pageErrors).toEqual([]);
    });
  });
}

/** Calls a method of the page's API (main.ts puts it on `window`) in the page, and awaits it. */
async function callPage<M extends keyof SqliteWasmPage>(
  page: Page,
  method: M,
): Promise<Awaited<ReturnType<SqliteWasmPage[M]>>> {
  const result = await page.evaluate(
    (name) =>
      (window as unknown as { oversyncTestPage: Record<string, () => Promise<unknown>> }).oversyncTestPage[
        name
      ]!(),
    method,
  );
  return result as Awaited<ReturnType<SqliteWasmPage[M]>>;
}

function key(group: string, name: string): string {
  return `${group} > ${name}`;
}

/** Serves the built page from `dir` on a free loopback port (a secure context, as OPFS needs). */
async function serve(dir: string): Promise<Server> {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    const file = join(dir, path.endsWith("/") ? `${path}index.html` : path);
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}
