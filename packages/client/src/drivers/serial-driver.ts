/**
 * The shared half of every driver: a call queue, transactions around async units of work, value
 * checks and error mapping. A binding only supplies a `SqliteConnection`.
 */
import { OversyncClientError } from "../errors.js";
import type {
  RunResult,
  SqlFunction,
  SqliteDriver,
  SqliteExecutor,
  SqliteRow,
  SqliteValue,
  TransactionBehavior,
} from "./sqlite-driver.js";
import type { SqliteError } from "./sqlite-error.js";

/**
 * The journal mode the file openers set: a commit appends to the write-ahead log and syncs it once
 * instead of writing and syncing a rollback journal and the database (a one-row push makes three
 * write transactions; WAL cut its median by about a third here), and reads do not wait for a
 * writer. It is what Android and iOS apps mostly use. Durability is unchanged: `synchronous` keeps
 * its FULL default. A database the app opened itself keeps the mode the app chose.
 */
export const WAL_JOURNAL = "PRAGMA journal_mode = WAL";

/** What a binding must provide; methods may answer synchronously or with a promise. */
export interface SqliteConnection {
  readonly name: string;
  exec(sql: string): void | Promise<void>;
  /** Every row of one statement, INTEGER as bigint and BLOB as Uint8Array. */
  all(sql: string, params: readonly SqliteValue[]): SqliteRow[] | Promise<SqliteRow[]>;
  run(sql: string, params: readonly SqliteValue[]): RunResult | Promise<RunResult>;
  createFunction(name: string, fn: SqlFunction): void | Promise<void>;
  close(): void | Promise<void>;
  /** Turns a binding exception into a SqliteError, or returns undefined when it is not one. */
  toSqliteError(error: unknown): SqliteError | undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Wraps a connection as a SqliteDriver whose calls run one at a time. */
export function createSerialDriver(connection: SqliteConnection): SqliteDriver {
  return new SerialDriver(connection);
}

class SerialDriver implements SqliteDriver {
  readonly name: string;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly connection: SqliteConnection) {
    this.name = connection.name;
  }

  exec(sql: string): Promise<void> {
    return this.serialize(() => callExec(this.connection, sql));
  }

  query<R = SqliteRow>(sql: string, params: readonly SqliteValue[] = []): Promise<R[]> {
    return this.serialize(() => callQuery<R>(this.connection, sql, params));
  }

  run(sql: string, params: readonly SqliteValue[] = []): Promise<RunResult> {
    return this.serialize(() => callRun(this.connection, sql, params));
  }

  transaction<T>(
    work: (tx: SqliteExecutor) => Promise<T>,
    options?: { readonly behavior?: TransactionBehavior },
  ): Promise<T> {
    const behavior = (options?.behavior ?? "immediate").toUpperCase();
    return this.serialize(async () => {
      await callExec(this.connection, `BEGIN ${behavior}`);
      const tx = new TransactionExecutor(this.connection);
      try {
        const result = await work(tx);
        tx.end();
        await callExec(this.connection, "COMMIT");
        return result;
      } catch (error) {
        tx.end();
        await this.rollbackQuietly();
        throw error;
      }
    });
  }

  createFunction(name: string, fn: SqlFunction): Promise<void> {
    return this.serialize(async () => {
      try {
        await this.connection.createFunction(name, fn);
      } catch (error) {
        throw mapError(this.connection, error);
      }
    });
  }

  close(): Promise<void> {
    return this.serialize(async () => {
      this.closed = true;
      await this.connection.close();
    });
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => {
      if (this.closed) {
        throw new OversyncClientError("driver_closed", `the ${this.name} driver is closed; open a new one`);
      }
      return task();
    });
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** SQLite rolls some failed transactions back by itself; a ROLLBACK then has nothing to undo. */
  private async rollbackQuietly(): Promise<void> {
    try {
      await this.connection.exec("ROLLBACK");
    } catch {
      // Nothing is open any more, which is the state ROLLBACK was asked to reach.
    }
  }
}

/** The executor a unit of work receives; it refuses use after the unit has ended. */
class TransactionExecutor implements SqliteExecutor {
  private active = true;

  constructor(private readonly connection: SqliteConnection) {}

  end(): void {
    this.active = false;
  }

  async exec(sql: string): Promise<void> {
    this.check();
    return callExec(this.connection, sql);
  }

  async query<R = SqliteRow>(sql: string, params: readonly SqliteValue[] = []): Promise<R[]> {
    this.check();
    return callQuery<R>(this.connection, sql, params);
  }

  async run(sql: string, params: readonly SqliteValue[] = []): Promise<RunResult> {
    this.check();
    return callRun(this.connection, sql, params);
  }

  private check(): void {
    if (!this.active) {
      throw new OversyncClientError(
        "driver_closed",
        "this transaction has already ended; run statements only inside its unit of work",
      );
    }
  }
}

async function callExec(connection: SqliteConnection, sql: string): Promise<void> {
  try {
    await connection.exec(sql);
  } catch (error) {
    throw mapError(connection, error);
  }
}

async function callQuery<R>(
  connection: SqliteConnection,
  sql: string,
  params: readonly SqliteValue[],
): Promise<R[]> {
  checkParams(params);
  try {
    return (await connection.all(sql, params)) as R[];
  } catch (error) {
    throw mapError(connection, error);
  }
}

async function callRun(
  connection: SqliteConnection,
  sql: string,
  params: readonly SqliteValue[],
): Promise<RunResult> {
  checkParams(params);
  try {
    return await connection.run(sql, params);
  } catch (error) {
    throw mapError(connection, error);
  }
}

function mapError(connection: SqliteConnection, error: unknown): unknown {
  if (error instanceof OversyncClientError) return error;
  return connection.toSqliteError(error) ?? error;
}

/** Rejects values SQLite cannot store exactly, before any binding sees them. */
function checkParams(params: readonly SqliteValue[]): void {
  params.forEach((value, index) => {
    if (value === null || typeof value === "string" || typeof value === "number") return;
    if (value instanceof Uint8Array) return;
    if (typeof value === "bigint") {
      if (value >= INT64_MIN && value <= INT64_MAX) return;
      throw new OversyncClientError(
        "sql_param_invalid",
        `parameter ${index + 1} (${value}) is outside SQLite's 64-bit INTEGER range; store it as TEXT`,
      );
    }
    throw new OversyncClientError(
      "sql_param_invalid",
      `parameter ${index + 1} is a ${describe(value)}; bind null, bigint (INTEGER), number (REAL), string or Uint8Array`,
    );
  });
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
