/**
 * The sqlite-wasm driver in real headless Chromium: Vite bundles the test page (sqlite-wasm-page/,
 * with the driver's worker as the bundler finds it through `new URL(…, import.meta.url)`), a
 * loopback HTTP server serves it (test-page.ts), and playwright-core drives Debian's Chromium
 * (chromium.ts, which also skips the suite without Chromium). The page runs the driver conformance
 * cases and the browser-only cases on OPFS; each case's result becomes a test here, so a failing
 * case fails by name.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driverConformanceCases, groupCases } from "../client-drivers/driver-conformance-cases.js";
import { describeInChromium, launchChromium } from "./chromium.js";
import { type ServedPage, buildAndServePage, callPage } from "./test-page.js";
import { SQLITE_WASM_TRAITS, sqliteWasmCases } from "./sqlite-wasm-cases.js";
import type { CaseResult, SqliteWasmPage } from "./sqlite-wasm-page/main.js";

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "sqlite-wasm-page");

describeInChromium("sqlite-wasm driver in Chromium", () => {
  let served: ServedPage;
  let browser: Browser;
  let page: Page;
  const results = new Map<string, CaseResult>();
  const pageErrors: string[] = [];

  beforeAll(async () => {
    served = await buildAndServePage(PAGE_DIR);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
    await page.goto(served.url);
    const reported = await call(page, "runCases");
    for (const result of reported) results.set(key(result.group, result.name), result);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
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
    await call(page, "writeBeforeReload");
    await page.reload();
    expect(await call(page, "readAfterReload")).toEqual({
      persistence: "opfs",
      rows: [{ id: "written before the reload" }],
    });
  });

  it("the page raised no uncaught error", () => {
    expect(pageErrors).toEqual([]);
  });
});

/** Calls a method of the page's API (main.ts puts it on `window`) in the page, and awaits it. */
function call<M extends keyof SqliteWasmPage>(
  page: Page,
  method: M,
): Promise<Awaited<ReturnType<SqliteWasmPage[M]>>> {
  return callPage(page, "oversyncTestPage", method) as Promise<Awaited<ReturnType<SqliteWasmPage[M]>>>;
}

function key(group: string, name: string): string {
  return `${group} > ${name}`;
}
