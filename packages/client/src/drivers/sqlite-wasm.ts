/**
 * The browser driver: SQLite (`@sqlite.org/sqlite-wasm`) runs in a dedicated Web Worker on the
 * `opfs-sahpool` VFS, a database file in the origin private file system that needs no COOP/COEP
 * headers, and this side forwards each call to the worker by postMessage. The worker module is
 * `@oversync/client/sqlite-wasm-worker` (./sqlite-wasm-worker.ts).
 *
 * A pool's OPFS access handles are exclusive: while a page has a database of the pool open, another
 * tab (or worker) that opens one fails with `database_already_owned`. All connections of this page
 * to one pool share one worker, where SQLite locks between them as between connections to a file.
 */
import { OversyncClientError } from "../errors.js";
import { createSerialDriver, type SqliteConnection } from "./serial-driver.js";
import type { RunResult, SqlFunction, SqliteDriver, SqliteRow, SqliteValue } from "./sqlite-driver.js";
import { SqliteError, primaryCodeName } from "./sqlite-error.js";
import {
  CHANNEL,
  type SqlitePersistence,
  type WorkerReply,
  type WorkerRequest,
  type WorkerResults,
} from "./sqlite-wasm-messages.js";

export type { SqlitePersistence };

/** The opfs-sahpool pool (and OPFS directory `.oversync`) a database lives in unless told otherwise. */
export const DEFAULT_SQLITE_WASM_POOL = "oversync";

export interface SqliteWasmDriverOptions {
  /**
   * A module worker the app created that runs the worker module, e.g. a file holding
   * `import "@oversync/client/sqlite-wasm-worker";` started with `new Worker(url, { type: "module" })`.
   * The driver leaves it running on close. By default the driver starts (and ends) its own.
   */
  readonly worker?: Worker;
  /**
   * The opfs-sahpool pool: a VFS name, and the OPFS directory `.<pool>` holding the pool's files.
   * Databases in different pools can be open in different tabs at once.
   */
  readonly pool?: string;
}

/** A driver whose SQLite runs in a worker; `persistence` says whether its database is durable. */
export interface SqliteWasmDriver extends SqliteDriver {
  /**
   * "opfs": the database is a file in the origin private file system. "memory": this browser gives
   * workers no OPFS access handles (or denies storage, as some private modes do), so the database
   * lives in the worker's memory and is gone once its last connection closes. Also "memory" for
   * the filenames ":memory:" and "".
   */
  readonly persistence: SqlitePersistence;
}

/**
 * Opens (or creates) `filename` in the pool's OPFS storage, falling back to memory (see
 * `persistence`) where OPFS is unavailable. Fails with `database_already_owned` while another tab
 * or worker has the pool open, and with `driver_unavailable` where there are no module workers.
 */
export async function openSqliteWasmDriver(
  filename: string,
  options?: SqliteWasmDriverOptions,
): Promise<SqliteWasmDriver> {
  const pool = options?.pool ?? DEFAULT_SQLITE_WASM_POOL;
  const channel = options?.worker === undefined ? pageWorker(pool) : appWorker(options.worker);
  channel.users += 1;
  try {
    const opened = await channel.request({ op: "open", filename, pool });
    const connection = new WorkerConnection(channel, opened.connection);
    return Object.assign(createSerialDriver(connection), { persistence: opened.persistence });
  } catch (error) {
    channel.release();
    throw error;
  }
}

/** The workers this module started, one per pool, ended when their last connection closes. */
const pageWorkers = new Map<string, WorkerChannel>();
const appWorkers = new WeakMap<Worker, WorkerChannel>();

function pageWorker(pool: string): WorkerChannel {
  let channel = pageWorkers.get(pool);
  if (channel === undefined) {
    let worker: Worker;
    try {
      // The literal `new URL(…, import.meta.url)` inside `new Worker` is what bundlers (Vite,
      // webpack 5, Parcel) recognise, so they emit the worker module as an entry of its own.
      worker = new Worker(new URL("./sqlite-wasm-worker.js", import.meta.url), { type: "module" });
    } catch (error) {
      throw new OversyncClientError(
        "driver_unavailable",
        "the sqlite-wasm driver needs module Web Workers (a browser); on Node use @oversync/client/better-sqlite3",
        { cause: error },
      );
    }
    const created = new WorkerChannel(worker, () => {
      if (pageWorkers.get(pool) === created) pageWorkers.delete(pool);
      worker.terminate();
    });
    channel = created;
    pageWorkers.set(pool, channel);
  }
  return channel;
}

