/**
 * The `node:sqlite` driver (Node 22.13+ and 24). The module is loaded with a dynamic import, so
 * importing this file on an older Node is harmless: only opening a driver fails, with
 * `driver_unavailable`.
 */
import { OversyncClientError } from "../errors.js";
import { WAL_JOURNAL, createSerialDriver, type SqliteConnection } from "./serial-driver.js";
import type { RunResult, SqlFunction, SqliteDriver, SqliteRow, SqliteValue } from "./sqlite-driver.js";
import { SqliteError, primaryCodeName } from "./sqlite-error.js";
import { StatementCache } from "./statement-cache.js";

/** The statement methods the driver uses (`StatementSync`). */
export interface NodeSqliteStatement {
  setReadBigInts(enabled: boolean): void;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
}

/** The database methods the driver uses (`DatabaseSync`). */
export interface NodeSqliteDatabase {
  prepare(sql: string): NodeSqliteStatement;
  exec(sql: string): void;
  function(
    name: string,
    options: { varargs: boolean; useBigIntArguments: boolean; deterministic: boolean },
    fn: (...args: unknown[]) => unknown,
  ): void;
  close(): void;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => NodeSqliteDatabase;
}

/** Options for wrapping a database the application opened. */
export interface NodeSqliteDriverOptions {
  /** Close the database on `driver.close()`; false (default) leaves it open for its owner. */
  readonly closeDatabase?: boolean;
}

/** Wraps an open `node:sqlite` DatabaseSync; integers are read as bigint per statement. */
export function createNodeSqliteDriver(
  database: NodeSqliteDatabase,
  options?: NodeSqliteDriverOptions,
): SqliteDriver {
  return createSerialDriver(new NodeSqliteConnection(database, options?.closeDatabase ?? false));
}

/**
 * Opens (or creates) a SQLite file with `node:sqlite` in WAL journal mode (see WAL_JOURNAL); the
 * driver closes it on `close()`.
 */
export async function openNodeSqliteDriver(filename: string): Promise<SqliteDriver> {
  const module = await loadNodeSqlite();
  if (module === undefined) {
    throw new OversyncClientError(
      "driver_unavailable",
      `node:sqlite is not available in Node ${process.versions.node}; use Node 22.13 or newer, or the better-sqlite3 driver`,
    );
  }
  const database = new module.DatabaseSync(filename);
  database.exec(WAL_JOURNAL);
  return createNodeSqliteDriver(database, { closeDatabase: true });
}

/** True when this runtime has a `node:sqlite` with everything the driver needs. */
export async function isNodeSqliteAvailable(): Promise<boolean> {
  return (await loadNodeSqlite()) !== undefined;
}

async function loadNodeSqlite(): Promise<NodeSqliteModule | undefined> {
  // A variable specifier keeps bundlers and type-checkers from resolving a module Node 20 lacks.
  const specifier = "node:sqlite";
  try {
    const module = (await import(specifier)) as Partial<NodeSqliteModule>;
    const DatabaseSync = module.DatabaseSync;
    if (DatabaseSync === undefined || typeof DatabaseSync.prototype.function !== "function") return undefined;
    return { DatabaseSync };
  } catch {
    return undefined;
  }
}

class NodeSqliteConnection implements SqliteConnection {
  readonly name = "node:sqlite";
  private readonly statements: StatementCache<NodeSqliteStatement>;

  constructor(
    private readonly database: NodeSqliteDatabase,
    private readonly closeDatabase: boolean,
  ) {
    this.statements = new StatementCache((sql) => {
      const statement = database.prepare(sql);
      statement.setReadBigInts(true);
      return statement;
    });
  }

  exec(sql: string): void {
    this.database.exec(sql);
  }

  all(sql: string, params: readonly SqliteValue[]): SqliteRow[] {
    return this.statements.get(sql).all(...params) as SqliteRow[];
  }

  run(sql: string, params: readonly SqliteValue[]): RunResult {
    const result = this.statements.get(sql).run(...params);
    return { changes: Number(result.changes), lastInsertRowid: BigInt(result.lastInsertRowid) };
  }

  createFunction(name: string, fn: SqlFunction): void {
    this.database.function(
      name,
      { varargs: true, useBigIntArguments: true, deterministic: false },
      (...args) => fn(...(args as SqliteValue[])),
    );
  }

  close(): void {
    this.statements.clear();
    if (this.closeDatabase) this.database.close();
  }

  toSqliteError(error: unknown): SqliteError | undefined {
    if (!(error instanceof Error)) return undefined;
    const { code, errcode } = error as { code?: unknown; errcode?: unknown };
    if (code !== "ERR_SQLITE_ERROR" || typeof errcode !== "number") return undefined;
    return new SqliteError(error.message, primaryCodeName(errcode), { cause: error });
  }
}
