/**
 * Live queries written with Kysely: `watchQuery(client, query, listener)` and
 * `liveQuery(client, query)` compile a Kysely query (anything with `.compile()`, such as
 * `db.selectFrom("todos").selectAll()`) and watch it with the client's `watchQuery` / `liveQuery`,
 * binding its parameters and mapping its rows by the same rules as `OversyncDialect`, so the rows
 * have the query's output type. Kysely plugins that rewrite results (CamelCasePlugin's result
 * half, say) run when Kysely executes a query, which a live query does not do: their changes to the
 * rows are not applied here.
 */
import type { QueryListener, SqliteRow, SyncClient, WatchQueryOptions } from "@oversync/client";
import type { Compilable } from "kysely";
import { type IntegerMode, fromSqliteRows, integerMode, toSqliteParameters } from "./sqlite-values.js";

/** Options of the Kysely `watchQuery` and `liveQuery`. */
export interface KyselyWatchQueryOptions extends WatchQueryOptions {
  /** As `OversyncDialectConfig.integers`: "number" (the default) or "bigint". */
  readonly integers?: IntegerMode;
}

/**
 * Runs `query` now and again after each change to a table it reads (the app's writes and applied
 * sync alike), delivering its rows to `listener`. Returns the function that stops it. A parameter
 * the dialect would refuse throws `sql_param_invalid` here; a row it would refuse
 * (`integer_out_of_range`) goes to `listener.onError`, and the watch goes on.
 */
export function watchQuery<O>(
  client: SyncClient,
  query: Compilable<O>,
  listener: QueryListener<O>,
  options: KyselyWatchQueryOptions = {},
): () => void {
  const { integers, ...watchOptions } = options;
  const mode = integerMode(integers);
  const { sql, parameters } = query.compile();
  return client.watchQuery<SqliteRow>(
    sql,
    toSqliteParameters(parameters),
    {
      // A mapping failure thrown here reaches listener.onError, as the client's watch promises.
      onResult: (rows) => listener.onResult(fromSqliteRows<O>(rows, mode)),
      onError: (error) => listener.onError(error),
    },
    watchOptions,
  );
}

/**
 * `watchQuery` as an async iterator of results (`for await (const rows of liveQuery(client, q))`);
 * `break`, `return()` or the signal's abort ends it, and a failed run (or a refused row) throws from
 * it and ends it.
 */
export function liveQuery<O>(
  client: SyncClient,
  query: Compilable<O>,
  options: KyselyWatchQueryOptions = {},
): AsyncIterableIterator<O[], undefined, undefined> {
  const { integers, ...watchOptions } = options;
  const mode = integerMode(integers);
  const { sql, parameters } = query.compile();
  const results = client.liveQuery<SqliteRow>(sql, toSqliteParameters(parameters), watchOptions);
  const iterator: AsyncIterableIterator<O[], undefined, undefined> = {
    async next() {
      const result = await results.next();
      if (result.done === true) return result;
      try {
        return { done: false, value: fromSqliteRows<O>(result.value, mode) };
      } catch (error) {
        await results.return?.();
        throw error;
      }
    },
    async return() {
      await results.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
