/** SQLite failures as one error type, whichever binding raised them. */
import { OversyncClientError } from "../errors.js";

/** SQLite's primary result codes by number (the low byte of an extended code). */
const PRIMARY_CODES: Readonly<Record<number, string>> = {
  1: "SQLITE_ERROR",
  2: "SQLITE_INTERNAL",
  3: "SQLITE_PERM",
  4: "SQLITE_ABORT",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  12: "SQLITE_NOTFOUND",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  16: "SQLITE_EMPTY",
  17: "SQLITE_SCHEMA",
  18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT",
  20: "SQLITE_MISMATCH",
  21: "SQLITE_MISUSE",
  22: "SQLITE_NOLFS",
  23: "SQLITE_AUTH",
  24: "SQLITE_FORMAT",
  25: "SQLITE_RANGE",
  26: "SQLITE_NOTADB",
  27: "SQLITE_NOTICE",
  28: "SQLITE_WARNING",
};

/**
 * SQLite rejected a statement. `message` is SQLite's own text (for a trigger's RAISE it is exactly
 * the raised message, e.g. "SYNC_TRANSITION_PENDING"); `sqliteCode` is the primary result code name.
 */
export class SqliteError extends OversyncClientError<"sqlite_error"> {
  override readonly name = "SqliteError";
  /** The primary result code, e.g. "SQLITE_CONSTRAINT" or "SQLITE_BUSY". */
  readonly sqliteCode: string;

  constructor(message: string, sqliteCode: string, options?: { cause?: unknown }) {
    super("sqlite_error", message, options);
    this.sqliteCode = sqliteCode;
  }
}

/** The primary code name for a numeric (possibly extended) SQLite result code. */
export function primaryCodeName(resultCode: number): string {
  return PRIMARY_CODES[resultCode & 0xff] ?? "SQLITE_ERROR";
}

/** The primary code name for an extended code name ("SQLITE_CONSTRAINT_TRIGGER" → "SQLITE_CONSTRAINT"). */
export function primaryCodeOfName(name: string): string {
  const primary = Object.values(PRIMARY_CODES)
    .filter((candidate) => name === candidate || name.startsWith(`${candidate}_`))
    .sort((a, b) => b.length - a.length)[0];
  return primary ?? "SQLITE_ERROR";
}

/** The message guard triggers raise while a destructive transition is pending. */
export const TRANSITION_PENDING_MESSAGE = "SYNC_TRANSITION_PENDING";

/** True when a write failed because a guard trigger blocked it during a destructive transition. */
export function isTransitionPendingError(error: unknown): boolean {
  return error instanceof SqliteError && error.message === TRANSITION_PENDING_MESSAGE;
}

/**
 * The message guard triggers raise for a key the server could never store: a BLOB key that is not
 * 16 bytes, a TEXT key that is not text, or an uppercase (non-canonical) UUID in a TEXT key.
 */
export const INVALID_KEY_MESSAGE = "SYNC_KEY_INVALID";

/** True when an app write failed because its sync key could never reach the server. */
export function isInvalidKeyError(error: unknown): boolean {
  return error instanceof SqliteError && error.message === INVALID_KEY_MESSAGE;
}
