/**
 * The one logger @oversync/server writes to, whichever part writes: the service (faults behind 5xx
 * answers, a lost database, housekeeping, committed bundles), the handler (faults it hides from
 * clients, and each request), the node:http adapter and the LISTEN session. One interface, so a
 * host passes the same logger everywhere: `console`, pino, or its own.
 */

/** The structured part of a log entry: names in camelCase, values plain data or an Error. */
export type LogDetails = Readonly<Record<string, unknown>>;

/**
 * Where the runtime logs; only `error` is required, and a level a logger leaves out is not written.
 * `error` is faults hidden behind 5xx answers, `warn` outages and oddities (a lost database, a
 * malformed notification); `info` and `debug` are the hooks for following traffic, left out by the
 * default logger so a library does not write a line per request unless asked:
 *
 * - `debug("request started", {method, path})` as the handler takes a request;
 * - `info("request finished", {method, path, endpoint, status, durationMs, code?, userId?,
 *   scopeId?, sourceId?})` once it has its answer (a watch stream's once it opens);
 * - `info("bundle committed", {origin, bundleSeq, rows, scopeId, sourceId, sourceBundleId})` after
 *   the transaction that committed a bundle has.
 */
export interface SyncLogger {
  debug?(message: string, details?: LogDetails): void;
  info?(message: string, details?: LogDetails): void;
  warn?(message: string, details?: LogDetails): void;
  error(message: string, details?: LogDetails): void;
}

/** The default: warnings and errors on the console; no request or commit lines. */
export const consoleLogger: SyncLogger = {
  warn: (message, details) => console.warn(`[oversync] ${message}`, details ?? ""),
  error: (message, details) => console.error(`[oversync] ${message}`, details ?? ""),
};
