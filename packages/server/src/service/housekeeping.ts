/**
 * The housekeeping sweep: deletes expired push and snapshot sessions with their rows, off the
 * request path, so no create pays for other users' leftovers and the churn tables stay small
 * between sweeps. It runs every SWEEP_INTERVAL_MILLIS while the service runs, and on demand.
 */
import type { SqlQueryable } from "../db/sql-pool.js";
import { purgeExpiredPushSessions } from "../push/push-session.js";
import { purgeExpiredSnapshotSessions } from "../snapshot/snapshot-sessions.js";

/** How often the service sweeps. */
export const SWEEP_INTERVAL_MILLIS = 30_000;

/** Sessions one statement deletes at most, so a large backlog never holds locks for long. */
const SWEEP_BATCH = 200;

/** What one sweep deleted. */
export interface SweepResult {
  readonly pushSessions: number;
  readonly snapshotSessions: number;
}

/** Deletes every session expired now, batch by batch; each batch is its own statement. */
export async function sweepExpiredSessions(db: SqlQueryable): Promise<SweepResult> {
  const drain = async (purge: (db: SqlQueryable, batch: number) => Promise<number>) => {
    let total = 0;
    for (;;) {
      const deleted = await purge(db, SWEEP_BATCH);
      total += deleted;
      if (deleted < SWEEP_BATCH) return total;
    }
  };
  return {
    pushSessions: await drain(purgeExpiredPushSessions),
    snapshotSessions: await drain(purgeExpiredSnapshotSessions),
  };
}
