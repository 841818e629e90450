/**
 * Live queries: a query's result, delivered again whenever a table it reads changes (the
 * application's own writes and applied sync alike, both reported by the TableChangeTracker).
 *
 * Which tables a query reads is asked of SQLite itself: `EXPLAIN <query>` lists the b-trees the
 * compiled statement opens (`OpenRead` and friends, by root page and database), and `sqlite_master`
 * names the table each root page (a table's or one of its indexes') belongs to. That sees through
 * views, CTEs, subqueries, joins and covering-index scans the way a SQL parser could not, and works
 * over any driver because it is plain SQL. A virtual table (`VOpen`) or a root page that
 * `sqlite_master` does not know makes the tables unknowable: the query then re-runs on a change to
 * any managed table. Only managed tables report changes, so a query over other tables alone never
 * re-runs.
 *
 * One watcher has at most one query in flight. Changes that arrive before a run starts are
 * coalesced into it (a run starts on the next macrotask, after a burst of statements); any relevant
 * change that arrives while a run is in flight makes exactly one more run follow it, so the last
 * result delivered was read after the last change. Results are delivered in run order.
 */
import type { SqliteExecutor, SqliteRow, SqliteValue } from "../drivers/sqlite-driver.js";
import type { TablesChanged, TablesChangedListener } from "./table-changes.js";

/** Receives a live query's results and failures. */
export interface QueryListener<R = SqliteRow> {
  /** Every result, in order: the first run's, then one after each burst of relevant changes. */
  readonly onResult: (rows: R[]) => void;
  /**
   * A run failed (or `onResult` threw). The watcher stays subscribed: the next relevant change
   * runs the query again.
   */
  readonly onError: (error: unknown) => void;
}

/** Options of `watchQuery` and `liveQuery`. */
export interface WatchQueryOptions {
  /**
   * The tables whose changes re-run the query, instead of the ones SQLite's plan names (names are
   * compared case-insensitively).
   */
  readonly tables?: readonly string[];
  /** Ends the watch (as the unsubscribe function, or `return()` of the iterator, does). */
  readonly signal?: AbortSignal;
}

/** What a live query runs over: the client's connection, its table-change notifications and its lifetime. */
export interface LiveQuerySource {
  readonly db: SqliteExecutor;
  readonly subscribe: (listener: TablesChangedListener) => () => void;
  /** Aborted when the client closes: its watchers stop (and iterators end), since no change would reach them. */
  readonly closed: AbortSignal;
}

/** Calls `stop` once when any of the signals aborts (at once if one already has); returns the remover. */
function onAbort(signals: readonly (AbortSignal | undefined)[], stop: () => void): () => void {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  const remove = (): void => {
    for (const signal of present) signal.removeEventListener("abort", stop);
  };
  if (present.some((signal) => signal.aborted)) {
    stop();
    return remove;
  }
  for (const signal of present) signal.addEventListener("abort", stop, { once: true });
  return remove;
}

/** Every table changes this query: its tables could not be determined. */
const ANY_TABLE = "any";

/** Runs `sql` now and again after each relevant change; returns the function that stops it. */
export function watchQuery<R = SqliteRow>(
  source: LiveQuerySource,
  sql: string,
  params: readonly SqliteValue[],
  listener: QueryListener<R>,
  options: WatchQueryOptions = {},
): () => void {
  const boundParams = [...params];
  let tables: ReadonlySet<string> | typeof ANY_TABLE | undefined =
    options.tables === undefined ? undefined : new Set(options.tables.map((name) => name.toLowerCase()));
  /** Tables changed since the current (or last) run started. */
  const changed = new Set<string>();
  let running = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const relevant = (): boolean => {
    if (changed.size === 0) return false;
    // Until the first plan is read, any change may be relevant.
    if (tables === undefined || tables === ANY_TABLE) return true;
    for (const table of changed) if (tables.has(table)) return true;
    return false;
  };

  const schedule = (): void => {
    if (stopped || running || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void run();
    }, 0);
  };

  const deliver = (body: () => void): void => {
    if (stopped) return;
    try {
      body();
    } catch (error) {
      try {
        listener.onError(error);
      } catch {
        // The listener's own failure has nowhere else to go.
      }
    }
  };

  const run = async (): Promise<void> => {
    if (stopped) return;
    running = true;
    changed.clear();
    try {
      tables ??= (await tablesReadBy(source.db, sql, boundParams)) ?? ANY_TABLE;
      // Stopped meanwhile: the result would be dropped, so the query is not run.
      if (stopped) return;
      const rows = await source.db.query<R>(sql, boundParams);
      deliver(() => listener.onResult(rows));
    } catch (error) {
      deliver(() => listener.onError(error));
    } finally {
      running = false;
      if (relevant()) schedule();
    }
  };

  const onChange = (change: TablesChanged): void => {
    for (const table of change.tables) changed.add(table);
    if (!running && relevant()) schedule();
  };

  const unsubscribe = source.subscribe(onChange);
  let removeAbortListeners = (): void => {};
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    removeAbortListeners();
  };
  removeAbortListeners = onAbort([options.signal, source.closed], stop);
  if (!stopped) void run();
  return stop;
}

