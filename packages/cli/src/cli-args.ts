/** The command line of `oversync`: subcommands, their flags, and the help texts. */
import { BENCH_HELP, type BenchArgs, parseBenchArgs } from "./bench/bench-args.js";
import { CliError } from "./cli-error.js";
import { parseCommandFlags } from "./command-flags.js";
import { ADMIN_TOKEN_ENV, MIN_ADMIN_TOKEN_LENGTH, parseCorsOrigins } from "./exposure.js";
import { DEFAULT_TOKEN_TTL_SECONDS } from "./jwt-auth.js";
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from "./request-timeouts.js";
import { SIMULATE_HELP, type SimulateArgs, parseSimulateArgs } from "./simulate/simulate-args.js";

/** The names `serve --example` accepts. */
export const EXAMPLE_NAMES = ["business", "samplesync"] as const;

/** A built-in example of `serve --example`. */
export type ExampleName = (typeof EXAMPLE_NAMES)[number];

/** What `serve` syncs: a built-in example, or the schema a `--config` file describes. */
export type SchemaChoice = { readonly example: ExampleName } | { readonly configFile: string };

/** `serve` flags after parsing. */
export interface ServeArgs {
  /** `--example` (default business) or `--config`. */
  readonly schema: SchemaChoice;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly tokenTtlSeconds: number;
  readonly shutdownGraceMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Serve the live conformance suite's test hooks (test-hooks.ts); absent unless --test-hooks. */
  readonly testHooks?: true;
  /** `--demo-dir`: a built demo web app to serve at /demo/; absent unless given. */
  readonly demoDir?: string;
  /** `--public-status`: `/syncx/status` answers everyone; absent unless given. */
  readonly publicStatus?: true;
  /** `--public-test-helpers`: the test helpers answer everyone; absent unless given. */
  readonly publicTestHelpers?: true;
  /** `--cors-origin`: the origins whose pages may call, or `["*"]`; absent: any origin. */
  readonly corsOrigins?: readonly string[];
}

/** What the command line asks for. */
export type CliCommand =
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version" }
  | { readonly kind: "serve"; readonly args: ServeArgs }
  | { readonly kind: "simulate"; readonly args: SimulateArgs }
  | { readonly kind: "bench"; readonly args: BenchArgs };

/** Where PGlite keeps its files unless --data-dir says otherwise. */
export const DEFAULT_DATA_DIR = "./.oversync/data";

export const MAIN_HELP = `Usage: oversync <command> [options]

Commands:
  serve      Run the reference sync server on embedded PGlite or PostgreSQL.
  simulate   Run multi-device scenarios against a sync server and report what broke.
  bench      Measure sync against this machine's limits on PostgreSQL and SQLite.

Options:
  -v, --version   Print the version
  -h, --help      Show this help

Run "oversync <command> --help" for a command's options.
`;

