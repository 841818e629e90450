/**
 * Waiting on a SyncClient by its events instead of fixed sleeps: a condition re-checked after each
 * table change and status change, bounded so a hang fails the test instead of the run.
 */
import type { SyncClient } from "@oversync/client";

/** Resolves once `check` holds; rejects after `timeoutMillis` naming `what`, or when `check` throws. */
export function untilClient(
  client: SyncClient,
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMillis = 15_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      offTables();
      offStatus();
      if (error === undefined) resolve();
      else reject(error);
    };
    const evaluate = async () => {
      try {
        if (!settled && (await check())) finish();
      } catch (error) {
        finish(error as Error);
      }
    };
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), timeoutMillis);
    const offTables = client.onTablesChanged(() => void evaluate());
    const offStatus = client.onStatus(() => void evaluate());
    void evaluate();
  });
}
