/**
 * "These application tables changed" notifications. TEMP triggers on each managed table (they live
 * on the client's connection only, never in the database file) call a JS function for every row
 * written, so the tracker sees exactly the tables whose rows changed, cascades included.
 *
 * A change is `sync` when the engine made it inside an authoritative apply (pull, snapshot, push
 * replay, conflict rewrite, detach cleanup): those are reported once the transaction has committed,
 * and dropped when it rolled back. Every other write on the connection is `local` (the
 * application's own SQL) and is reported right after the statement, as a hint to re-query.
 */
import type { SqliteDriver } from "../drivers/sqlite-driver.js";
import { quoteIdent, quoteText } from "../store/sql-text.js";

/** Who changed the rows. */
export type TableChangeOrigin = "sync" | "local";

/** One notification. */
export interface TablesChanged {
  /** Lower-cased names of the managed tables whose rows changed. */
  readonly tables: ReadonlySet<string>;
  readonly origin: TableChangeOrigin;
}

/** Receives notifications; it must not throw (an exception is dropped). */
export type TablesChangedListener = (change: TablesChanged) => void;

/** A managed table to watch. */
export interface WatchedTable {
  /** Lower-cased name, reported to listeners. */
  readonly name: string;
  /** The name as declared, for SQL. */
  readonly sqlName: string;
}

const FUNCTION_NAME = "oversync_table_changed";
const EVENTS = [
  ["ins", "INSERT"],
  ["upd", "UPDATE"],
  ["del", "DELETE"],
] as const;

/** Tracks row writes to managed tables and fans them out to listeners. */
export class TableChangeTracker {
  private readonly listeners = new Set<TablesChangedListener>();
  private readonly syncPending = new Set<string>();
  private readonly localPending = new Set<string>();
  private inSyncWrite = false;
  private localFlushScheduled = false;
  private installed: readonly WatchedTable[] = [];

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: TablesChangedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Registers the callback function and (re)creates the TEMP triggers for `tables`. */
  async install(driver: SqliteDriver, tables: readonly WatchedTable[]): Promise<void> {
    await driver.createFunction(FUNCTION_NAME, (table) => {
      this.record(String(table));
      return null;
    });
    await this.uninstall(driver);
    for (const table of tables) {
      for (const [suffix, event] of EVENTS) {
        await driver.exec(
          `CREATE TEMP TRIGGER IF NOT EXISTS ${quoteIdent(triggerName(table.name, suffix))} AFTER ${event} ` +
            `ON main.${quoteIdent(table.sqlName)} BEGIN SELECT ${FUNCTION_NAME}(${quoteText(table.name)}); END`,
        );
      }
    }
    this.installed = tables;
  }

  /** Drops the TEMP triggers (the connection stays usable by the application). */
  async uninstall(driver: SqliteDriver): Promise<void> {
    for (const table of this.installed) {
      for (const [suffix] of EVENTS) {
        await driver.exec(`DROP TRIGGER IF EXISTS temp.${quoteIdent(triggerName(table.name, suffix))}`);
      }
    }
    this.installed = [];
  }

  /** Runs the body of an authoritative apply transaction; its writes count as `sync`. */
  async duringSyncWrite<T>(work: () => Promise<T>): Promise<T> {
    this.inSyncWrite = true;
    try {
      return await work();
    } finally {
      this.inSyncWrite = false;
    }
  }

  /**
   * Counts `table` as written by the running authoritative apply, for a replay that settles rows
   * without rewriting them (their values are already in place).
   */
  recordSyncWrite(table: string): void {
    this.syncPending.add(table);
  }

  /** Reports the `sync` writes of a committed apply transaction. */
  publishSyncWrites(): void {
    if (this.syncPending.size === 0) return;
    const tables = new Set(this.syncPending);
    this.syncPending.clear();
    this.emit({ tables, origin: "sync" });
  }

  /** Forgets the `sync` writes of a rolled-back apply transaction. */
  discardSyncWrites(): void {
    this.syncPending.clear();
  }

  private record(table: string): void {
    if (this.inSyncWrite) {
      this.syncPending.add(table);
      return;
    }
    this.localPending.add(table);
    if (this.localFlushScheduled) return;
    this.localFlushScheduled = true;
    // The trigger runs inside the statement; report once the statement (and its cascade) is done.
    queueMicrotask(() => {
      this.localFlushScheduled = false;
      const tables = new Set(this.localPending);
      this.localPending.clear();
      this.emit({ tables, origin: "local" });
    });
  }

  private emit(change: TablesChanged): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch {
        // A listener's failure must not break sync or the application's write; it is its own bug.
      }
    }
  }
}

function triggerName(table: string, suffix: string): string {
  return `oversync_changed_${table}_${suffix}`;
}
