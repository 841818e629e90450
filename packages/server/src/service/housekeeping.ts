/**
 * The housekeeping sweep, off the request path: deletes expired push and snapshot sessions with
 * their rows, so no create pays for other scopes' leftovers, then vacuums the tables that only hold
 * work in progress. Every push and snapshot leaves dead rows there; autovacuum, throttled and
 * waking once a minute, falls behind under sustained load (a snapshot table grew by 16 MB/s in
 * bench/churn.ts), while a vacuum every few seconds keeps each table at what one interval writes.
 * It runs every SWEEP_INTERVAL_MILLIS while the service runs, and on demand.
 */
import type { SqlQueryable } from "../db/sql-pool.js";
import { purgeExpiredPushSessions } from "../push/push-session.js";
import { purgeExpiredSnapshotSessions } from "../snapshot/snapshot-sessions.js";

/** How often the service sweeps. */
export const SWEEP_INTERVAL_MILLIS = 10_000;

/**
 * The tables of work in progress. SKIP_LOCKED: a table another vacuum holds is left for the next
 * sweep. A role that does not own them gets a warning from PostgreSQL and no vacuum (autovacuum
 * still runs).
 */
const VACUUM_CHURN_TABLES = `VACUUM (SKIP_LOCKED) sync.push_sessions, sync.push_session_rows,
  sync.bundle_capture_stage, sync.snapshot_sessions, sync.snapshot_session_rows`;

/** Sessions one statement deletes at most, so a large backlog never holds locks for long. */
const SWEEP_BATCH = 200;

/** What one sweep deleted. */
export interface SweepResult {
  readonly pushSessions: number;
  readonly snapshotSessions: number;
}

/**
 * Deletes every session expired now, batch by batch (each batch its own statement), then vacuums
 * the churn tables. `db` must run each statement outside a transaction (VACUUM cannot run in one).
 */
export async function sweep(db: SqlQueryable): Promise<SweepResult> {
  const drain = async (purge: (db: SqlQueryable, batch: number) => Promise<number>) => {
    let total = 0;
    for (;;) {
      const deleted = await purge(db, SWEEP_BATCH);
      total += deleted;
      if (deleted < SWEEP_BATCH) return total;
    }
  };
  const result = {
    pushSessions: await drain(purgeExpiredPushSessions),
    snapshotSessions: await drain(purgeExpiredSnapshotSessions),
  };
  await db.query(VACUUM_CHURN_TABLES);
  return result;
}