function appWorker(worker: Worker): WorkerChannel {
  let channel = appWorkers.get(worker);
  if (channel === undefined) {
    channel = new WorkerChannel(worker, () => {});
    appWorkers.set(worker, channel);
  }
  return channel;
}

type Request = WorkerRequest extends infer R
  ? R extends unknown
    ? Omit<R, "channel" | "id">
    : never
  : never;

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly functions: ReadonlyMap<string, SqlFunction> | undefined;
}

/** Requests to one worker and their replies, matched by id. */
class WorkerChannel {
  users = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private broken: Error | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly onIdle: () => void,
  ) {
    worker.addEventListener("message", (event: MessageEvent<unknown>) => this.receive(event.data));
    worker.addEventListener("error", (event: ErrorEvent) => {
      this.fail(`the sqlite-wasm worker failed: ${event.message || "it could not be loaded"}`);
    });
    worker.addEventListener("messageerror", () =>
      this.fail("the sqlite-wasm worker sent an unreadable message"),
    );
  }

  request<R extends Request>(
    request: R,
    functions?: ReadonlyMap<string, SqlFunction>,
  ): Promise<WorkerResults[R["op"]]> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject, functions });
      this.worker.postMessage({ ...request, channel: CHANNEL, id } as WorkerRequest);
    });
  }

  /** One connection less; ends the worker when it was the last and the driver started it. */
  release(): void {
    this.users -= 1;
    if (this.users === 0) this.onIdle();
  }

  private receive(data: unknown): void {
    const reply = data as WorkerReply | undefined;
    if (reply?.channel !== CHANNEL) return;
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    // The statements have run: the registered JS functions see their calls before the caller
    // sees the result, as they would with a synchronous binding.
    for (const [name, args] of reply.calls) {
      try {
        pending.functions?.get(name)?.(...args);
      } catch (error) {
        // Too late to fail the statement (it has completed in the worker): report it as uncaught.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    if (reply.ok) {
      pending.resolve(reply.result);
      return;
    }
    const { failure } = reply;
    switch (failure.kind) {
      case "sqlite":
        pending.reject(new SqliteError(failure.message, primaryCodeName(failure.resultCode)));
        return;
      case "pool_busy":
        pending.reject(
          new OversyncClientError(
            "database_already_owned",
            "another tab or worker has a database of this OPFS pool open (its files can be open in one place at a time); close it there, or use another pool",
            { cause: new Error(failure.message) },
          ),
        );
        return;
      case "error":
        pending.reject(
          new OversyncClientError("driver_unavailable", `sqlite-wasm failed: ${failure.message}`),
        );
        return;
    }
  }

  private fail(message: string): void {
    this.broken = new OversyncClientError("driver_unavailable", message);
    for (const pending of this.pending.values()) pending.reject(this.broken);
    this.pending.clear();
  }
}

/** One connection in the worker, as the serial driver sees it. */
class WorkerConnection implements SqliteConnection {
  readonly name = "sqlite-wasm";
  private readonly functions = new Map<string, SqlFunction>();

  constructor(
    private readonly channel: WorkerChannel,
    private readonly id: number,
  ) {}

  async exec(sql: string): Promise<void> {
    await this.channel.request({ op: "exec", connection: this.id, sql }, this.functions);
  }

  all(sql: string, params: readonly SqliteValue[]): Promise<SqliteRow[]> {
    return this.channel.request({ op: "all", connection: this.id, sql, params }, this.functions);
  }

  run(sql: string, params: readonly SqliteValue[]): Promise<RunResult> {
    return this.channel.request({ op: "run", connection: this.id, sql, params }, this.functions);
  }

  async createFunction(name: string, fn: SqlFunction): Promise<void> {
    await this.channel.request({ op: "createFunction", connection: this.id, name });
    this.functions.set(name, fn);
  }

  async close(): Promise<void> {
    try {
      await this.channel.request({ op: "close", connection: this.id });
    } finally {
      this.channel.release();
    }
  }

  toSqliteError(error: unknown): SqliteError | undefined {
    return error instanceof SqliteError ? error : undefined;
  }
}
