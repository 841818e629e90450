/**
 * Embedded PostgreSQL (PGlite) behind the server's pool seam. PGlite is one database session, so
 * the pool hands out one exclusive lease at a time: connect() waits until the previous client is
 * released, and pool.query() outside a lease takes a lease for that one statement. Values come back
 * with node-postgres' JS types (pg-type-parity.ts), and LISTEN/NOTIFY is offered as the server's
 * NotificationSource on the same session. That session is never lost and replaced, so listeners'
 * `onResync` is never called.
 */
import { mkdir } from "node:fs/promises";
import { PGlite, type Results } from "@electric-sql/pglite";
import type {
  SyncLogger,
  NotificationSource,
  SqlClient,
  SqlPool,
  SqlResult,
  Unlisten,
} from "@oversync/server";
import { CliError } from "./cli-error.js";
import { nodePostgresParsers, passThroughSerializers, prepareParams } from "./pg-type-parity.js";

/** Options of openPglitePool. */
export interface PglitePoolOptions {
  /** Directory holding the database files; created when missing, reused when present. */
  readonly dataDir: string;
  readonly logger?: SyncLogger;
}

/** Every statement hands its prepared parameters to PGlite unchanged (see pg-type-parity.ts). */
const QUERY_OPTIONS = { serializers: passThroughSerializers };

/** A FIFO mutex: one holder at a time, waiters served in arrival order. */
class Lease {
  #held = false;
  readonly #waiters: (() => void)[] = [];

  acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#held = false;
    else next();
  }
}

/** A pg-Pool-shaped view of one PGlite database. */
export class PglitePool implements SqlPool, NotificationSource {
  readonly #db: PGlite;
  readonly #lease = new Lease();
  readonly #logger: SyncLogger;
  #closing = false;

  /**
   * Wraps an open PGlite instance; the pool owns it from now on (its result parsers are replaced
   * by node-postgres' ones) and closes it in close().
   */
  constructor(db: PGlite, logger?: SyncLogger) {
    this.#db = db;
    // Installed once on the instance: passing them with every query would make PGlite merge the
    // two parser tables per statement, which doubles the cost of a short statement.
    Object.assign(db.parsers, nodePostgresParsers(db));
    this.#logger = logger ?? { error: (message, details) => console.error(message, details) };
  }

  /** Waits for exclusive use of the session. Release the client to let the next caller in. */
  async connect(): Promise<SqlClient> {
    await this.#enter();
    return new PgliteClient(
      (text, values) => this.#run(text, values),
      (error) => this.#endLease(error),
    );
  }

  /** Runs one statement under its own lease. */
  async query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<SqlResult<Row>> {
    await this.#enter();
    try {
      return await this.#run<Row>(text, values);
    } finally {
      this.#lease.release();
    }
  }

