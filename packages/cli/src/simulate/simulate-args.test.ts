import { describe, expect, it } from "vitest";
import { parseCommandLine } from "../cli-args.js";
import { SCENARIOS } from "./scenarios/index.js";
import { DEFAULT_SIMULATE_SERVER, SIMULATE_HELP } from "./simulate-args.js";

describe("oversync simulate command line", () => {
  it("takes a scenario and defaults the rest", () => {
    expect(parseCommandLine(["simulate", "--scenario=fresh-install"])).toStrictEqual({
      kind: "simulate",
      args: {
        scenarios: ["fresh-install"],
        serverUrl: DEFAULT_SIMULATE_SERVER,
        parallel: 1,
        cleanup: false,
        verbose: false,
      },
    });
  });

  it("reads every flag; all, watch-all and comma lists expand to names in order", () => {
    expect(
      parseCommandLine([
        "simulate",
        "--scenario=watch-all,conflicts,watch-peer-push",
        "--server",
        "http://10.0.2.2:8080/api",
        "--db=postgres://postgres@127.0.0.1:5432/oversync",
        "--parallel=4",
        "--cleanup",
        "--verbose",
        "--output",
        "report.json",
      ]),
    ).toStrictEqual({
      kind: "simulate",
      args: {
        scenarios: [...SCENARIOS.map((s) => s.name).filter((name) => name.startsWith("watch-")), "conflicts"],
        serverUrl: "http://10.0.2.2:8080/api",
        database: "postgres://postgres@127.0.0.1:5432/oversync",
        parallel: 4,
        cleanup: true,
        verbose: true,
        outputFile: "report.json",
      },
    });
    const all = parseCommandLine(["simulate", "--scenario=all"]);
    expect(all.kind === "simulate" && all.args.scenarios).toStrictEqual(SCENARIOS.map((s) => s.name));
  });

  it("help lists every scenario with its description", () => {
    expect(parseCommandLine(["simulate", "--help"])).toStrictEqual({ kind: "help", text: SIMULATE_HELP });
    const lines = SIMULATE_HELP.split("\n").map((line) => line.trim().split(/ {2,}/));
    for (const scenario of SCENARIOS) expect(lines).toContainEqual([scenario.name, scenario.description]);
  });

  it.each([
    [["simulate"], /--scenario is required/],
    [["simulate", "--scenario=nope"], /unknown scenario "nope"; choose from: fresh-install,/],
    [["simulate", "--scenario=,"], /--scenario needs a scenario name/],
    [["simulate", "--scenario=all", "--server=ftp://x"], /--server "ftp:\/\/x" must be an http/],
    [["simulate", "--scenario=all", "--server=nowhere"], /--server "nowhere" is not a URL/],
    [["simulate", "--scenario=all", "--db=mysql://x"], /--db must be a postgres:\/\/ URL/],
    [["simulate", "--scenario=all", "--parallel=0"], /--parallel "0" must be a whole number from 1 to 64/],
    [["simulate", "--scenario=all", "--parallel=65"], /--parallel "65"/],
    [["simulate", "--scenario=all", "--cleanup=true"], /--cleanup/],
    [["simulate", "--scenario=all", "extra"], /positional/],
  ])("refuses %j with a usage error", (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(
      expect.objectContaining({ code: "usage", message: expect.stringMatching(message) }),
    );
  });
});
