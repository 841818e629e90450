import { afterEach, describe, expect, it, vi } from "vitest";
import { parseCommandLine } from "../cli-args.js";
import { CliError } from "../cli-error.js";
import { main } from "../main.js";
import { BENCH_HELP, BENCH_SCENARIOS, DEFAULT_BENCH_SIZES, parseBenchArgs } from "./bench-args.js";

const ALL = BENCH_SCENARIOS.map(([name]) => name);

function usageError(argv: string[]): CliError {
  try {
    parseBenchArgs(argv);
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

describe("oversync bench command line", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("defaults: every scenario, 3 rounds, the default sizes, no JSON, no --db, no --output", () => {
    expect(parseCommandLine(["bench"])).toStrictEqual({
      kind: "bench",
      args: { kind: "run", scenarios: ALL, rounds: 3, sizes: DEFAULT_BENCH_SIZES, json: false },
    });
    expect(DEFAULT_BENCH_SIZES.scaleUsers).toStrictEqual([10, 1000, 10_000]);
    expect(DEFAULT_BENCH_SIZES.rows).toBe(10_000);
    expect(DEFAULT_BENCH_SIZES.largeRows).toBe(100_000);
  });

  it("takes one scenario, a list in the order given, or all; and every flag in both forms", () => {
    const run = (argv: string[]) => {
      const args = parseBenchArgs(argv);
      if (args?.kind !== "run") throw new Error("expected a run");
      return args;
    };
    expect(run(["--scenario=scale"]).scenarios).toStrictEqual(["scale"]);
    expect(run(["--scenario", "latency,client-sync,latency"]).scenarios).toStrictEqual([
      "latency",
      "client-sync",
    ]);
    expect(run(["--scenario=all"]).scenarios).toStrictEqual(ALL);
    const args = run([
      "--rounds=5",
      "--rows",
      "200",
      "--large-rows=2000",
      "--bundles=20",
      "--samples=10",
      "--churn-seconds=10",
      "--churn-users=2",
      "--load-clients=4",
      "--load-seconds=2",
      "--watch-streams=50",
      "--scale-users=5,50,500",
      "--scale-rows=3",
      "--browser-push-rows=30",
      "--db=postgres://u@db.example:5433/postgres",
      "--json",
      "--output=/tmp/run.json",
    ]);
    expect(args).toStrictEqual({
      kind: "run",
      scenarios: ALL,
      rounds: 5,
      sizes: {
        rows: 200,
        largeRows: 2000,
        bundles: 20,
        samples: 10,
        churnSeconds: 10,
        churnUsers: 2,
        loadClients: 4,
        loadSeconds: 2,
        watchStreams: 50,
        scaleUsers: [5, 50, 500],
        scaleRows: 3,
        browserPushRows: 30,
      },
      databaseUrl: "postgres://u@db.example:5433/postgres",
      json: true,
      outputFile: "/tmp/run.json",
    });
  });

  it("--chart takes an optional results file and --output, and nothing that runs", () => {
    expect(parseBenchArgs(["--chart"])).toStrictEqual({ kind: "chart" });
    expect(parseBenchArgs(["--chart", "bench/results/2026-12-07.json", "--output=x.svg"])).toStrictEqual({
      kind: "chart",
      resultsFile: "bench/results/2026-12-07.json",
      outputFile: "x.svg",
    });
    expect(usageError(["--chart", "--rounds=2"]).message).toContain(
      "--chart runs nothing, so --rounds does not apply",
    );
    expect(usageError(["--chart", "a.json", "b.json"]).message).toContain("--chart takes one results file");
    expect(usageError(["results.json"]).message).toContain("only --chart takes a file");
  });

  it("a bad scenario name is a usage error that lists the scenarios", () => {
    const error = usageError(["--scenario=restore"]);
    expect(error.code).toBe("usage");
    expect(error.message).toBe(
      `--scenario "restore" is not a scenario; choose "all" or one or more of ${ALL.join(", ")}; run "oversync bench --help" for the options`,
    );
    expect(usageError(["--scenario=latency,nope"]).message).toContain('--scenario "nope" is not a scenario');
    expect(usageError(["--scenario="]).message).toContain('--scenario "" is not a scenario');
  });

  it("bad numbers, steps, URLs and flags are usage errors naming the flag", () => {
    expect(usageError(["--rounds=0"]).message).toContain(
      '--rounds "0" must be a whole number from 1 to 1000',
    );
    expect(usageError(["--rows=1e4"]).message).toContain('--rows "1e4" must be a whole number');
    expect(usageError(["--churn-seconds=1"]).message).toContain("from 5 to 86400");
    expect(usageError(["--scale-users=1000,10"]).message).toContain("--scale-users");
    expect(usageError(["--scale-users=10,,100"]).message).toContain("increasing whole numbers");
    expect(usageError(["--db=mysql://x"]).message).toContain("must be a postgres:// URL");
    expect(usageError(["--output="]).message).toContain("--output must name a file");
    expect(usageError(["--output=/tmp/run.md"]).message).toContain("must name a .json file");
    expect(usageError(["--chart", "--output=chart.png"]).message).toContain("must name an .svg file");
    expect(usageError(["--verbose"]).code).toBe("usage");
  });

  it("--help shows the help, which lists every scenario", () => {
    expect(parseBenchArgs(["--help"])).toBeNull();
    expect(parseCommandLine(["bench", "-h"])).toStrictEqual({ kind: "help", text: BENCH_HELP });
    for (const name of ALL) expect(BENCH_HELP).toContain(`  ${name} `);
  });

  it("main answers a bad scenario with the usage message on stderr and exit code 2", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await main(["bench", "--scenario=nope"], {})).toBe(2);
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(
      /^oversync: --scenario "nope" is not a scenario; .*\[usage\]\n$/,
    );
  });
});
