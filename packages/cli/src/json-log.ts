/**
 * Structured logging: one JSON object per line, so request logs and faults can be read by tools.
 * Errors inside the details are expanded to their name, message, code and stack (a stack stays in
 * the server's own log; it never goes over the wire).
 */

/** The log levels the server writes. */
export type LogLevel = "info" | "warn" | "error";

/** A logger that fits the server's SyncLogger, with every level it takes but debug. */
export interface JsonLogger {
  info(message: string, details?: Readonly<Record<string, unknown>>): void;
  warn(message: string, details?: Readonly<Record<string, unknown>>): void;
  error(message: string, details?: Readonly<Record<string, unknown>>): void;
}

/** Writes one line per entry to `write` (stdout by default). */
export function createJsonLogger(
  write: (line: string) => void = (line) => process.stdout.write(line),
): JsonLogger {
  const entry = (level: LogLevel) => (message: string, details?: Readonly<Record<string, unknown>>) => {
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...details }, replacer)}\n`,
    );
  };
  return { info: entry("info"), warn: entry("warn"), error: entry("error") };
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const { code } = value as { code?: unknown };
    return {
      name: value.name,
      message: value.message,
      ...(code === undefined ? {} : { code }),
      stack: value.stack,
      ...(value.cause === undefined ? {} : { cause: value.cause }),
    };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}
