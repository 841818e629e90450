/**
 * `oversync bench`: runs the chosen scenarios one after another (each on its own databases and
 * server, closed before the next starts), judges the targets, prints the report or the JSON, and
 * writes the results file and latest.md. `--chart` draws the SVG of a results file instead.
 */
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { CliError } from "../cli-error.js";
import { maskDatabaseUrl } from "../database.js";
import type { BenchArgs } from "./bench-args.js";
import { DEFAULT_ADMIN_URL } from "./bench-db.js";
import { renderChart } from "./chart.js";
import { BenchContext } from "./context.js";
import { describeThisMachine, loadNow } from "./machine.js";
import { formatReport } from "./report.js";
import { type BenchResults, type ScenarioResult, significant } from "./results.js";
import { SCENARIO_RUNNERS } from "./scenarios/index.js";
import { judgeTargets } from "./targets.js";

/** Where results go unless --output says otherwise, relative to the working directory. */
export const RESULTS_DIR = join("bench", "results");
/** Where `--chart` writes unless --output says otherwise. */
export const CHART_FILE = join("docs", "bench.svg");

type RunArgs = Extract<BenchArgs, { kind: "run" }>;

/** Runs a benchmark; resolves to the exit code (1 when a scenario failed). */
export async function runBench(
  args: BenchArgs,
  options: { command: string; env: NodeJS.ProcessEnv },
): Promise<number> {
  if (args.kind === "chart") {
    await writeChart(args.resultsFile, args.outputFile);
    return 0;
  }
  const results = await measure(args, options.command, options.env);
  const outputFile =
    args.outputFile ?? join(RESULTS_DIR, resultsFileName(results.startedAt, args.scenarios.length));
  await mkdir(dirname(outputFile), { recursive: true });
  await writeFile(outputFile, `${JSON.stringify(results, null, 2)}\n`);
  const report = formatReport(results);
  await writeFile(join(dirname(outputFile), "latest.md"), report);
  process.stdout.write(args.json ? `${JSON.stringify(results, null, 2)}\n` : report);
  say(`results written to ${outputFile} and ${join(dirname(outputFile), "latest.md")}`);
  return results.scenarios.some((scenario) => scenario.error !== undefined) ? 1 : 0;
}

/**
 * `<date>.json` for a run of every scenario; a run of some scenarios gets `<date>-partial.json`, so
 * trying one scenario never overwrites the day's full results.
 */
function resultsFileName(startedAt: string, scenarioCount: number): string {
  const date = startedAt.slice(0, 10);
  return scenarioCount === Object.keys(SCENARIO_RUNNERS).length ? `${date}.json` : `${date}-partial.json`;
}

async function measure(args: RunArgs, command: string, env: NodeJS.ProcessEnv): Promise<BenchResults> {
  // An empty DATABASE_URL counts as unset, as it does for `serve`.
  const adminUrl = args.databaseUrl ?? (env.DATABASE_URL || DEFAULT_ADMIN_URL);
  const loadStart = loadNow();
  const machine = await describeThisMachine(adminUrl).catch((error: unknown) => {
    throw new CliError(
      "database_unavailable",
      `cannot reach PostgreSQL at ${maskDatabaseUrl(adminUrl)}: ${(error as Error).message}; start it, or name another server with --db or DATABASE_URL`,
      { cause: error },
    );
  });
  const startedAt = new Date();
  const started = performance.now();
  let current: BenchContext | undefined;
  // Ctrl+C still stops the server children and drops the bench databases.
  const onInterrupt = () => {
    say("interrupted: stopping servers and dropping the bench databases");
    void (current?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once("SIGINT", onInterrupt);
  const scenarios: ScenarioResult[] = [];
  try {
    for (const name of args.scenarios) {
      const scenario = SCENARIO_RUNNERS[name];
      say(`${name}: ${scenario.title.toLowerCase()}`);
      current = new BenchContext(name, args.rounds, args.sizes, adminUrl, (line) =>
        say(`  ${name}: ${line}`),
      );
      const scenarioStarted = performance.now();
      const loadAtStart = loadNow();
      let error: string | undefined;
      try {
        await scenario.run(current);
      } catch (caught) {
        error = (caught as Error)?.message ?? String(caught);
        say(`  ${name} failed: ${error}`);
      } finally {
        await current.close();
      }
      scenarios.push({
        name,
        title: scenario.title,
        server: scenario.server,
        seconds: significant((performance.now() - scenarioStarted) / 1000),
        loadAtStart,
        figures: current.figures.figures,
        notes: current.notes,
        ...(error === undefined ? {} : { error }),
      });
    }
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  return {
    format: "oversync-bench/1",
    startedAt: startedAt.toISOString(),
    seconds: significant((performance.now() - started) / 1000),
    command,
    rounds: args.rounds,
    machine: { ...machine, loadAverage: { start: loadStart, end: loadNow() } },
    scenarios,
    targets: judgeTargets(scenarios),
  };
}

async function writeChart(resultsFile: string | undefined, outputFile: string | undefined): Promise<void> {
  const source = resultsFile ?? (await newestResults());
  let results: BenchResults;
  try {
    results = JSON.parse(await readFile(source, "utf8")) as BenchResults;
  } catch (error) {
    throw new CliError("invalid_results_file", `cannot read ${source}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (results.format !== "oversync-bench/1") {
    throw new CliError("invalid_results_file", `${source} is not the results of oversync bench`);
  }
  const target = outputFile ?? CHART_FILE;
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, renderChart(results, relative(process.cwd(), source)));
  say(`chart of ${source} written to ${target}`);
}

/** The newest full run in bench/results (a partial run when there is none). */
async function newestResults(): Promise<string> {
  const files = (await readdir(RESULTS_DIR).catch(() => [] as string[])).filter((file) =>
    /^\d{4}-\d{2}-\d{2}(-partial)?\.json$/.test(file),
  );
  const full = files.filter((file) => !file.includes("partial")).sort();
  const newest = full.at(-1) ?? files.sort().at(-1);
  if (newest === undefined) {
    throw new CliError("invalid_results_file", `no results in ${RESULTS_DIR}; run "oversync bench" first`);
  }
  return join(RESULTS_DIR, newest);
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}
