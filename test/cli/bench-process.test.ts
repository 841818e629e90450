/**
 * `oversync bench` as a real child process, run from source as `npm run bench` runs it, with every
 * scenario at its smallest size: each one runs to the end on real PostgreSQL and SQLite, the
 * results JSON, latest.md and the chart are written, and no bench database is left behind. Only
 * the shape of the results is checked: performance is measured, never asserted.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchResults } from "../../packages/cli/src/bench/results.js";
import { adminUrl } from "../support/postgres.js";
import { killServeProcesses, runCli } from "../support/serve-process.js";

const TINY = [
  "--rounds=1",
  "--rows=50",
  "--large-rows=100",
  "--bundles=5",
  "--samples=3",
  "--churn-seconds=5",
  "--churn-users=1",
  "--load-clients=2",
  "--load-seconds=1",
  "--watch-streams=4",
  "--scale-users=2,4",
  "--scale-rows=2",
  "--browser-push-rows=20",
];

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "oversync-bench-test-"));
});

afterAll(async () => {
  killServeProcesses();
  await rm(dir, { recursive: true, force: true });
});

async function benchDatabases(): Promise<string[]> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'oversync\\_bench\\_%'",
    );
    return rows.map((row) => row.datname);
  } finally {
    await admin.end();
  }
}

describe("oversync bench as a child process", () => {
  it("runs every scenario at its smallest size, writes the results and draws the chart", async () => {
    const before = await benchDatabases();
    const output = join(dir, "run.json");
    const run = runCli(["bench", ...TINY, `--db=${adminUrl}`, `--output=${output}`, "--json"]);
    const { code } = await run.exited;
    expect(run.stderr()).toContain(`results written to ${output}`);
    expect(code).toBe(0);

    const printed = JSON.parse(run.stdout()) as BenchResults;
    const written = JSON.parse(await readFile(output, "utf8")) as BenchResults;
    expect(written).toStrictEqual(printed);
    expect(written.format).toBe("oversync-bench/1");
    expect(written.machine.cores).toBeGreaterThan(0);
    expect(written.machine.postgres).toMatch(/^\d+/);
    expect(written.scenarios.map((scenario) => [scenario.name, scenario.error])).toStrictEqual(
      [
        "server-push",
        "client-capture",
        "client-sync",
        "restore-large",
        "catch-up",
        "latency",
        "churn",
        "server-load",
        "watch-idle",
        "scale",
        "browser",
      ].map((name) => [name, undefined]),
    );
    for (const scenario of written.scenarios) {
      // Without Chromium the browser scenario is skipped, and its note says so.
      if (scenario.name === "browser" && !existsSync("/usr/bin/chromium")) {
        expect(scenario.notes.join(" ")).toContain("Skipped: no /usr/bin/chromium");
      } else {
        expect(scenario.figures.length, scenario.name).toBeGreaterThan(0);
      }
    }
    expect(written.targets.every((target) => target.met !== undefined)).toBe(true);
    expect(await readFile(join(dir, "latest.md"), "utf8")).toContain("## Targets");
    expect(await benchDatabases()).toStrictEqual(before);

    const svg = join(dir, "bench.svg");
    const chart = runCli(["bench", "--chart", output, `--output=${svg}`]);
    expect((await chart.exited).code).toBe(0);
    expect(await readFile(svg, "utf8")).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
  }, 300_000);

  it("refuses an unknown scenario with exit code 2 before touching the database", async () => {
    const run = runCli(["bench", "--scenario=everything"]);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toContain('--scenario "everything" is not a scenario');
  });
});
