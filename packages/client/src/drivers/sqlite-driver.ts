/**
 * The one seam between the sync engine and a SQLite binding. Every method is async so the same
 * engine runs over synchronous bindings (better-sqlite3, node:sqlite, sqlite-wasm) and over
 * asynchronous ones (React Native).
 *
 * Values cross the seam exactly: INTEGER as bigint (never number), REAL as number, TEXT as string,
 * BLOB as Uint8Array, NULL as null. A JS number is always bound as REAL, so integers must be passed
 * as bigint.
 */
import type { SqliteValue } from "@oversync/protocol";

export type { SqliteValue };

/** One result row, keyed by column name. */
export type SqliteRow = Readonly<Record<string, SqliteValue>>;

/** What a data-changing statement did. */
export interface RunResult {
  /** Rows changed by the statement itself (not by triggers or foreign-key actions). */
  readonly changes: number;
  readonly lastInsertRowid: bigint;
}

/** Runs statements on one connection. */
export interface SqliteExecutor {
  /** Runs one or more parameterless statements (DDL, PRAGMA); results are discarded. */
  exec(sql: string): Promise<void>;
  /** Runs one statement with positional `?` parameters and returns every result row. */
  query<R = SqliteRow>(sql: string, params?: readonly SqliteValue[]): Promise<R[]>;
  /** Runs one statement with positional `?` parameters and reports how many rows it changed. */
  run(sql: string, params?: readonly SqliteValue[]): Promise<RunResult>;
}

/** How a transaction takes SQLite's locks; "immediate" takes the write lock at BEGIN. */
export type TransactionBehavior = "immediate" | "deferred" | "exclusive";

/** A scalar SQL function implemented in JS; arguments and result follow the value rules above. */
export type SqlFunction = (...args: SqliteValue[]) => SqliteValue;

/**
 * A serialized connection: calls run one at a time in call order. While a `transaction` unit of
 * work runs, other calls on the driver wait until it has committed or rolled back, so the unit must
 * use the `tx` executor it is given (calling the driver itself from inside the unit deadlocks).
 */
export interface SqliteDriver extends SqliteExecutor {
  /** The binding's name, for diagnostics ("better-sqlite3", "node:sqlite"). */
  readonly name: string;
  /**
   * Runs `work` inside BEGIN (IMMEDIATE by default) … COMMIT. When `work` throws, or COMMIT fails
   * (a deferred foreign key, say), the transaction is rolled back and the error rethrown.
   */
  transaction<T>(
    work: (tx: SqliteExecutor) => Promise<T>,
    options?: { readonly behavior?: TransactionBehavior },
  ): Promise<T>;
  /**
   * Registers (or replaces) a scalar SQL function on this connection only, e.g. for TEMP triggers
   * that report table changes to JS. It is called synchronously while a statement runs.
   */
  createFunction(name: string, fn: SqlFunction): Promise<void>;
  /** Waits for queued calls, then closes the connection (or releases a wrapped one). */
  close(): Promise<void>;
}
