/**
 * The database as the owner tab holds it: the driver and sync client its `open()` returned, running
 * the calls of every tab (its own and the followers'), and closing only once the calls it accepted
 * have answered.
 */
import type { SyncClient } from "../client.js";
import type { RunResult, SqliteDriver, SqliteRow } from "../drivers/sqlite-driver.js";
import type { SyncReport } from "../engine/results.js";
import type { TabCall, TabResults } from "./tab-messages.js";

/** What `TabSyncOptions.open` gives the layer. */
export interface OpenedDatabase {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
}

export class OwnedDatabase {
  /** Set by `close()`: calls from other tabs are no longer accepted (they go to the next owner). */
  leaving = false;
  private running = 0;
  private idle: (() => void) | undefined;
  /** The client calls, one after another (see `clientCall`). */
  private clientTail: Promise<unknown> = Promise.resolve();
  /** A `sync()` queued behind other client calls and not yet started, shared by later `sync()`s. */
  private queuedSync: Promise<SyncReport> | undefined;

  constructor(readonly opened: OpenedDatabase) {}

  get client(): SyncClient {
    return this.opened.client;
  }

  /** Runs one call of any tab. */
  run<C extends TabCall>(call: C): Promise<TabResults[C["op"]]> {
    this.running += 1;
    const done = () => {
      this.running -= 1;
      if (this.running === 0) this.idle?.();
    };
    const result = this.dispatch(call) as Promise<TabResults[C["op"]]>;
    result.then(done, done);
    return result;
  }

  private dispatch(call: TabCall): Promise<TabResults[TabCall["op"]]> {
    const { driver, client } = this.opened;
    switch (call.op) {
      case "query":
        return driver.query<SqliteRow>(call.sql, call.params);
      case "run":
        return driver.run(call.sql, call.params);
      case "batch":
        return driver.transaction<RunResult[]>(async (tx) => {
          const results: RunResult[] = [];
          for (const statement of call.statements)
            results.push(await tx.run(statement.sql, statement.params ?? []));
          return results;
        });
      case "sync":
        return this.sync();
      case "pendingSyncStatus":
        return this.clientCall(() => client.pendingSyncStatus());
    }
  }

  /**
   * The client fails a call made while another of its calls runs (`sync_operation_in_progress`), a
   * rule for one app's own sequence of calls. Tabs cannot see each other's calls, so the owner runs
   * the client calls of all tabs one at a time instead.
   */
  private clientCall<T>(body: () => Promise<T>): Promise<T> {
    const result = this.clientTail.then(body, body);
    this.clientTail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * As `SyncClient.sync()`: a `sync()` while one waits for its turn shares that round, which has not
   * started yet, so it still covers every write made before either call.
   */
  private sync(): Promise<SyncReport> {
    if (this.queuedSync !== undefined) return this.queuedSync;
    const queued: Promise<SyncReport> = this.clientCall(() => {
      if (this.queuedSync === queued) this.queuedSync = undefined;
      return this.opened.client.sync();
    });
    this.queuedSync = queued;
    return queued;
  }

  /** Refuses new calls from other tabs, waits for the running ones, then closes the client and the driver. */
  async close(): Promise<void> {
    this.leaving = true;
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    try {
      await this.opened.client.close();
    } finally {
      await this.opened.driver.close();
    }
  }
}
