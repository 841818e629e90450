/**
 * Client recipes of the docs site's Client guide: a conflict resolver that merges, handling the
 * errors a call can throw, and a progress bar. The site includes the `#region` parts;
 * test/docs/client-guide.test.ts runs them on two devices against the reference server.
 */
import { EXAMPLE_CLIENT_CONFIG } from "@oversync/cli";
import { type SqliteDriver, type SyncClient, createSyncClient, isSyncClientError } from "@oversync/client";

/** A client of the reference server's example tables whose resolver merges renamed todos. */
export function createMergingClient(db: SqliteDriver, server: string, tokenProvider: () => string) {
  // #region resolver
  const client = createSyncClient({
    driver: db,
    baseUrl: server,
    tokenProvider,
    config: EXAMPLE_CLIENT_CONFIG,
    // Two devices renamed the same todo: keep both titles rather than drop the local one.
    // Anything else: the server's row wins (the default resolver, `serverWins`).
    resolver: ({ table, localRow, serverRow }) =>
      table === "posts" && localRow !== null && serverRow !== null
        ? { kind: "keep_merged", row: { ...serverRow, title: `${serverRow.title} / ${localRow.title}` } }
        : { kind: "accept_server" },
  });
  // #endregion resolver
  return client;
}

/** One sync() as an app calls it, with the failures it acts on; returns what happened. */
export async function syncOnce(client: SyncClient, signInAgain: () => Promise<void>): Promise<string> {
  // #region errors
  try {
    await client.sync();
  } catch (error) {
    if (!isSyncClientError(error)) throw error; // thrown by the app's own callbacks
    switch (error.code) {
      case "authentication_failed": // 401: the server refused the token
        await signInAgain();
        return "signed in again";
      case "source_recovery_required": // the server refused this device's stream
        await client.rebuild(); // continues on a new source; queued changes are kept
        return "rebuilt";
      case "network_error":
      case "timeout":
      case "transient_retry_exhausted":
        return "offline"; // the changes stay queued for the next sync
      default:
        throw error; // `error.message` says what to do
    }
  }
  // #endregion errors
  return "synced";
}

/** Draws restore, pull and push progress with `bar`. */
export function showProgress(client: SyncClient, bar: (text: string, fraction?: number) => void) {
  // #region progress
  const stop = client.onProgress((progress) => {
    if (progress.state === "idle") return bar("");
    const { phase, rows } = progress; // rows (and bytes, bundles) when the phase counts them
    if (rows?.total === undefined) return bar(phase);
    bar(`${phase}: ${rows.done} of ${rows.total} rows`, rows.done / rows.total);
  });
  // #endregion progress
  return stop;
}
