/**
 * Capacity for snapshot work (protocol-latest §1.9, §1.10, §4 `max_concurrent_snapshot_builds`,
 * `max_concurrent_snapshot_chunk_requests`). A build or chunk read holds one of N numbered slots for
 * the length of its transaction; a slot is a transaction-scoped PostgreSQL advisory lock, so the
 * limit holds across every server process on the database and a slot is freed however the
 * transaction ends. When every slot is taken the call is refused at once with a 429 the clients
 * retry after `Retry-After` seconds.
 */
import { OversyncError } from "@oversync/protocol";
import type { SqlQueryable } from "../db/sql-pool.js";

/**
 * Advisory lock classes of the two slot kinds. Slots use the two-int4 lock form, a key space apart
 * from the single-bigint keys of the per-scope locks (scope-state.ts) and the bootstrap lock.
 */
export const SNAPSHOT_SLOT_LOCK_CLASSES = { build: 0x6f760001, chunk: 0x6f760002 } as const;

/** What a slot is taken for. */
export type SnapshotSlotKind = keyof typeof SNAPSHOT_SLOT_LOCK_CLASSES;

/**
 * Seconds a refused client waits before retrying. Kept small: clients give up once the wait would
 * pass their 30 s budget, and a build or chunk read is short.
 */
export const SNAPSHOT_RETRY_AFTER_SECONDS = 1;

/** A 429 capacity refusal; the HTTP layer sends `retryAfterSeconds` as the `Retry-After` header. */
export class SnapshotCapacityError extends OversyncError {
  readonly retryAfterSeconds: number;

  constructor(
    code: "snapshot_build_capacity" | "snapshot_chunk_capacity",
    message: string,
    retryAfterSeconds = SNAPSHOT_RETRY_AFTER_SECONDS,
  ) {
    super(code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Takes a free slot of `kind` (0 … `slots` − 1) for the rest of the current transaction, or throws
 * SnapshotCapacityError when all are held. Never waits.
 */
export async function takeSnapshotSlot(
  client: SqlQueryable,
  kind: SnapshotSlotKind,
  slots: number,
): Promise<number> {
  // The scan stops at the first slot it locks, so at most one slot is held per call.
  const { rows } = await client.query<{ slot: number }>(
    `SELECT slot FROM generate_series(0, $2::int - 1) AS slot
      WHERE pg_try_advisory_xact_lock($1::int, slot) LIMIT 1`,
    [SNAPSHOT_SLOT_LOCK_CLASSES[kind], slots],
  );
  const slot = rows[0]?.slot;
  if (slot !== undefined) return slot;
  if (kind === "build") {
    throw new SnapshotCapacityError(
      "snapshot_build_capacity",
      `all ${slots} snapshot build slots are busy; retry after ${SNAPSHOT_RETRY_AFTER_SECONDS} s`,
    );
  }
  throw new SnapshotCapacityError(
    "snapshot_chunk_capacity",
    `all ${slots} snapshot chunk slots are busy; retry after ${SNAPSHOT_RETRY_AFTER_SECONDS} s`,
  );
}
