/**
 * The `oversync` program: parses the command line, runs the command, and turns its outcome into an
 * exit code (0 done, 1 failed, 2 bad command line). `serve` runs until SIGINT or SIGTERM; a second
 * signal during shutdown exits at once with 1. `simulate` exits 1 when any scenario failed, `bench`
 * when any scenario could not run.
 */
import { runBench } from "./bench/runner.js";
import { type CliCommand, parseCommandLine } from "./cli-args.js";
import { CliError } from "./cli-error.js";
import { EXAMPLE_PRESETS } from "./example-presets.js";
import { ADMIN_TOKEN_ENV, resolveAdminToken } from "./exposure.js";
import { createJsonLogger } from "./json-log.js";
import { resolveJwtSecret } from "./jwt-auth.js";
import { loadSchemaConfig } from "./schema-config.js";
import { startServer } from "./serve.js";
import { runSimulation } from "./simulate/runner.js";
import { cliVersion } from "./version.js";

/** Runs `oversync` with `argv` (without the node and script paths); resolves to the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    return fail(error, 2);
  }
  if (command.kind === "help") {
    process.stdout.write(command.text);
    return 0;
  }
  if (command.kind === "version") {
    process.stdout.write(`${cliVersion()}\n`);
    return 0;
  }
  if (command.kind === "simulate") {
    try {
      // The server's admin token opens its test helpers from another machine.
      const adminToken = env[ADMIN_TOKEN_ENV] || undefined;
      const options = { ...command.args, ...(adminToken === undefined ? {} : { adminToken }) };
      return (await runSimulation(options)).failed === 0 ? 0 : 1;
    } catch (error) {
      return fail(error, 1);
    }
  }
  if (command.kind === "bench") {
    try {
      return await runBench(command.args, { command: ["oversync", ...argv].join(" "), env });
    } catch (error) {
      return fail(error, 1);
    }
  }
  const logger = createJsonLogger();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // Signals are caught from the start, so one arriving while the database opens still ends cleanly.
  let stopSignal: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal !== undefined) process.exit(1);
    stopSignal = signal;
    wake?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let server: Awaited<ReturnType<typeof startServer>>;
  const { schema, ...args } = command.args;
  try {
    // A config file is read and checked before the database opens, so a bad one changes nothing.
    const preset =
      "configFile" in schema ? await loadSchemaConfig(schema.configFile) : EXAMPLE_PRESETS[schema.example];
    server = await startServer({
      ...args,
      preset,
      databaseUrl: env.DATABASE_URL,
      jwtSecret: resolveJwtSecret(env),
      adminToken: resolveAdminToken(env),
      logger,
      say,
    });
  } catch (error) {
    return fail(error, 1);
  }
  if (stopSignal === undefined) await new Promise<void>((resolve) => (wake = resolve));
  say(`received ${stopSignal}; finishing open requests (send it again to stop at once)`);
  try {
    await server.close();
    return 0;
  } catch (error) {
    return fail(error, 1);
  }
}

function fail(error: unknown, exitCode: number): number {
  if (error instanceof CliError) {
    process.stderr.write(`oversync: ${error.message} [${error.code}]\n`);
  } else {
    process.stderr.write(`oversync: unexpected failure: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  return exitCode;
}
