/** The `oversync bench` command line: its flags, their checks, and its help text. */
import type { CliError } from "../cli-error.js";
import { commandUsageError, parseCommandFlags } from "../command-flags.js";

/** Every scenario, in the order `all` runs them, with what it measures. */
export const BENCH_SCENARIOS = [
  ["server-push", "service push, pull and snapshot of --rows rows vs PostgreSQL INSERT/SELECT"],
  ["client-capture", "SQLite inserts into a synced table (capture triggers) vs a plain table"],
  [
    "client-sync",
    "pushPending, pullToStable and attach restore of --rows rows over HTTP; restore with a core busy",
  ],
  ["restore-large", "attach restore of --large-rows rows, with the client's RSS growth"],
  ["catch-up", "pullToStable of --bundles bundles × 10 rows vs PostgreSQL SELECT + SQLite INSERT"],
  ["latency", "one-row push and watch wake-up p50/p99 vs a bare authenticated round trip"],
  ["churn", "size of the tables of work in progress under --churn-seconds of pushes and snapshots"],
  ["server-load", "--load-clients devices pushing and pulling: bundles/s, p99, errors, server RSS"],
  ["watch-idle", "--watch-streams idle /sync/watch streams: server RSS before and after"],
  ["scale", "grow to each --scale-users step through the API: push/pull/health/status, snapshot, sizes"],
  [
    "browser",
    "in Chromium on OPFS: restore of --rows rows, push of --browser-push-rows rows vs raw sqlite-wasm; bundle gzip sizes",
  ],
] as const;

/** A scenario name. */
export type BenchScenarioName = (typeof BENCH_SCENARIOS)[number][0];

const NAMES: readonly string[] = BENCH_SCENARIOS.map(([name]) => name);

/** Sizes of the scenarios; the defaults keep `--scenario=all` within 15 minutes on 2 cores. */
export interface BenchSizes {
  readonly rows: number;
  readonly largeRows: number;
  readonly bundles: number;
  readonly samples: number;
  readonly churnSeconds: number;
  readonly churnUsers: number;
  readonly loadClients: number;
  readonly loadSeconds: number;
  readonly watchStreams: number;
  readonly scaleUsers: readonly number[];
  readonly scaleRows: number;
  readonly browserPushRows: number;
}

export const DEFAULT_BENCH_SIZES: BenchSizes = {
  rows: 10_000,
  largeRows: 100_000,
  bundles: 1000,
  samples: 200,
  churnSeconds: 60,
  churnUsers: 8,
  loadClients: 8,
  loadSeconds: 10,
  watchStreams: 1000,
  scaleUsers: [10, 1000, 10_000],
  scaleRows: 10,
  browserPushRows: 1000,
};

/** `bench` flags after parsing. */
export type BenchArgs =
  | {
      readonly kind: "run";
      readonly scenarios: readonly BenchScenarioName[];
      readonly rounds: number;
      readonly sizes: BenchSizes;
      /** `--db`; when absent DATABASE_URL, then postgres://postgres@127.0.0.1:5432/postgres. */
      readonly databaseUrl?: string;
      readonly json: boolean;
      /** `--output`: the results JSON; default bench/results/<YYYY-MM-DD>.json under the working directory. */
      readonly outputFile?: string;
    }
  | {
      /** `--chart [results.json]`: draw the chart of a results file, run nothing. */
      readonly kind: "chart";
      /** Default: the newest bench/results/*.json. */
      readonly resultsFile?: string;
      /** Default docs/bench.svg. */
      readonly outputFile?: string;
    };

const DEFAULT_ROUNDS = 3;

