/**
 * The better-sqlite3 driver. Typed against the small part of better-sqlite3 it uses, so the engine
 * has no hard dependency on the package; `openBetterSqlite3Driver` loads it on demand.
 */
import { OversyncClientError } from "../errors.js";
import { WAL_JOURNAL, createSerialDriver, type SqliteConnection } from "./serial-driver.js";
import type { RunResult, SqlFunction, SqliteDriver, SqliteRow, SqliteValue } from "./sqlite-driver.js";
import { SqliteError, primaryCodeOfName } from "./sqlite-error.js";
import { StatementCache } from "./statement-cache.js";

/** The statement methods the driver uses. */
export interface BetterSqlite3Statement {
  readonly reader: boolean;
  safeIntegers(toggle?: boolean): this;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
}

/** The database methods the driver uses. */
export interface BetterSqlite3Database {
  prepare(sql: string): BetterSqlite3Statement;
  exec(sql: string): unknown;
  function(
    name: string,
    options: { varargs: boolean; safeIntegers: boolean; deterministic: boolean },
    fn: (...args: unknown[]) => unknown,
  ): unknown;
  close(): unknown;
}

/** Options for wrapping a database the application opened. */
export interface BetterSqlite3DriverOptions {
  /** Close the database on `driver.close()`; false (default) leaves it open for its owner. */
  readonly closeDatabase?: boolean;
}

/**
 * Wraps an open better-sqlite3 database. Integers are read as bigint per statement, so the
 * database's own defaults are left alone.
 */
export function createBetterSqlite3Driver(
  database: BetterSqlite3Database,
  options?: BetterSqlite3DriverOptions,
): SqliteDriver {
  return createSerialDriver(new BetterSqlite3Connection(database, options?.closeDatabase ?? false));
}

/**
 * Opens (or creates) a SQLite file with better-sqlite3 in WAL journal mode (see WAL_JOURNAL); the
 * driver closes it on `close()`.
 */
export async function openBetterSqlite3Driver(filename: string): Promise<SqliteDriver> {
  let Database: new (filename: string) => BetterSqlite3Database;
  try {
    Database = (await import("better-sqlite3")).default as unknown as typeof Database;
  } catch (error) {
    throw new OversyncClientError(
      "driver_unavailable",
      "better-sqlite3 could not be loaded; install it (npm install better-sqlite3) or use another driver",
      { cause: error },
    );
  }
  const database = new Database(filename);
  database.exec(WAL_JOURNAL);
  return createBetterSqlite3Driver(database, { closeDatabase: true });
}

class BetterSqlite3Connection implements SqliteConnection {
  readonly name = "better-sqlite3";
  private readonly statements: StatementCache<BetterSqlite3Statement>;

  constructor(
    private readonly database: BetterSqlite3Database,
    private readonly closeDatabase: boolean,
  ) {
    this.statements = new StatementCache((sql) => database.prepare(sql).safeIntegers(true));
  }

  exec(sql: string): void {
    this.database.exec(sql);
  }

  all(sql: string, params: readonly SqliteValue[]): SqliteRow[] {
    const statement = this.statements.get(sql);
    if (!statement.reader) {
      statement.run(...params);
      return [];
    }
    return (statement.all(...params) as Record<string, SqliteValue>[]).map(plainBlobs);
  }

  run(sql: string, params: readonly SqliteValue[]): RunResult {
    const result = this.statements.get(sql).run(...params);
    return { changes: result.changes, lastInsertRowid: BigInt(result.lastInsertRowid) };
  }

  createFunction(name: string, fn: SqlFunction): void {
    this.database.function(name, { varargs: true, safeIntegers: true, deterministic: false }, (...args) =>
      fn(...args.map((arg) => (arg instanceof Uint8Array ? plainBytes(arg) : (arg as SqliteValue)))),
    );
  }

  close(): void {
    this.statements.clear();
    if (this.closeDatabase) this.database.close();
  }

  toSqliteError(error: unknown): SqliteError | undefined {
    if (!(error instanceof Error)) return undefined;
    const code = (error as { code?: unknown }).code;
    if (error.name !== "SqliteError" || typeof code !== "string") return undefined;
    return new SqliteError(error.message, primaryCodeOfName(code), { cause: error });
  }
}

/** better-sqlite3 returns BLOBs as (possibly pooled) Buffers; the seam hands out plain Uint8Array copies. */
function plainBlobs(row: Record<string, SqliteValue>): SqliteRow {
  for (const column in row) {
    const value = row[column];
    if (value instanceof Uint8Array) row[column] = plainBytes(value);
  }
  return row;
}

function plainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
