/**
 * The docs site's Getting started page: its curl tour (docs/examples/getting-started.sh) runs
 * against the reference server on PostgreSQL and prints what the page says; its other commands
 * name a real npm script and a real `serve` flag; its --config example (docs/examples/notes-app/)
 * is the README's, which test/cli/serve-schemas.test.ts serves and syncs.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RunningServer } from "@oversync/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { readme, repoRoot, startQuietReferenceServer } from "../support/readme-support.js";

const run = promisify(execFile);

/** The lines between `# region name` and `# endregion name` of the page's shell file. */
async function shellRegion(name: string): Promise<string> {
  const text = await readFile(join(repoRoot, "docs/examples/getting-started.sh"), "utf8");
  const start = text.indexOf(`# region ${name}\n`);
  const end = text.indexOf(`# endregion ${name}\n`);
  expect(start).toBeGreaterThan(-1);
  return text.slice(start + `# region ${name}\n`.length, end);
}

describe("docs: Getting started", () => {
  let db: TestDatabase;
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), "oversync-getting-started-"));
    server = await startQuietReferenceServer(db.url, dataDir);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("the curl tour answers as the page says (and is the README's)", async () => {
    const tour = await shellRegion("curl");
    expect(readme()).toContain(tour);
    const script = tour
      .replaceAll("http://127.0.0.1:8080", server.url)
      .replaceAll("curl -s ", "curl -sf -w '\\n' ");
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script]);
    const [health, capabilities, connect, pull] = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(health).toMatchObject({ status: "healthy" });
    expect(capabilities).toMatchObject({ protocol_version: "v1" });
    expect(connect).toEqual({ resolution: "initialize_empty" });
    expect(pull).toEqual({ stable_bundle_seq: 0, bundles: [], has_more: false });
  });

  it("the start and --config commands name a real script and a real serve flag", async () => {
    expect(await shellRegion("start")).toMatch(/^npm install && npm start /);
    const scripts = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")).scripts;
    expect(scripts.start).toMatch(/ packages\/cli\/src\/bin\.ts serve\b/);
    expect(await shellRegion("config")).toMatch(/^npm start -- --config notes\.json /);
    const { stdout } = await run(
      process.execPath,
      ["--conditions=@oversync/source", "--import", "tsx", "packages/cli/src/bin.ts", "serve", "--help"],
      { cwd: repoRoot },
    );
    expect(stdout).toContain("--config <file>");
  });

  it("the --config example files are the README's, which the serve --config test runs", async () => {
    const text = readme();
    const block = (language: string) => {
      const start = text.indexOf(`\`\`\`${language}\n`, text.indexOf("<!-- serve-config-example -->"));
      return text.slice(start + language.length + 4, text.indexOf("```", start + 3));
    };
    const file = (name: string) => readFile(join(repoRoot, "docs/examples/notes-app", name), "utf8");
    expect(await file("notes.json")).toBe(block("json"));
    expect(await file("schema.sql")).toBe(block("sql"));
  });
});
