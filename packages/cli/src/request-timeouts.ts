/**
 * How long the reference server waits for a request to arrive. Node's defaults hold a socket that
 * sent its headers but never its body for 300 s, and look for expired requests only every 30 s, so
 * a few idle or hostile clients could pin sockets for minutes. A request cut off is answered
 * `408 Request Timeout` by Node itself and its connection closed. Only the arrival of the request
 * is timed: a push being committed or a watch stream being served afterwards is not cut.
 */
import type { ServerOptions } from "node:http";

/** Time a client has to send the request line and every header. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;

/**
 * Time a client has to send the whole request, headers and body. Room for a large push chunk over
 * a slow mobile link; the clients' own request timeout is of the same order (Go's is 120 s).
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/** The two limits, in milliseconds. */
export interface RequestTimeouts {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/** How often Node looks for requests past their timeout: the most a cut-off can be late. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/**
 * The node:http server options that enforce `timeouts`. The headers limit never exceeds the
 * request limit (Node refuses that), so a short request timeout alone shortens both.
 */
export function requestTimeoutOptions(timeouts: RequestTimeouts): ServerOptions {
  return {
    headersTimeout: Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs),
    requestTimeout: timeouts.requestTimeoutMs,
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  };
}
