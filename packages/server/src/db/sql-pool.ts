/**
 * The database seam: the few members of node-postgres' Pool and PoolClient the runtime uses. A
 * `pg.Pool` fits as is; PGlite fits through a small adapter. With `preparedStatements` on (the
 * default), a session's `query` is also called with node-postgres' `{ name, text, values }`
 * (named-statements.ts). PGlite is a single session, so every
 * runtime operation checks out one client, does all of its work on it, and never asks the pool for
 * a second client (nor calls `pool.query`) while it holds one.
 */

/** The result of one statement: its rows and, for writes, how many rows it touched. */
export interface SqlResult<Row> {
  readonly rows: Row[];
  readonly rowCount: number | null;
}

/** Something that runs one parameterised statement. */
export interface SqlQueryable {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<SqlResult<Row>>;
}

/** One checked-out session. `release(error)` discards it instead of returning it to the pool. */
export interface SqlClient extends SqlQueryable {
  release(error?: Error | boolean): void;
  /**
   * node-postgres emits "error" on a checked-out client whose connection fails (a terminated
   * backend, a restart, a dropped socket), and an "error" event without a listener ends the
   * process; withClient listens for it while it holds the client. Sessions that cannot fail that
   * way (PGlite's in-process one) leave both methods out.
   */
  on?(event: "error", listener: (error: Error) => void): unknown;
  removeListener?(event: "error", listener: (error: Error) => void): unknown;
}

/** A source of sessions, plus one-shot queries for callers that hold no client. */
export interface SqlPool extends SqlQueryable {
  connect(): Promise<SqlClient>;
  /** node-postgres' "connect" event, fired for every new connection (see session.ts). */
  on?(event: "connect", listener: (client: Pick<Required<SqlClient>, "on">) => void): unknown;
}
