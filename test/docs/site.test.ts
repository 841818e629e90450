/**
 * The documentation site (docs/, VitePress): it builds, as `npm run docs:build` does, into a
 * temporary directory (VitePress fails the build on a dead link to a page); then every internal
 * link, asset and `#anchor` of the built HTML resolves, every code snippet names a file and region
 * that exist (VitePress would silently show the whole file for a misspelt region), every include
 * resolves, and the generated parts are complete. In headless Chromium the home page and the Server
 * guide load over loopback HTTP without errors; screenshots go to test-results/docs-site/.
 *
 * The browser part runs through test/browser/chromium.ts: without /usr/bin/chromium it is skipped,
 * saying so, unless OVERSYNC_REQUIRE_BROWSER=1 (set by CI), which makes a missing browser a failure.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, relative } from "node:path";
import { promisify } from "node:util";
import { ENDPOINTS, ERROR_STATUS } from "@oversync/protocol";
import { SYNC_METRICS } from "@oversync/server";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeGeneratedDocs } from "../../scripts/docs-generate.js";
import { describeInChromium, launchChromium } from "../browser/chromium.js";
import { repoRoot } from "../support/readme-support.js";

const DOCS = join(repoRoot, "docs");
const SCREENSHOTS = join(repoRoot, "test-results", "docs-site");
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".yaml": "application/yaml",
};

/** The site's markdown sources (pages and the files they include), generated partials included. */
function markdownFiles(dir = DOCS): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === ".vitepress" ? [] : markdownFiles(path);
    return entry.name.endsWith(".md") ? [path] : [];
  });
}

function builtFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? builtFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** The ids of a built page's elements. */
function idsOf(html: string): Set<string> {
  return new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((match) => decodeEntities(match[1]!)));
}

