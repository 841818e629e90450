/** The `oversync simulate` command line: its flags, their checks, and its help text. */
import { CliError } from "../cli-error.js";
import { parseCommandFlags } from "../command-flags.js";
import { SCENARIOS, resolveScenarioNames } from "./scenarios/index.js";

/** `simulate` flags after parsing; `runSimulation` takes them as they are. */
export interface SimulateArgs {
  readonly scenarios: readonly string[];
  readonly serverUrl: string;
  /** `--db`: the PostgreSQL database the server uses, for assertions on it. */
  readonly database?: string;
  readonly parallel: number;
  readonly cleanup: boolean;
  readonly verbose: boolean;
  readonly outputFile?: string;
}

export const DEFAULT_SIMULATE_SERVER = "http://127.0.0.1:8080";
const MAX_PARALLEL = 64;

const width = Math.max(...SCENARIOS.map((scenario) => scenario.name.length));

export const SIMULATE_HELP = `Usage: oversync simulate --scenario=<name>|all [options]

Runs device scenarios against a sync server: each scenario is a story of several devices (our
client on its own SQLite file) of a fresh user who signs in at POST /dummy-signin, with
assertions on every device's SQLite file and, with --db, on PostgreSQL itself. Works against any
server that speaks the oversqlite protocol and serves the example "business" schema; the test
helpers (/test/watch-subscribers, /test/retention-floor) are needed by some scenarios and
watch-server-originated needs "oversync serve --test-hooks".

Options:
  --scenario <names>   A scenario, several separated by commas, "all", or "watch-all"
  --server <url>       The server (default ${DEFAULT_SIMULATE_SERVER})
  --db <url>           The server's PostgreSQL database (postgres://…): also assert on its
                       business rows and sync bookkeeping
  --parallel <n>       Run n independent users of each scenario at once (default 1, at most ${MAX_PARALLEL})
  --cleanup            Delete the SQLite files afterwards, and with --db the scenario users' rows
                       (that needs a superuser: the rows are removed with triggers off)
  --verbose            A line per step, and the scenarios' details
  --output <file>      Also write the report, with every step's timing, as JSON
  -h, --help           Show this help

Environment:
  OVERSYNC_ADMIN_TOKEN The server's admin token, sent as Authorization: Bearer to its test
                       helpers: a server answers them only to callers on its own machine
                       without it

Exit code 0 when every scenario passed, 1 when any failed, 2 for a bad command line.

Scenarios:
${SCENARIOS.map((scenario) => `  ${scenario.name.padEnd(width)}  ${scenario.description}`).join("\n")}
`;

/** Parses the flags after `simulate`; null when help was asked for. Throws CliError `usage`. */
export function parseSimulateArgs(argv: readonly string[]): SimulateArgs | null {
  const { values } = parseCommandFlags("simulate", argv, {
    scenario: { type: "string" },
    server: { type: "string" },
    db: { type: "string" },
    parallel: { type: "string" },
    cleanup: { type: "boolean" },
    verbose: { type: "boolean" },
    output: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help === true) return null;
  if (typeof values.scenario !== "string") {
    throw new CliError("usage", '--scenario is required: a scenario name, "all" or "watch-all" (see --help)');
  }
  const serverUrl = typeof values.server === "string" ? values.server : DEFAULT_SIMULATE_SERVER;
  if (!/^https?:$/.test(urlOf(serverUrl, "--server").protocol)) {
    throw new CliError("usage", `--server ${JSON.stringify(serverUrl)} must be an http:// or https:// URL`);
  }
  const database = typeof values.db === "string" ? values.db : undefined;
  if (database !== undefined && !/^postgres(ql)?:$/.test(urlOf(database, "--db").protocol)) {
    throw new CliError("usage", "--db must be a postgres:// URL");
  }
  const parallelText = typeof values.parallel === "string" ? values.parallel : "1";
  const parallel = /^[0-9]+$/.test(parallelText) ? Number(parallelText) : Number.NaN;
  if (!(parallel >= 1 && parallel <= MAX_PARALLEL)) {
    throw new CliError(
      "usage",
      `--parallel ${JSON.stringify(parallelText)} must be a whole number from 1 to ${MAX_PARALLEL}`,
    );
  }
  if (values.output === "") throw new CliError("usage", "--output must name a file");
  return {
    scenarios: resolveScenarioNames(values.scenario),
    serverUrl,
    ...(database === undefined ? {} : { database }),
    parallel,
    cleanup: values.cleanup === true,
    verbose: values.verbose === true,
    ...(typeof values.output === "string" ? { outputFile: values.output } : {}),
  };
}

function urlOf(text: string, flag: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new CliError("usage", `${flag} ${JSON.stringify(text)} is not a URL`);
  }
}
