/**
 * `oversync simulate` against the reference server: every scenario on real PostgreSQL with the
 * assertions on PostgreSQL itself (`--db`) and `--cleanup`, `--parallel`, then `--scenario=all` once
 * on the embedded PGlite `npm start` uses (its pool handed over for the database assertions). A
 * failing assertion must exit 1 and be named in the report, and a server lacking what a scenario
 * needs must fail it with a message that says what to start.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEV_JWT_SECRET,
  type RunningServer,
  SCENARIOS,
  type SimulationReport,
  main,
  runSimulation,
  startServer,
} from "@oversync/cli";
import type { SqlQueryable } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";

/** The reference server on `databaseUrl` (PGlite in `dataDir` without one), quiet, on a free port. */
function startReferenceServer(dataDir: string, options: { databaseUrl?: string; testHooks: boolean }) {
  return startServer({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
    jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
    tokenTtlSeconds: 600,
    shutdownGraceMs: 1000,
    testHooks: options.testHooks,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    say: () => {},
  });
}

/** Progress written to a string instead of the terminal. */
function captured() {
  const sink = { text: "", write: (chunk: string) => (sink.text += chunk) };
  return sink;
}

/** The failures of a report, for a readable assertion message. */
function failures(report: SimulationReport) {
  return report.runs.filter((run) => run.status === "failed").map((run) => [run.scenario, run.failure]);
}

/** Rows left behind by the report's users, in the business tables and the sync bookkeeping. */
async function leftovers(db: SqlQueryable, report: SimulationReport): Promise<number> {
  const users = report.runs.flatMap((run) => run.user_ids);
  const { rows } = await db.query<{ n: string }>(
    `SELECT ((SELECT count(*) FROM business.users WHERE _sync_scope_id = ANY($1))
           + (SELECT count(*) FROM business.posts WHERE _sync_scope_id = ANY($1))
           + (SELECT count(*) FROM sync.user_state WHERE user_id = ANY($1)))::text AS n`,
    [users],
  );
  return Number(rows[0]?.n);
}

describe("oversync simulate against the reference server on PostgreSQL", () => {
  let dir: string;
  let db: TestDatabase;
  let server: RunningServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "oversync-simulate-test-"));
    db = await createTestDatabase("oversync_sim");
    server = await startReferenceServer(join(dir, "unused"), { databaseUrl: db.url, testHooks: true });
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(SCENARIOS.map((scenario) => scenario.name))(
    "%s passes, asserting on every device and on PostgreSQL, and cleans up",
    async (name) => {
      const progress = captured();
      const report = await runSimulation({
        scenarios: [name],
        serverUrl: server.url,
        database: db.url,
        cleanup: true,
        progress,
      });
      expect(failures(report)).toEqual([]);
      expect(report).toMatchObject({ passed: 1, failed: 0, postgres_checks: true, work_dir: null });
      expect(report.runs[0]!.steps.length).toBeGreaterThan(1);
      expect(progress.text).toMatch(new RegExp(`^PASS ${name} \\(`, "m"));
      expect(progress.text).toMatch(/^1 passed, 0 failed \(/m);
      expect(await leftovers(db.pool, report)).toBe(0);
    },
  );

  it("--parallel runs independent users of a scenario at once", async () => {
    const report = await runSimulation({
      scenarios: ["multi-device-sync"],
      serverUrl: server.url,
      database: db.url,
      parallel: 3,
      cleanup: true,
      progress: captured(),
    });
    expect(failures(report)).toEqual([]);
    expect(report.runs.map((run) => run.instance)).toEqual([1, 2, 3]);
    expect(new Set(report.runs.map((run) => run.user_ids[0])).size).toBe(3);
  });

  it("a failing assertion exits 1 and is named in the report", async () => {
    // --db names a database the server does not use: it has the schema but none of the rows.
    const elsewhere = await createTestDatabase("oversync_sim_other");
    const other = await startReferenceServer(join(dir, "unused"), {
      databaseUrl: elsewhere.url,
      testHooks: false,
    });
    await other.close();
    const output = join(dir, "report.json");
    let printed = "";
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      printed += String(chunk);
      return true;
    });
    let exitCode: number;
    try {
      exitCode = await main(
        [
          "simulate",
          "--scenario=fresh-install",
          `--server=${server.url}`,
          `--db=${elsewhere.url}`,
          `--output=${output}`,
        ],
        {},
      );
    } finally {
      stdout.mockRestore();
      await elsewhere.drop();
    }
    expect(exitCode).toBe(1);
    expect(printed).toMatch(/^FAIL fresh-install .* in step "first sync uploads the seed as one bundle": /m);
    expect(printed).toMatch(/^0 passed, 1 failed \(/m);
    const report = JSON.parse(await readFile(output, "utf8")) as SimulationReport;
    expect(report).toMatchObject({ passed: 0, failed: 1 });
    expect(report.runs[0]).toMatchObject({
      scenario: "fresh-install",
      status: "failed",
      failure: {
        step: "first sync uploads the seed as one bundle",
        kind: "assertion",
        message: expect.stringContaining("PostgreSQL bundle log"),
      },
    });
    expect(report.runs[0]!.steps.at(-1)).toMatchObject({
      name: "first sync uploads the seed as one bundle",
      status: "failed",
    });
  });

  it("a server without the server-write route fails watch-server-originated, saying what to start", async () => {
    const plain = await startReferenceServer(join(dir, "unused"), {
      databaseUrl: db.url,
      testHooks: false,
    });
    try {
      const report = await runSimulation({
        scenarios: ["watch-server-originated"],
        serverUrl: plain.url,
        cleanup: true,
        progress: captured(),
      });
      expect(report.runs[0]).toMatchObject({
        status: "failed",
        failure: {
          step: "the server commits a user through its own write path",
          kind: "error",
          message: expect.stringContaining("oversync serve --test-hooks"),
        },
      });
    } finally {
      await plain.close();
    }
  });
});

describe("oversync simulate against the reference server on PGlite", () => {
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "oversync-simulate-pglite-"));
    server = await startReferenceServer(join(dir, "data"), { testHooks: true });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("--scenario=all passes, asserting on the embedded database too", { timeout: 150_000 }, async () => {
    const report = await runSimulation({
      scenarios: ["all"],
      serverUrl: server.url,
      database: server.database.pool,
      cleanup: true,
      progress: captured(),
    });
    expect(failures(report)).toEqual([]);
    expect(report).toMatchObject({ passed: SCENARIOS.length, failed: 0, postgres_checks: true });
    expect(report.runs.map((run) => run.scenario)).toEqual(SCENARIOS.map((scenario) => scenario.name));
    expect(await leftovers(server.database.pool, report)).toBe(0);
  });
});
