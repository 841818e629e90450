import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_DATA_DIR, MAIN_HELP, SERVE_HELP, parseCommandLine } from "./cli-args.js";
import { cliVersion } from "./version.js";

describe("oversync command line", () => {
  it("serve defaults: port 8080 on 127.0.0.1, ./.oversync/data, 24 h tokens, 10 s grace, 20 s/120 s timeouts", () => {
    expect(parseCommandLine(["serve"])).toStrictEqual({
      kind: "serve",
      args: {
        schema: { example: "business" },
        port: 8080,
        host: "127.0.0.1",
        dataDir: DEFAULT_DATA_DIR,
        tokenTtlSeconds: 86_400,
        shutdownGraceMs: 10_000,
        headersTimeoutMs: 20_000,
        requestTimeoutMs: 120_000,
      },
    });
    expect(DEFAULT_DATA_DIR).toBe("./.oversync/data");
  });

  it("serve flags in both --flag value and --flag=value forms", () => {
    expect(
      parseCommandLine([
        "serve",
        "--port=0",
        "--host",
        "0.0.0.0",
        "--data-dir",
        "/tmp/x",
        "--token-ttl",
        "60",
        "--shutdown-grace=0",
        "--headers-timeout",
        "5",
        "--request-timeout=30",
      ]),
    ).toStrictEqual({
      kind: "serve",
      args: {
        schema: { example: "business" },
        port: 0,
        host: "0.0.0.0",
        dataDir: "/tmp/x",
        tokenTtlSeconds: 60,
        shutdownGraceMs: 0,
        headersTimeoutMs: 5000,
        requestTimeoutMs: 30_000,
      },
    });
  });

  it("serve --demo-dir names the built demo to serve at /demo/", () => {
    const command = parseCommandLine(["serve", "--demo-dir", "demo/dist"]);
    expect(command.kind === "serve" ? command.args.demoDir : undefined).toBe("demo/dist");
    expect(() => parseCommandLine(["serve", "--demo-dir="])).toThrow("--demo-dir must name a directory");
    expect(SERVE_HELP).toContain("--demo-dir <dir>");
  });

  it("serve --example picks a built-in example and --config a schema file", () => {
    const schemaOf = (argv: string[]) => {
      const command = parseCommandLine(["serve", ...argv]);
      return command.kind === "serve" ? command.args.schema : undefined;
    };
    expect(schemaOf(["--example", "samplesync"])).toStrictEqual({ example: "samplesync" });
    expect(schemaOf(["--example=business"])).toStrictEqual({ example: "business" });
    expect(schemaOf(["--config", "app.json"])).toStrictEqual({ configFile: "app.json" });
    expect(SERVE_HELP).toContain("--example <name>");
    expect(SERVE_HELP).toContain("samplesync");
    expect(SERVE_HELP).toContain("--config <file>");
  });

  it("help for the program and for serve; serve's help says how to listen on all interfaces", () => {
    for (const argv of [[], ["--help"], ["-h"], ["help"]]) {
      expect(parseCommandLine(argv)).toStrictEqual({ kind: "help", text: MAIN_HELP });
    }
    expect(parseCommandLine(["serve", "--help"])).toStrictEqual({ kind: "help", text: SERVE_HELP });
    expect(parseCommandLine(["serve", "-h", "--port", "1"])).toStrictEqual({
      kind: "help",
      text: SERVE_HELP,
    });
    expect(SERVE_HELP).toContain("--host 0.0.0.0");
    expect(SERVE_HELP).toContain("DATABASE_URL");
    expect(SERVE_HELP).toContain("JWT_SECRET");
    expect(SERVE_HELP).toContain("--headers-timeout <s>");
    expect(SERVE_HELP).toContain("--request-timeout <s>");
  });

  it("--version, -v and version print this package's version", () => {
    for (const argv of [["--version"], ["-v"], ["version"]]) {
      expect(parseCommandLine(argv)).toStrictEqual({ kind: "version" });
    }
    expect(MAIN_HELP).toContain("--version");
    const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(cliVersion()).toBe(manifest.version);
    expect(cliVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [["benchmark"], /unknown command "benchmark"/],
    [["serve", "--prot", "1"], /Unknown option '--prot'/],
    [["serve", "extra"], /positional/],
    [["serve", "--port"], /argument missing/],
    [["serve", "--port", "65536"], /--port "65536" must be a whole number from 0 to 65535/],
    [["serve", "--port", "80x"], /--port "80x"/],
    [["serve", "--port", "-1"], /--port/],
    [["serve", "--token-ttl", "0"], /--token-ttl "0" must be a whole number from 1/],
    [["serve", "--headers-timeout", "0"], /--headers-timeout "0" must be a whole number from 1 to 3600/],
    [
      ["serve", "--request-timeout", "3601"],
      /--request-timeout "3601" must be a whole number from 1 to 3600/,
    ],
    [["serve", "--host", ""], /--host must not be empty/],
    [["serve", "--data-dir="], /--data-dir must not be empty/],
    [
      ["serve", "--example", "shop"],
      /--example "shop" is not a built-in example; choose one of business, samplesync/,
    ],
    [["serve", "--example", "samplesync", "--config", "a.json"], /--example and --config cannot be combined/],
    [["serve", "--config="], /--config must name a JSON file/],
  ])("refuses %j with a usage error", (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(
      expect.objectContaining({ code: "usage", message: expect.stringMatching(message) }),
    );
  });
});
