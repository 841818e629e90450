/** Holding the runtime's snapshot capacity slots from outside, to make a build or chunk read find none free. */
import {
  SNAPSHOT_SLOT_LOCK_CLASSES,
  type SnapshotSlotKind,
} from "../../packages/server/src/snapshot/snapshot-capacity.js";
import type pg from "pg";

/** Slots of `kind` held on one pooled session until `done()`; `release(slot)` frees one early. */
export interface HeldSlots {
  release(slot: number): Promise<void>;
  /** Drops the session, and with it every slot still held. */
  done(): void;
}

export async function holdSnapshotSlots(
  pool: pg.Pool,
  kind: SnapshotSlotKind,
  slots: readonly number[],
): Promise<HeldSlots> {
  const lockClass = SNAPSHOT_SLOT_LOCK_CLASSES[kind];
  const client = await pool.connect();
  for (const slot of slots)
    await client.query("SELECT pg_advisory_lock($1::int, $2::int)", [lockClass, slot]);
  return {
    release: async (slot) => {
      await client.query("SELECT pg_advisory_unlock($1::int, $2::int)", [lockClass, slot]);
    },
    done: () => client.release(true),
  };
}