export const SERVE_HELP = `Usage: oversync serve [options]

Runs the oversync reference server: the sync protocol over HTTP, sign-in at POST /dummy-signin,
the test helpers the KMP and Dart live suites call, over one schema: a built-in example (the
business-rich-v0 example unless --example says otherwise) or your own tables (--config).

Schema (one of):
  --example <name>         A built-in example; its tables are created when missing:
                             business     8 tables of the business-rich-v0 contract, the schema
                                          the KMP and Dart live suites use (default;
                                          app "nethttp-server-example")
                             samplesync   person, person_address and comment, for upstream's
                                          samplesync-kmp and flutter_samplesync apps
                                          (app "samplesync-server")
                           Both live in PostgreSQL schema "business".
  --config <file>          Serve your own tables, described by a JSON file:
                             {"appName": "my-app",
                              "schemaFile": "schema.sql",
                              "tables": [{"schema": "app", "table": "notes",
                                          "syncKeyColumns": ["id"]}],
                              "maxSupportedSchemaVersion": 1}
                           schemaFile (relative to the config file) or schemaSql (inline SQL, a
                           string or an array of lines) runs at every start, so write it
                           idempotently (CREATE TABLE IF NOT EXISTS ...); leave both out when the
                           tables already exist. maxSupportedSchemaVersion is optional (default
                           1). Each table needs an owner column _sync_scope_id text NOT NULL,
                           one uuid or text key unique per owner, and DEFERRABLE foreign keys
                           that include the owner; the server refuses tables it cannot sync and
                           lists why.
                           Give each schema its own database (DATABASE_URL or --data-dir): the
                           sync history a server keeps still names the tables it served before.

Options:
  --port <n>               TCP port (default 8080; 0 picks a free one)
  --host <address>         Address to listen on (default 127.0.0.1: this machine only).
                           To accept other devices (phones, an Android emulator, containers),
                           listen on all interfaces with --host 0.0.0.0 (or --host :: for IPv6).
  --data-dir <dir>         PGlite data directory, kept across restarts (default ${DEFAULT_DATA_DIR});
                           ignored when DATABASE_URL is set
  --token-ttl <seconds>    Lifetime of sign-in tokens (default ${DEFAULT_TOKEN_TTL_SECONDS}, i.e. 24 hours)
  --shutdown-grace <s>     On SIGINT/SIGTERM, how long open requests may take to finish before
                           they are cut (default 10)
  --headers-timeout <s>    Time a client has to send a request's headers before the server
                           answers 408 and closes the connection (default ${DEFAULT_HEADERS_TIMEOUT_MS / 1000}; at most
                           --request-timeout)
  --request-timeout <s>    Time a client has to send a whole request, body included (default
                           ${DEFAULT_REQUEST_TIMEOUT_MS / 1000}); responses, such as watch streams, are never timed
  --demo-dir <dir>         Serve the demo web app built in <dir> at /demo/ (npm start builds the
                           repository's demo/ into demo/dist and passes it)
  --public-status          Answer GET /syncx/status (table names and counters) to every caller;
                           by default it answers callers on this machine, and with
                           ${ADMIN_TOKEN_ENV} set callers that send that token
  --public-test-helpers    Answer the test helpers (/test/*) to every caller, for live suites
                           running on another machine (a phone, a container); by default they
                           answer as status does. They take no token: for test servers only.
  --cors-origin <origins>  Origins whose web pages may call the server (CORS), comma-separated
                           (https://app.example.com,http://localhost:5173), or * for any
                           (default *)
  --test-hooks             Also serve the hooks of the live conformance suite (admin routes,
                           like the test helpers):
                             POST /test/fail-requests {"user_id","endpoint","count"?,"skip"?,
                               "status"+"body"? | "disconnect":true, "when"?:"before"|"after"}
                               answers (or cuts) that user's next requests to one endpoint:
                               capabilities, connect, push_session_create, push_session_chunk,
                               push_session_commit, push_session_delete, committed_bundle_rows,
                               pull, snapshot_create, snapshot_chunk, snapshot_delete, watch
                             POST /test/initialization-lease {"user_id","expires_in_seconds"}
                               moves the expiry of a scope's initialization lease (0: now)
                             POST /test/server-sql {"user_id","writer_id"?,"source_bundle_id"?,
                               "statements":[{"sql","params"}]} commits the statements as one
                               server-originated bundle
                             GET /test/hooks lists them
  -h, --help               Show this help

Environment:
  DATABASE_URL   Use this PostgreSQL database instead of PGlite,
                 e.g. postgres://user:password@127.0.0.1:5432/oversync
  JWT_SECRET     Secret for signing tokens (HS256). When unset a development secret is used and
                 a warning is printed: set it before other machines can reach the server.
  ${ADMIN_TOKEN_ENV}
                 A secret of ${MIN_ADMIN_TOKEN_LENGTH}+ characters: callers anywhere that send it as
                 "Authorization: Bearer <token>" may call status and the test helpers. An
                 environment variable, not a flag, so it does not show in the process list.

The banner says who may reach what: health answers everyone (with no details); status and the
test helpers answer callers on this machine (a loopback address) unless opened above.

Logs: one JSON line per request on stdout; the banner and warnings on stderr.
`;

/** Parses `argv` (without the node and script paths). Throws CliError `usage` on a bad line. */
export function parseCommandLine(argv: readonly string[]): CliCommand {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    return { kind: "help", text: MAIN_HELP };
  }
  if (command === "-v" || command === "--version" || command === "version") return { kind: "version" };
  if (command === "serve") return parseServe(rest);
  if (command === "simulate") {
    const args = parseSimulateArgs(rest);
    return args === null ? { kind: "help", text: SIMULATE_HELP } : { kind: "simulate", args };
  }
  if (command === "bench") {
    const args = parseBenchArgs(rest);
    return args === null ? { kind: "help", text: BENCH_HELP } : { kind: "bench", args };
  }
  throw new CliError(
    "usage",
    `unknown command ${JSON.stringify(command)}; run "oversync --help" for the commands`,
  );
}