export const BENCH_HELP = `Usage: oversync bench [--scenario=<name>|all] [options]
       oversync bench --chart [results.json] [--output=docs/bench.svg]

Measures oversync on this machine against the machine's own limits, measured in the same run
(raw PostgreSQL INSERT/SELECT, raw SQLite inserts in one transaction, a bare HTTP round trip), on
real PostgreSQL and real SQLite files over loopback HTTP. Each figure is the median over --rounds
rounds with the smallest and largest round, and its ratio to its limit; the targets of the
performance issues are printed with whether they are met. Scenarios that talk HTTP run the
server as an "oversync serve" child process, so server and client memory are measured apart.

Every run prints a report (Markdown; --json prints the results JSON instead), writes the results
to bench/results/<YYYY-MM-DD>.json (or --output) and refreshes latest.md next to it. It creates
and drops its own databases (oversync_bench_*) and never touches any other database's contents.

Options:
  --scenario <names>    A scenario, several separated by commas, or "all" (default)
  --rounds <n>          Rounds per figure (default ${DEFAULT_ROUNDS})
  --db <url>            PostgreSQL server to create the bench databases on (postgres://…;
                        default DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)
  --json                Print the results as JSON on stdout (progress stays on stderr)
  --output <file>       Where to write the results JSON (with --chart: the SVG)
  --chart [file]        Draw the SVG chart of a results file (default: the newest
                        bench/results/*.json) to --output (default docs/bench.svg); runs nothing
  -h, --help            Show this help

Sizes (defaults keep --scenario=all within 15 minutes on 2 cores; raise them for bigger runs):
  --rows <n>            Rows of server-push, client-sync and the browser restore (default ${DEFAULT_BENCH_SIZES.rows})
  --large-rows <n>      Rows of restore-large (default ${DEFAULT_BENCH_SIZES.largeRows})
  --bundles <n>         10-row bundles of catch-up (default ${DEFAULT_BENCH_SIZES.bundles})
  --samples <n>         Calls per round of latency and per scale step (default ${DEFAULT_BENCH_SIZES.samples})
  --churn-seconds <n>   Length of churn (default ${DEFAULT_BENCH_SIZES.churnSeconds})
  --churn-users <n>     Users of churn (default ${DEFAULT_BENCH_SIZES.churnUsers})
  --load-clients <n>    Devices of server-load (default ${DEFAULT_BENCH_SIZES.loadClients})
  --load-seconds <n>    Length of each server-load round (default ${DEFAULT_BENCH_SIZES.loadSeconds})
  --watch-streams <n>   Streams of watch-idle (default ${DEFAULT_BENCH_SIZES.watchStreams})
  --scale-users <list>  Users at each scale step, increasing (default ${DEFAULT_BENCH_SIZES.scaleUsers.join(",")})
  --scale-rows <n>      Rows each scale user pushes (default ${DEFAULT_BENCH_SIZES.scaleRows})
  --browser-push-rows <n>  Rows of the browser push (default ${DEFAULT_BENCH_SIZES.browserPushRows})

Exit code 0 when every scenario ran, 1 when one failed, 2 for a bad command line.

Scenarios:
${BENCH_SCENARIOS.map(([name, description]) => `  ${name.padEnd(15)} ${description}`).join("\n")}
`;

type Values = Record<string, string | boolean | undefined>;

