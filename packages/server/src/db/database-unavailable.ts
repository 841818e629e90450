/**
 * Losing the database: the typed error the runtime raises when it cannot get a session or the
 * session's connection fails under it, and how a driver error is recognised as such a loss.
 */

/**
 * SQLSTATEs PostgreSQL sends as it ends a session: every connection exception (class 08), and
 * `admin_shutdown` (pg_terminate_backend, a fast shutdown), `crash_shutdown`, `cannot_connect_now`
 * (starting up or in recovery) and `idle_session_timeout`.
 */
const CONNECTION_LOSS_SQLSTATES = new Set(["57P01", "57P02", "57P03", "57P05"]);

/**
 * The database could not be reached, or the connection of the session a call was using failed
 * while the call ran. A write cut off this way either committed just before the loss or was rolled
 * back; clients retry the 503 it becomes as they retry any (a push of a bundle that did commit is
 * answered from the committed bundle, never applied twice). The pool replaces the connection. The message and `cause` carry the driver's error for the
 * host's log; the HTTP layer answers 503 `service_unavailable` and sends neither.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name = "DatabaseUnavailableError";
  readonly code = "database_unavailable";

  /** `what` failed because of `cause`, whose message is appended for the host's log. */
  constructor(what: string, cause: unknown) {
    super(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** True when `error` is a driver error that says the session's connection is gone. */
export function isConnectionLoss(error: unknown): boolean {
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  const code = (error as { code: unknown }).code;
  return typeof code === "string" && (/^08[0-9A-Z]{3}$/.test(code) || CONNECTION_LOSS_SQLSTATES.has(code));
}
