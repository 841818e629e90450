/**
 * Building the demo, for `npm start` (scripts/demo-build.ts builds it when its build is missing or
 * older than its sources) and for the browser tests (which build it afresh into a directory of
 * their own). A build ends by writing `.build-stamp`, so an interrupted build counts as missing.
 */
import { readdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The demo's folder (its sources, vite.config.ts). */
export const DEMO_DIR = dirname(fileURLToPath(import.meta.url));
/** Where `npm start` builds it and serves it from (gitignored). */
export const DEMO_OUT_DIR = join(DEMO_DIR, "dist");

const REPO_ROOT = join(DEMO_DIR, "..");
const STAMP = ".build-stamp";

/** What the build bundles: a change to any of them makes the build stale. */
const SOURCES = [
  DEMO_DIR,
  join(REPO_ROOT, "packages", "protocol", "src"),
  join(REPO_ROOT, "packages", "client", "src"),
  join(REPO_ROOT, "packages", "cli", "src", "example-client-schema.ts"),
  join(REPO_ROOT, "packages", "cli", "src", "example-schema.ts"),
  join(REPO_ROOT, "package-lock.json"),
];

/** Builds the demo into `outDir` (emptied first) with Vite. */
export async function buildDemo(outDir: string = DEMO_OUT_DIR): Promise<void> {
  const { build } = await import("vite");
  await build({
    configFile: join(DEMO_DIR, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
  await writeFile(join(outDir, STAMP), `${JSON.stringify({ builtAt: new Date().toISOString() })}\n`);
}

/** True when `outDir` holds no complete build, or one older than a source file. */
export async function demoBuildIsStale(outDir: string = DEMO_OUT_DIR): Promise<boolean> {
  const built = await stat(join(outDir, STAMP)).catch(() => undefined);
  if (built === undefined) return true;
  for (const source of SOURCES) {
    if ((await newestChange(source, outDir)) > built.mtimeMs) return true;
  }
  return false;
}

/** The latest modification time of `path` or of any file under it, leaving out `skip`. */
async function newestChange(path: string, skip: string): Promise<number> {
  if (path === skip) return 0;
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path)) {
    if (entry === "node_modules") continue;
    newest = Math.max(newest, await newestChange(join(path, entry), skip));
  }
  return newest;
}
