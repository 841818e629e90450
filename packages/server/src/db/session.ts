/**
 * Running work on one checked-out session: checkout that survives the connection failing under it,
 * transactions with a chosen isolation level, retries of the transient failures PostgreSQL reports
 * under contention, and identifier quoting.
 */
import { DatabaseUnavailableError, isConnectionLoss } from "./database-unavailable.js";
import { sessionOf } from "./named-statements.js";
import type { SqlClient, SqlPool, SqlQueryable } from "./sql-pool.js";

/** Transaction isolation levels the runtime uses. */
export type Isolation = "read committed" | "repeatable read";

/** Options for one transaction. */
export interface TransactionOptions {
  readonly isolation?: Isolation;
  readonly readOnly?: boolean;
  /** Total attempts on serialization failures and deadlocks (1 = no retry). */
  readonly attempts?: number;
}

/** SQLSTATEs that mean "run the transaction again": serialization failure, deadlock, lock timeout. */
const RETRYABLE_SQLSTATES = new Set(["40001", "40P01", "55P03"]);

/** The SQLSTATE of a driver error, if it has one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** Connections whose socket failed, as seen by the listener guardConnections gives each one. */
const failedConnections = new WeakSet<object>();

/**
 * Gives every new connection of `pool` an error listener for its whole life. node-postgres handles
 * a FATAL that arrives right behind "ready for query" (a backend terminated as it starts) before
 * the pool has handed the client to anyone, in a moment when neither the pool's idle listener nor
 * withClient's is attached: an "error" event without a listener ends the process, and the pool,
 * which did not see it, would hand out the dead client. The listener records the failure, so
 * withClient skips such a client.
 */
export function guardConnections(pool: SqlPool): void {
  pool.on?.("connect", (client) => client.on("error", () => failedConnections.add(client)));
}

/** Checkouts withClient tries before giving up on a pool that keeps handing out dead clients. */
const CHECKOUT_ATTEMPTS = 3;

/**
 * Checks out one client, runs `work` on it and releases it. A client whose work failed, or whose
 * connection failed while it was held, is discarded, so a session left in an unknown state never
 * returns to the pool. Failing to get a session, and any failure once the connection was lost, is
 * a DatabaseUnavailableError carrying the driver's error as `cause`.
 */
export async function withClient<T>(pool: SqlPool, work: (client: SqlClient) => Promise<T>): Promise<T> {
  let client: SqlClient | undefined;
  for (let attempt = 1; client === undefined; attempt++) {
    try {
      client = await pool.connect();
    } catch (error) {
      throw new DatabaseUnavailableError("could not get a database session", error);
    }
    if (failedConnections.has(sessionOf(client))) {
      client.release(true);
      client = undefined;
      if (attempt >= CHECKOUT_ATTEMPTS) {
        throw new DatabaseUnavailableError(
          "could not get a database session",
          new Error("every connection failed"),
        );
      }
    }
  }
  let lost: Error | undefined;
  // Without a listener, node-postgres' "error" event on a checked-out client ends the process. Once
  // released, the pool's own idle listener takes over.
  const onError = (error: Error) => {
    lost ??= error;
  };
  client.on?.("error", onError);
  try {
    const result = await work(client);
    // The connection may fail after the work's last statement answered: the result stands. A
    // client that goes back to the pool gets the pool's idle listener instead of ours; a discarded
    // one keeps ours, since the server's goodbye can still arrive while it is being closed.
    if (lost === undefined) client.removeListener?.("error", onError);
    client.release(lost ?? undefined);
    return result;
  } catch (error) {
    client.release(error instanceof Error ? error : true);
    if (lost !== undefined || isConnectionLoss(error) || failedConnections.has(sessionOf(client))) {
      throw new DatabaseUnavailableError("the database connection was lost during the call", error);
    }
    throw error;
  }
}

/**
 * `pool` with every checkout timed: `observe` gets the seconds each `connect()` took to hand out a
 * session, the wait an undersized pool (or PGlite's single session under load) adds to every call.
 */
export function timeCheckouts(pool: SqlPool, observe: (seconds: number) => void): SqlPool {
  return {
    query: <Row = Record<string, unknown>>(text: string, values?: unknown[]) => pool.query<Row>(text, values),
    async connect() {
      const started = performance.now();
      const client = await pool.connect();
      observe((performance.now() - started) / 1000);
      return client;
    },
  };
}

/**
 * One-shot statements on `pool`, each on its own session through withClient, so they get the same
 * error listener and the same DatabaseUnavailableError as every other call.
 */
export function oneShotQueries(pool: SqlPool): SqlQueryable {
  return {
    query: <Row = Record<string, unknown>>(text: string, values?: unknown[]) =>
      withClient(pool, (client) => client.query<Row>(text, values)),
  };
}

/**
 * Runs `work` inside BEGIN … COMMIT on `client`, rolling back on any error. Retryable SQLSTATEs
 * start the whole transaction again, up to `attempts` times, with a short growing pause.
 */
export async function inTransaction<T>(
  client: SqlQueryable,
  options: TransactionOptions,
  work: () => Promise<T>,
): Promise<T> {
  const attempts = options.attempts ?? 1;
  const begin = `BEGIN ISOLATION LEVEL ${(options.isolation ?? "read committed").toUpperCase()}${
    options.readOnly ? " READ ONLY" : ""
  }`;
  for (let attempt = 1; ; attempt++) {
    await client.query(begin);
    try {
      const result = await work();
      await client.query("COMMIT");
      return result;
    } catch (error) {
      // A failed ROLLBACK (e.g. a dead connection) must not hide the error that caused it.
      await client.query("ROLLBACK").catch(() => undefined);
      if (attempt >= attempts || !RETRYABLE_SQLSTATES.has(sqlState(error) ?? "")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }
}

/** Quotes an SQL identifier: `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"`. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * An integer column value as a JS number. Drivers return int8 as a string (node-postgres) or a
 * bigint (PGlite); every integer the runtime reads this way is a sequence or count far below 2^53.
 */
export function toSafeInt(value: unknown): number {
  const number = typeof value === "number" ? value : Number(value as string | bigint);
  if (!Number.isSafeInteger(number))
    throw new TypeError(`expected an integer column value, got ${String(value)}`);
  return number;
}
