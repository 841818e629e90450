/** The flags of one `oversync` command, parsed the one way every command parses them. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { CliError } from "./cli-error.js";

/** Parsed flags: each value a string, a boolean, or undefined when absent. */
export interface CommandFlags {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/**
 * node:util's parseArgs with unknown flags refused; a refusal is a CliError `usage` that points at
 * `oversync <command> --help`.
 */
export function parseCommandFlags(
  command: string,
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  allowPositionals = false,
): CommandFlags {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], strict: true, allowPositionals, options });
    return { values: values as CommandFlags["values"], positionals };
  } catch (error) {
    throw commandUsageError(command, (error as Error).message);
  }
}

/** A usage error of `command` that points at its help. */
export function commandUsageError(command: string, message: string): CliError {
  return new CliError("usage", `${message}; run "oversync ${command} --help" for the options`);
}
