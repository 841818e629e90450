/**
 * Kysely's `Driver` over the client's `SqliteDriver`: one SQLite connection, shared with the sync
 * client, so Kysely's statements run on the connection whose TEMP triggers report changes and whose
 * capture triggers queue writes for sync.
 *
 * The `SqliteDriver` already is the connection's mutex: its calls run one at a time, and while a
 * `transaction(work)` runs every other call waits. So each `acquireConnection` hands out a fresh,
 * stateless handle whose statements go to the driver, and a Kysely transaction maps onto
 * `driver.transaction(work)`: BEGIN runs when Kysely begins, the unit of work stays open (its
 * statements go through the `tx` executor it was given) until Kysely commits or rolls back.
 * Statements outside the transaction, from Kysely (whose `SqliteAdapter` also admits one
 * connection at a time) or from the sync engine, wait for it to end instead of joining it.
 */
import {
  OversyncClientError,
  type SqliteDriver,
  type SqliteExecutor,
  type SqliteRow,
  type SqliteValue,
} from "@oversync/client";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  IdentifierNode,
  type QueryCompiler,
  type QueryResult,
  RawNode,
  createQueryId,
} from "kysely";
import { type IntegerMode, fromSqliteRows, toSqliteParameters } from "./sqlite-values.js";

/** Ends the unit of work without committing: `driver.transaction` rolls back and rethrows it. */
const ROLLBACK = Symbol("rollback");

/** A Kysely transaction in progress: the unit of work's executor and how to end the unit. */
interface OpenTransaction {
  readonly tx: SqliteExecutor;
  readonly end: (outcome: "commit" | "rollback") => void;
  /** Settles when `driver.transaction` has committed (or rolled back, rejecting). */
  readonly done: Promise<void>;
  /** True once a COMMIT failed: the driver has rolled the transaction back already. */
  readonly ended?: true;
}

export class OversyncKyselyDriver implements Driver {
  constructor(
    private readonly driver: SqliteDriver,
    private readonly integers: IntegerMode,
  ) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new OversyncConnection(this.driver, this.integers);
  }

  /** Kysely's isolation level and access mode do not apply: SQLite transactions are serializable. */
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await ours(connection).begin();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await ours(connection).commit();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await ours(connection).rollback();
  }

  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler["compileQuery"],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointCommand("savepoint", name), createQueryId()));
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler["compileQuery"],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointCommand("rollback to", name), createQueryId()));
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler["compileQuery"],
  ): Promise<void> {
    await connection.executeQuery(compileQuery(savepointCommand("release", name), createQueryId()));
  }

  async releaseConnection(): Promise<void> {}

  /** `db.destroy()` leaves the driver open: it belongs to the app and its sync client. */
  async destroy(): Promise<void> {}
}

/** `<command> "<name>"`, the name quoted by the compiler as Kysely's own drivers do it. */
function savepointCommand(command: string, name: string): RawNode {
  return RawNode.createWithChildren([RawNode.createWithSql(`${command} `), IdentifierNode.create(name)]);
}

function ours(connection: DatabaseConnection): OversyncConnection {
  if (connection instanceof OversyncConnection) return connection;
  throw misuse("a connection of another driver was passed to the oversync Kysely driver");
}

/** A call Kysely itself never makes; reaching one means the driver is driven by something else. */
function misuse(message: string): OversyncClientError {
  return new OversyncClientError("invalid_argument", message);
}

class OversyncConnection implements DatabaseConnection {
  /** Set from BEGIN until Kysely commits or rolls back (kept after a failed COMMIT, see commit). */
  private transaction: OpenTransaction | undefined;

  constructor(
    private readonly driver: SqliteDriver,
    private readonly integers: IntegerMode,
  ) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const executor = this.transaction?.tx ?? this.driver;
    const parameters = toSqliteParameters(compiledQuery.parameters);
    const node = compiledQuery.query;
    switch (node.kind) {
      case "InsertQueryNode":
      case "UpdateQueryNode":
      case "DeleteQueryNode":
        if (node.returning === undefined && node.explain === undefined) {
          const { changes, lastInsertRowid } = await executor.run(compiledQuery.sql, parameters);
          return { rows: [], numAffectedRows: BigInt(changes), insertId: lastInsertRowid };
        }
        return this.rows(executor, compiledQuery.sql, parameters);
      case "SelectQueryNode":
      case "RawNode":
        // Raw SQL may read or write; a write through it runs too, but reports no affected rows.
        return this.rows(executor, compiledQuery.sql, parameters);
      default:
        // Schema statements (create table, index, view, …) return nothing.
        await executor.run(compiledQuery.sql, parameters);
        return { rows: [] };
    }
  }

  /**
   * The whole result in chunks of `chunkSize` rows: the driver has no cursor, so the rows are read
   * at once and a stream bounds what the app handles at a time, not what is in memory.
   */
  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(compiledQuery);
    const size = Math.max(1, Math.floor(chunkSize));
    for (let start = 0; start < rows.length; start += size) yield { rows: rows.slice(start, start + size) };
  }

  async begin(): Promise<void> {
    if (this.transaction !== undefined) throw misuse("a transaction is already open on this connection");
    let started!: (tx: SqliteExecutor) => void;
    let failed!: (error: unknown) => void;
    const ready = new Promise<SqliteExecutor>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    let end!: (outcome: "commit" | "rollback") => void;
    const outcome = new Promise<"commit" | "rollback">((resolve) => {
      end = resolve;
    });
    const done = this.driver.transaction(async (tx) => {
      started(tx);
      if ((await outcome) === "rollback") throw ROLLBACK;
    });
    // A BEGIN that fails rejects `done` before the unit of work starts; later, `ready` is settled.
    done.catch(failed);
    this.transaction = { tx: await ready, end, done };
  }

  /**
   * Commits; a failed COMMIT (a deferred foreign key, say) has been rolled back by the driver and
   * its error is thrown. The ended transaction stays set until Kysely's rollback, so a statement
   * run on it meanwhile is refused by the ended `tx` instead of running outside any transaction.
   */
  async commit(): Promise<void> {
    const transaction = this.open();
    transaction.end("commit");
    try {
      await transaction.done;
    } catch (error) {
      this.transaction = { ...transaction, ended: true };
      throw error;
    }
    this.transaction = undefined;
  }

  /** Rolls back; after a failed commit there is nothing left to roll back. */
  async rollback(): Promise<void> {
    const transaction = this.open();
    this.transaction = undefined;
    if (transaction.ended) return;
    transaction.end("rollback");
    try {
      await transaction.done;
    } catch (error) {
      if (error !== ROLLBACK) throw error;
    }
  }

  private open(): OpenTransaction {
    if (this.transaction === undefined) throw misuse("no transaction is open on this connection");
    return this.transaction;
  }

  private async rows<R>(
    executor: SqliteExecutor,
    sql: string,
    parameters: readonly SqliteValue[],
  ): Promise<QueryResult<R>> {
    return { rows: fromSqliteRows<R>(await executor.query<SqliteRow>(sql, parameters), this.integers) };
  }
}