  /**
   * LISTEN on the shared session; the LISTEN itself waits for a lease like any statement. Payloads
   * are delivered on a later turn of the event loop, never inside the statement that committed them.
   */
  async listen(channel: string, onPayload: (payload: string) => void): Promise<Unlisten> {
    checkChannel(channel);
    await this.#enter();
    let unsubscribe: (() => Promise<void>) | undefined;
    try {
      unsubscribe = await this.#db.listen(channel, deliverLater(onPayload, this.#logger, channel));
    } finally {
      this.#lease.release();
    }
    return async () => {
      const pending = unsubscribe;
      unsubscribe = undefined;
      if (pending === undefined || this.#db.closed) return;
      await this.#lease.acquire();
      try {
        // close() may have run while this waited for the lease; a closed session listens to nothing.
        if (!this.#db.closed) await pending();
      } finally {
        this.#lease.release();
      }
    };
  }

  /** Lets queued work finish, then closes the database; later calls fail with `pool_closed`. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#lease.acquire();
    try {
      await this.#db.close();
    } finally {
      this.#lease.release();
    }
  }

  /**
   * Runs a statement; the caller holds the lease. Without parameters the text goes through the
   * simple protocol, as node-postgres does, so it may hold several statements; the result is then
   * the last statement's (node-postgres would return one result per statement).
   */
  async #run<Row>(text: string, values?: unknown[]): Promise<SqlResult<Row>> {
    if (values === undefined || values.length === 0) {
      return toSqlResult<Row>((await this.#db.exec(text, QUERY_OPTIONS)).at(-1));
    }
    return toSqlResult<Row>(await this.#db.query(text, prepareParams(values), QUERY_OPTIONS));
  }

  /**
   * Ends a client's lease. A client released with an error is "discarded": node-postgres would
   * close its connection, which aborts any open transaction, so the shared session is rolled back
   * instead before the next caller gets it.
   */
  #endLease(error: Error | boolean | undefined): void {
    if (error === undefined || error === false) {
      this.#lease.release();
      return;
    }
    this.#db
      .exec("ROLLBACK")
      .catch((rollbackError: unknown) => {
        this.#logger.error("ROLLBACK after a discarded PGlite client failed", { error: rollbackError });
      })
      .finally(() => this.#lease.release());
  }

  async #enter(): Promise<void> {
    if (this.#closing) throw new CliError("pool_closed", "the PGlite pool is closed");
    await this.#lease.acquire();
    if (this.#db.closed) {
      this.#lease.release();
      throw new CliError("pool_closed", "the PGlite pool is closed");
    }
  }
}

const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Only lower-case unquoted identifiers are accepted: PGlite sends the channel name unquoted, so any
 * other name would mean a different channel here than on PostgreSQL.
 */
function checkChannel(channel: string): void {
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new CliError(
      "invalid_channel",
      `LISTEN channel ${JSON.stringify(channel)} must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 characters)`,
    );
  }
}

/** Calls `onPayload` on a later turn of the event loop, reporting a throw instead of propagating it. */
function deliverLater(
  onPayload: (payload: string) => void,
  logger: SyncLogger,
  channel: string,
): (payload: string) => void {
  return (payload) => {
    setImmediate(() => {
      try {
        onPayload(payload);
      } catch (error) {
        logger.error("notification callback threw", { channel, error });
      }
    });
  };
}

type RunStatement = <Row>(text: string, values?: unknown[]) => Promise<SqlResult<Row>>;

/** One lease on the session, shaped like a pg PoolClient. */
class PgliteClient implements SqlClient {
  readonly #run: RunStatement;
  readonly #end: (error: Error | boolean | undefined) => void;
  #released = false;

  constructor(run: RunStatement, end: (error: Error | boolean | undefined) => void) {
    this.#run = run;
    this.#end = end;
  }

  /**
   * Also takes node-postgres' named statement `{ name, text, values }`, as the sync runtime sends
   * by default; PGlite has no statement cache to give the name to, so it runs the text.
   */
  query<Row = Record<string, unknown>>(
    statement: string | { readonly text: string; readonly values?: unknown[] },
    values?: unknown[],
  ): Promise<SqlResult<Row>> {
    if (this.#released) {
      return Promise.reject(
        new CliError("client_released", "this PGlite client was released; connect() again for a new one"),
      );
    }
    return typeof statement === "string"
      ? this.#run<Row>(statement, values)
      : this.#run<Row>(statement.text, statement.values);
  }

  release(error?: Error | boolean): void {
    if (this.#released) {
      throw new CliError("client_released", "release() was called twice on the same PGlite client");
    }
    this.#released = true;
    this.#end(error);
  }
}

function toSqlResult<Row>(result: Results | undefined): SqlResult<Row> {
  if (result === undefined) return { rows: [], rowCount: null };
  // PGlite copies the count from the command tag when the tag has one, as node-postgres does.
  const rowCount = (result as { rowCount?: number }).rowCount;
  return { rows: result.rows as Row[], rowCount: rowCount ?? null };
}

/** Opens (creating on first use) the PGlite database in `dataDir`. */
export async function openPglitePool(options: PglitePoolOptions): Promise<PglitePool> {
  await mkdir(options.dataDir, { recursive: true });
  let db: PGlite;
  try {
    db = await PGlite.create({ dataDir: options.dataDir });
  } catch (error) {
    throw new CliError(
      "database_unavailable",
      `could not open the PGlite database in ${options.dataDir}: ${(error as Error).message}; ` +
        "check the directory is readable and writable, or point --data-dir at a fresh directory",
      { cause: error },
    );
  }
  return new PglitePool(db, options.logger);
}