/**
 * The same live query as an async iterator: each `next()` gives the newest result not yet seen
 * (a consumer slower than the changes skips the results it was too slow for, never the latest).
 * The query starts with the first `next()`; `return()` (a `break` out of `for await`) or the
 * signal's abort ends it, and a failed run throws from `next()` and ends it.
 */
export function liveQuery<R = SqliteRow>(
  source: LiveQuerySource,
  sql: string,
  params: readonly SqliteValue[],
  options: WatchQueryOptions = {},
): AsyncIterableIterator<R[], undefined, undefined> {
  type Settled = { readonly rows: R[] } | { readonly error: unknown };
  const { signal, ...watchOptions } = options;
  let latest: Settled | undefined;
  /** Callers of `next()` waiting for a result, first come first served. */
  const waiting: ((settled: Settled | undefined) => void)[] = [];
  let stop: (() => void) | undefined;
  let finished = false;
  let removeAbortListeners = (): void => {};

  const finish = (): void => {
    finished = true;
    stop?.();
    removeAbortListeners();
    for (const wake of waiting.splice(0)) wake(undefined);
  };
  const settle = (settled: Settled): void => {
    if (finished) return;
    const wake = waiting.shift();
    if (wake === undefined) latest = settled;
    else wake(settled);
    // A failure ends the iteration; the consumer gets it from its (next) `next()`.
    if ("error" in settled) finish();
  };
  const done = (): IteratorResult<R[], undefined> => ({ done: true, value: undefined });
  const answer = (settled: Settled | undefined): IteratorResult<R[], undefined> => {
    if (settled === undefined) return done();
    if ("error" in settled) throw settled.error;
    return { done: false, value: settled.rows };
  };

  removeAbortListeners = onAbort([signal, source.closed], finish);
  const iterator: AsyncIterableIterator<R[], undefined, undefined> = {
    async next() {
      if (latest !== undefined) {
        const settled = latest;
        latest = undefined;
        return answer(settled);
      }
      if (finished) return done();
      stop ??= watchQuery<R>(
        source,
        sql,
        params,
        { onResult: (rows) => settle({ rows }), onError: (error) => settle({ error }) },
        watchOptions,
      );
      return answer(await new Promise<Settled | undefined>((resolve) => waiting.push(resolve)));
    },
    async return() {
      latest = undefined;
      finish();
      return done();
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** Opcodes that open a b-tree of the schema (p2 = root page, p3 = database index). */
const OPEN_OPCODES = new Set(["OpenRead", "OpenWrite", "ReopenIdx"]);

/**
 * The lower-cased names of the `main` tables a statement reads, from its compiled plan; undefined
 * when SQLite's plan does not say (a virtual table, a root page sqlite_master does not list).
 */
export async function tablesReadBy(
  db: SqliteExecutor,
  sql: string,
  params: readonly SqliteValue[],
): Promise<ReadonlySet<string> | undefined> {
  const plan = await db.query<{ opcode: string; p2: SqliteValue; p3: SqliteValue }>(`EXPLAIN ${sql}`, params);
  const roots = new Set<string>();
  for (const { opcode, p2, p3 } of plan) {
    if (opcode === "VOpen") return undefined;
    // Database 0 is `main`, where managed tables live; temp and attached databases never report.
    if (OPEN_OPCODES.has(opcode) && Number(p3) === 0) roots.add(String(p2));
  }
  const tables = new Set<string>();
  if (roots.size === 0) return tables;
  const schema = await db.query<{ tbl_name: string; rootpage: SqliteValue }>(
    "SELECT tbl_name, rootpage FROM main.sqlite_master WHERE rootpage > 0",
  );
  const byRoot = new Map(schema.map((entry) => [String(entry.rootpage), entry.tbl_name.toLowerCase()]));
  for (const root of roots) {
    // Root page 1 is sqlite_master itself.
    if (root === "1") continue;
    const table = byRoot.get(root);
    if (table === undefined) return undefined;
    tables.add(table);
  }
  return tables;
}