/** Parses the flags after `bench`; null when help was asked for. Throws CliError `usage`. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs | null {
  const { values, positionals } = parseCommandFlags(
    "bench",
    argv,
    {
      scenario: { type: "string" },
      rounds: { type: "string" },
      db: { type: "string" },
      json: { type: "boolean" },
      output: { type: "string" },
      chart: { type: "boolean" },
      rows: { type: "string" },
      "large-rows": { type: "string" },
      bundles: { type: "string" },
      samples: { type: "string" },
      "churn-seconds": { type: "string" },
      "churn-users": { type: "string" },
      "load-clients": { type: "string" },
      "load-seconds": { type: "string" },
      "watch-streams": { type: "string" },
      "scale-users": { type: "string" },
      "scale-rows": { type: "string" },
      "browser-push-rows": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    true,
  );
  if (values.help === true) return null;
  if (values.output === "") throw usage("--output must name a file");
  const outputFile = typeof values.output === "string" ? { outputFile: values.output } : {};
  // The file is written in one format whatever its name; a name saying otherwise is a mistake.
  const outputKind = values.chart === true ? ".svg" : ".json";
  if (typeof values.output === "string" && !values.output.toLowerCase().endsWith(outputKind)) {
    throw usage(
      values.chart === true
        ? `--output ${JSON.stringify(values.output)} must name an .svg file: --chart draws an SVG`
        : `--output ${JSON.stringify(values.output)} must name a .json file: it receives the results JSON (the Markdown report goes to latest.md beside it)`,
    );
  }
  if (values.chart === true) {
    if (positionals.length > 1) throw usage("--chart takes one results file");
    const others = Object.keys(values).filter((key) => key !== "chart" && key !== "output");
    if (others.length > 0) throw usage(`--chart runs nothing, so --${others[0]} does not apply`);
    return {
      kind: "chart",
      ...(positionals[0] === undefined ? {} : { resultsFile: positionals[0] }),
      ...outputFile,
    };
  }
  if (positionals.length > 0) {
    throw usage(`unexpected argument ${JSON.stringify(positionals[0])} (only --chart takes a file)`);
  }
  const databaseUrl = typeof values.db === "string" ? values.db : undefined;
  if (databaseUrl !== undefined && !isPostgresUrl(databaseUrl)) {
    throw usage(`--db ${JSON.stringify(databaseUrl)} must be a postgres:// URL`);
  }
  const defaults = DEFAULT_BENCH_SIZES;
  const sizes: BenchSizes = {
    rows: whole(values, "rows", defaults.rows, 1, 10_000_000),
    largeRows: whole(values, "large-rows", defaults.largeRows, 1, 100_000_000),
    bundles: whole(values, "bundles", defaults.bundles, 1, 1_000_000),
    samples: whole(values, "samples", defaults.samples, 1, 1_000_000),
    churnSeconds: whole(values, "churn-seconds", defaults.churnSeconds, 5, 86_400),
    churnUsers: whole(values, "churn-users", defaults.churnUsers, 1, 1000),
    loadClients: whole(values, "load-clients", defaults.loadClients, 1, 1000),
    loadSeconds: whole(values, "load-seconds", defaults.loadSeconds, 1, 86_400),
    watchStreams: whole(values, "watch-streams", defaults.watchStreams, 1, 1_000_000),
    scaleUsers: scaleSteps(values["scale-users"], defaults.scaleUsers),
    scaleRows: whole(values, "scale-rows", defaults.scaleRows, 1, 100_000),
    browserPushRows: whole(values, "browser-push-rows", defaults.browserPushRows, 1, 1_000_000),
  };
  return {
    kind: "run",
    scenarios: scenarioNames(values.scenario),
    rounds: whole(values, "rounds", DEFAULT_ROUNDS, 1, 1000),
    sizes,
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
    json: values.json === true,
    ...outputFile,
  };
}

/** `all` (or nothing), one name, or a comma-separated list, in the order given. */
function scenarioNames(value: string | boolean | undefined): BenchScenarioName[] {
  const text = typeof value === "string" ? value.trim() : "all";
  if (text === "all") return BENCH_SCENARIOS.map(([name]) => name);
  const names = text.split(",").map((name) => name.trim());
  const unknown = names.filter((name) => !NAMES.includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw usage(
      `--scenario ${JSON.stringify(unknown[0] ?? text)} is not a scenario; choose "all" or one or more of ${NAMES.join(", ")}`,
    );
  }
  return [...new Set(names)] as BenchScenarioName[];
}

function scaleSteps(value: string | boolean | undefined, fallback: readonly number[]): number[] {
  if (typeof value !== "string") return [...fallback];
  const steps = value
    .split(",")
    .map((step) => (/^[0-9]+$/.test(step.trim()) ? Number(step.trim()) : Number.NaN));
  const increasing = steps.every((step, index) => index === 0 || step > steps[index - 1]!);
  if (!steps.every((step) => Number.isSafeInteger(step) && step >= 1 && step <= 10_000_000) || !increasing) {
    throw usage(
      `--scale-users ${JSON.stringify(value)} must be increasing whole numbers of users separated by commas, e.g. 10,1000,10000`,
    );
  }
  return steps;
}

function whole(values: Values, flag: string, fallback: number, min: number, max: number): number {
  const value = values[flag];
  if (value === undefined) return fallback;
  const text = String(value);
  const number = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw usage(`--${flag} ${JSON.stringify(text)} must be a whole number from ${min} to ${max}`);
  }
  return number;
}

function isPostgresUrl(text: string): boolean {
  try {
    return /^postgres(ql)?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

function usage(message: string): CliError {
  return commandUsageError("bench", message);
}
