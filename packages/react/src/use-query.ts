/**
 * `useQuery(sql, params)`: a live query as component state. It subscribes with
 * `client.watchQuery` while the component is mounted, so the component re-renders with the new rows
 * after each change to a table the query reads (the app's writes and applied sync alike), and
 * unsubscribes on unmount, dropping a run still in flight. `sql` and `params` are compared by value,
 * so an inline `[id]` does not re-subscribe on every render; a new value does.
 */
import type { SqliteRow, SqliteValue, WatchQueryOptions } from "@oversync/client";
import { useEffect, useMemo, useState } from "react";
import { useOversyncClient } from "./provider.js";

/** What `useQuery` returns. */
export interface QueryState<R> {
  /** The latest result; empty while the first result of this query is loading. */
  readonly rows: readonly R[];
  /** The latest failure (the query keeps watching and clears it with its next result). */
  readonly error: unknown;
  /** True until the first result (or failure) of the current sql and params. */
  readonly loading: boolean;
}

/** Options of `useQuery`. */
export interface UseQueryOptions {
  /** The tables whose changes re-run the query, instead of the ones SQLite's plan names. */
  readonly tables?: WatchQueryOptions["tables"];
}

const LOADING: QueryState<never> = Object.freeze({
  rows: Object.freeze([]),
  error: undefined,
  loading: true,
});

interface Held<R> {
  readonly key: string;
  readonly state: QueryState<R>;
}

/** Runs `sql` with `params` and keeps the rows current; see `QueryState`. */
export function useQuery<R = SqliteRow>(
  sql: string,
  params: readonly SqliteValue[] = [],
  options: UseQueryOptions = {},
): QueryState<R> {
  const client = useOversyncClient();
  const key = queryKey(sql, params, options.tables);
  // The inputs change identity only when their value does, so the effect re-subscribes only then.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` is the value of the inputs
  const query = useMemo(() => ({ sql, params: [...params], tables: options.tables }), [key]);
  const [held, setHeld] = useState<Held<R> | undefined>(undefined);

  useEffect(() => {
    return client.watchQuery<R>(
      query.sql,
      query.params,
      {
        onResult: (rows) => setHeld({ key: key, state: { rows, error: undefined, loading: false } }),
        onError: (error) =>
          setHeld((previous) => ({
            key: key,
            state: { rows: previous?.key === key ? previous.state.rows : [], error, loading: false },
          })),
      },
      query.tables === undefined ? {} : { tables: query.tables },
    );
  }, [client, query, key]);

  // Until this query's first answer, earlier rows (of other sql or params) are not shown.
  return held !== undefined && held.key === key ? held.state : LOADING;
}

/** The value of a query's inputs as text (types kept apart: 1n, 1, "1" and a BLOB differ). */
function queryKey(
  sql: string,
  params: readonly SqliteValue[],
  tables: readonly string[] | undefined,
): string {
  return JSON.stringify([sql, params.map(paramKey), tables ?? null]);
}

function paramKey(value: SqliteValue): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return `i:${value}`;
  if (typeof value === "number") return `r:${Object.is(value, -0) ? "-0" : value}`;
  if (typeof value === "string") return `t:${value}`;
  return `b:${Array.from(value, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