function decodeEntities(text: string): string {
  return text
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

let built: Promise<string> | undefined;

/** Builds the site once for this file, as `npm run docs:build` does, into a temporary directory. */
function buildSite(): Promise<string> {
  built ??= (async () => {
    const started = performance.now();
    writeGeneratedDocs(repoRoot);
    const generated = performance.now();
    const outDir = await mkdtemp(join(tmpdir(), "oversync-docs-site-"));
    // Dead links to pages fail this build: the config leaves ignoreDeadLinks off.
    await promisify(execFile)(
      process.execPath,
      [
        join(repoRoot, "node_modules", "vitepress", "bin", "vitepress.js"),
        "build",
        "docs",
        "--outDir",
        outDir,
      ],
      { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 },
    );
    const seconds = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
    console.log(
      `docs site: generated parts in ${seconds(started, generated)} s, VitePress build in ${seconds(generated, performance.now())} s`,
    );
    return outDir;
  })();
  return built;
}

afterAll(async () => {
  if (built !== undefined) await rm(await built, { recursive: true, force: true });
});

describe("docs site", () => {
  let outDir: string;

  beforeAll(async () => {
    outDir = await buildSite();
  }, 300_000);

  it("the config never ignores dead links", async () => {
    const config = await readFile(join(DOCS, ".vitepress", "config.ts"), "utf8");
    expect(config).not.toMatch(/ignoreDeadLinks\s*:/);
  });

  it("every code snippet names a file and a region that exist", () => {
    const problems: string[] = [];
    let snippets = 0;
    for (const file of markdownFiles()) {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const match = /^<<<\s+@\/([^#{\s[]+)(?:#([\w-]+))?/.exec(line);
        if (match === null) continue;
        snippets++;
        const [, path, region] = match;
        const source = join(DOCS, path!);
        if (!existsSync(source)) {
          problems.push(`${relative(DOCS, file)}: ${path} does not exist`);
          continue;
        }
        if (region === undefined) continue;
        const lines = readFileSync(source, "utf8")
          .split("\n")
          .map((text) => text.trim());
        for (const marker of ["region", "endregion"]) {
          if (!lines.some((text) => new RegExp(`^(//|#) ?#?${marker} ${region}$`).test(text))) {
            problems.push(`${relative(DOCS, file)}: ${path} has no "${marker} ${region}"`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(snippets).toBeGreaterThan(15);
  });

  it("every include resolves", () => {
    const problems: string[] = [];
    for (const file of markdownFiles()) {
      for (const [, target] of readFileSync(file, "utf8").matchAll(/<!--\s*@include:\s*(.*?)\s*-->/g)) {
        const path = target!.replace(/\{\d*,\d*\}$/, "").replace(/#[\w-]+$/, "");
        if (!existsSync(join(dirname(file), path))) problems.push(`${relative(DOCS, file)}: ${target}`);
      }
    }
    expect(problems).toEqual([]);
    for (const file of builtFiles(outDir).filter((path) => path.endsWith(".html"))) {
      expect(readFileSync(file, "utf8").includes("@include"), relative(outDir, file)).toBe(false);
    }
  });

  it("every internal link, asset and anchor of the built pages resolves", () => {
    const pages = builtFiles(outDir).filter((path) => path.endsWith(".html"));
    const ids = new Map(pages.map((page) => [page, idsOf(readFileSync(page, "utf8"))]));
    const problems: string[] = [];
    let checked = 0;
    for (const page of pages) {
      const pageUrl = new URL(relative(outDir, page).split("\\").join("/"), "http://site.invalid/");
      for (const [, raw] of readFileSync(page, "utf8").matchAll(/\s(?:href|src)="([^"]*)"/g)) {
        const link = decodeEntities(raw!);
        if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith("//")) continue; // external
        const url = new URL(link, pageUrl);
        let path = decodeURIComponent(url.pathname);
        if (path.endsWith("/")) path += "index.html";
        let target = join(outDir, normalize(path));
        if (!existsSync(target) && existsSync(`${target}.html`)) target = `${target}.html`;
        checked++;
        if (!existsSync(target)) {
          problems.push(`${relative(outDir, page)}: ${link} (no such file)`);
          continue;
        }
        const anchor = decodeURIComponent(url.hash.slice(1));
        if (anchor !== "" && !ids.get(target)?.has(anchor)) {
          problems.push(`${relative(outDir, page)}: ${link} (no element with id "${anchor}")`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(500);
  });

  it("the generated parts are complete: every error code, every endpoint, the serve flags, every metric", () => {
    const page = (name: string) => readFileSync(join(outDir, name), "utf8");
    const errors = idsOf(page("errors.html"));
    expect(Object.keys(ERROR_STATUS).filter((code) => !errors.has(code))).toEqual([]);
    for (const code of ["source_recovery_required", "network_error", "http_status", "no_captured_changes"]) {
      expect(errors).toContain(code);
    }
    const api = decodeEntities(page("http-api.html"));
    const missing = Object.values(ENDPOINTS)
      .map((endpoint) => `${endpoint.method} ${endpoint.path.replace(/:([a-z_]+)/g, "{$1}")}`)
      .filter((operation) => !api.includes(operation));
    expect(missing).toEqual([]);
    const operations = decodeEntities(page("operations.html"));
    expect(operations.includes("--config <file>")).toBe(true);
    expect(Object.values(SYNC_METRICS).filter((metric) => !operations.includes(metric.name))).toEqual([]);
    expect(page("performance.html").includes("Targets")).toBe(true);
    for (const file of builtFiles(outDir).filter((path) => path.endsWith(".html"))) {
      expect(/readme:(begin|end|imports)/.test(readFileSync(file, "utf8")), relative(outDir, file)).toBe(
        false,
      );
    }
  });
});

describeInChromium("docs site in Chromium", () => {
  let server: Server;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    server = await serve(await buildSite());
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it("loads the home page and the Server guide, with no error and no missing file", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const failures: string[] = [];
    page.on("pageerror", (error) => failures.push(`${error.name}: ${error.message}`));
    page.on("response", (response) => {
      if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
    });

    await page.goto(`${origin}/`, { waitUntil: "networkidle" });
    expect(await page.title()).toContain("oversync");
    expect(await page.locator(".VPHero .name").innerText()).toBe("oversync");
    await page.screenshot({ path: join(SCREENSHOTS, "home.png") });

    // Client-side navigation from the home page, as a reader would.
    await page.getByRole("link", { name: "Get started" }).first().click();
    await page.waitForURL(/getting-started/);
    await page.locator("main h1").filter({ hasText: "Getting started" }).waitFor();

    await page.goto(`${origin}/server.html`, { waitUntil: "networkidle" });
    expect(await page.locator("h1").first().innerText()).toContain("Server guide");
    expect(await page.locator(".VPSidebar").getByRole("link", { name: "Client guide" }).count()).toBe(1);
    expect(await page.locator("div[class*='language-ts'] pre").first().innerText()).toContain(
      "createSyncHandler",
    );
    await page.screenshot({ path: join(SCREENSHOTS, "server-guide.png"), fullPage: false });
    expect(failures).toEqual([]);
  });
});

/** Serves the built site from `dir` on a free loopback port, as a static host would (`/x` → `x.html`). */
async function serve(dir: string): Promise<Server> {
  const server = createServer(async (request, response) => {
    let path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    if (path.endsWith("/")) path += "index.html";
    let file = join(dir, path);
    if (!existsSync(file) && existsSync(`${file}.html`)) file = `${file}.html`;
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
