/**
 * A test page for the Chromium suites: bundled by Vite from the sources (with workers as the
 * bundler finds them through `new URL(…, import.meta.url)`), served from a loopback HTTP server (a
 * secure context, as OPFS needs), and called from the test (chromium.ts starts the browser).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import type { Page } from "playwright-core";
import { build } from "vite";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".map": "application/json",
};

/** A test page built and served on a free loopback port. */
export interface ServedPage {
  readonly url: string;
  close(): Promise<void>;
}

/** Bundles the page whose index.html is in `root` with Vite (from the sources) and serves it. */
export async function buildAndServePage(root: string): Promise<ServedPage> {
  const outDir = await mkdtemp(join(tmpdir(), "oversync-browser-page-"));
  try {
    await build({
      root,
      configFile: false,
      logLevel: "warn",
      resolve: { conditions: ["@oversync/source", "module", "browser", "development|production"] },
      worker: { format: "es" },
      build: { outDir, emptyOutDir: true, minify: false, reportCompressedSize: false, target: "es2022" },
    });
    const server = await serve(outDir);
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      async close() {
        await new Promise((resolve) => server.close(resolve));
        await rm(outDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(outDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Calls `method` of the API a page put on `window[global]` with `args` (values Playwright can
 * pass: JSON and a few more), and awaits it in the page. Each suite wraps it with its page's types.
 */
export function callPage(
  page: Page,
  global: string,
  method: string,
  args: readonly unknown[] = [],
): Promise<unknown> {
  return page.evaluate(
    ([name, member, values]) =>
      (window as unknown as Record<string, Record<string, (...params: unknown[]) => unknown>>)[name]![
        member
      ]!(...values),
    [global, method, args] as const,
  );
}

/** Serves the files of `dir`. */
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