function parseServe(argv: readonly string[]): CliCommand {
  const { values } = parseCommandFlags("serve", argv, {
    port: { type: "string" },
    host: { type: "string" },
    "data-dir": { type: "string" },
    "token-ttl": { type: "string" },
    "shutdown-grace": { type: "string" },
    "headers-timeout": { type: "string" },
    "request-timeout": { type: "string" },
    "test-hooks": { type: "boolean" },
    "demo-dir": { type: "string" },
    "public-status": { type: "boolean" },
    "public-test-helpers": { type: "boolean" },
    "cors-origin": { type: "string" },
    example: { type: "string" },
    config: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help === true) return { kind: "help", text: SERVE_HELP };
  const host = stringFlag(values.host, "127.0.0.1");
  const dataDir = stringFlag(values["data-dir"], DEFAULT_DATA_DIR);
  if (host === "") throw new CliError("usage", "--host must not be empty; use 127.0.0.1 or 0.0.0.0");
  if (dataDir === "") throw new CliError("usage", "--data-dir must not be empty");
  if (values["demo-dir"] === "") throw new CliError("usage", "--demo-dir must name a directory");
  return {
    kind: "serve",
    args: {
      schema: schemaChoice(values.example, values.config),
      port: integerFlag("--port", values.port, 8080, 0, 65535),
      host,
      dataDir,
      tokenTtlSeconds: integerFlag(
        "--token-ttl",
        values["token-ttl"],
        DEFAULT_TOKEN_TTL_SECONDS,
        1,
        315_360_000,
      ),
      shutdownGraceMs: integerFlag("--shutdown-grace", values["shutdown-grace"], 10, 0, 3600) * 1000,
      headersTimeoutMs: secondsFlag(
        "--headers-timeout",
        values["headers-timeout"],
        DEFAULT_HEADERS_TIMEOUT_MS,
      ),
      requestTimeoutMs: secondsFlag(
        "--request-timeout",
        values["request-timeout"],
        DEFAULT_REQUEST_TIMEOUT_MS,
      ),
      ...(values["test-hooks"] === true ? { testHooks: true as const } : {}),
      ...(typeof values["demo-dir"] === "string" ? { demoDir: values["demo-dir"] } : {}),
      ...(values["public-status"] === true ? { publicStatus: true as const } : {}),
      ...(values["public-test-helpers"] === true ? { publicTestHelpers: true as const } : {}),
      ...(typeof values["cors-origin"] === "string"
        ? { corsOrigins: parseCorsOrigins(values["cors-origin"]) }
        : {}),
    },
  };
}

function schemaChoice(
  example: string | boolean | undefined,
  config: string | boolean | undefined,
): SchemaChoice {
  if (example !== undefined && config !== undefined) {
    throw new CliError(
      "usage",
      "--example and --config cannot be combined: serve a built-in example or your own tables",
    );
  }
  if (typeof config === "string") {
    if (config === "") throw new CliError("usage", "--config must name a JSON file");
    return { configFile: config };
  }
  const name = typeof example === "string" ? example : "business";
  if (!(EXAMPLE_NAMES as readonly string[]).includes(name)) {
    throw new CliError(
      "usage",
      `--example ${JSON.stringify(name)} is not a built-in example; choose one of ${EXAMPLE_NAMES.join(", ")}`,
    );
  }
  return { example: name as ExampleName };
}

/** A timeout flag in whole seconds (1 s to 1 h), as milliseconds. */
function secondsFlag(name: string, value: string | boolean | undefined, fallbackMs: number): number {
  return integerFlag(name, value, fallbackMs / 1000, 1, 3600) * 1000;
}

function stringFlag(value: string | boolean | undefined, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}

function integerFlag(
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const text = String(value);
  const number = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new CliError(
      "usage",
      `${name} ${JSON.stringify(text)} must be a whole number from ${min} to ${max}`,
    );
  }
  return number;
}
