/**
 * Waiting on a SyncClient by its events instead of fixed sleeps: a condition re-checked after each
 * table change and status change (and, when asked, on a poll for state no event announces),
 * bounded so a hang fails the test instead of the run.
 */
import type { SyncClient } from "@oversync/client";

/** How long untilClient waits, and how often it also re-checks without an event. */
export interface UntilOptions {
  readonly timeoutMillis?: number;
  readonly pollMillis?: number;
}

/** Resolves once `check` holds; rejects after the timeout naming `what`, or when `check` throws. */
export function untilClient(
  client: SyncClient,
  what: string,
  check: () => Promise<boolean> | boolean,
  { timeoutMillis = 15_000, pollMillis }: UntilOptions = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let running = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      offTables();
      offStatus();
      if (error === undefined) resolve();
      else reject(error);
    };
    // One check at a time: events arriving while a check runs would otherwise stack them up.
    const evaluate = async () => {
      if (settled || running) return;
      running = true;
      try {
        if (await check()) finish();
      } catch (error) {
        finish(error as Error);
      } finally {
        running = false;
      }
    };
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), timeoutMillis);
    const poll = pollMillis === undefined ? undefined : setInterval(() => void evaluate(), pollMillis);
    const offTables = client.onTablesChanged(() => void evaluate());
    const offStatus = client.onStatus(() => void evaluate());
    void evaluate();
  });
}
