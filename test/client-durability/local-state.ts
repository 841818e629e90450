/** Reading a device's `_sync_*` state straight from its SQLite file (no client involved). */
import type { SqliteExecutor } from "@oversync/client";

/** The durable sync bookkeeping that tells where a push or rebuild stopped. */
export interface SyncBookkeeping {
  readonly sourceId: string;
  readonly lastBundleSeqSeen: bigint;
  readonly rebuildRequired: boolean;
  readonly pendingInitializationId: string;
  readonly outboxState: string;
  readonly outboxSourceBundleId: bigint;
  readonly outboxRemoteBundleSeq: bigint;
  readonly outboxRows: number;
  readonly dirtyRows: number;
  readonly rowStates: number;
  readonly snapshotStageRows: number;
  readonly operationKind: string;
}

export async function readBookkeeping(db: SqliteExecutor): Promise<SyncBookkeeping> {
  const [attachment] = await db.query<{
    current_source_id: string;
    last_bundle_seq_seen: bigint;
    rebuild_required: bigint;
    pending_initialization_id: string;
  }>("SELECT * FROM _sync_attachment_state");
  const [outbox] = await db.query<{ state: string; source_bundle_id: bigint; remote_bundle_seq: bigint }>(
    "SELECT state, source_bundle_id, remote_bundle_seq FROM _sync_outbox_bundle",
  );
  const [operation] = await db.query<{ kind: string }>("SELECT kind FROM _sync_operation_state");
  const count = async (table: string) =>
    Number((await db.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n ?? -1n);
  if (attachment === undefined || outbox === undefined || operation === undefined) {
    throw new Error("the _sync_* singleton rows are missing");
  }
  return {
    sourceId: attachment.current_source_id,
    lastBundleSeqSeen: attachment.last_bundle_seq_seen,
    rebuildRequired: attachment.rebuild_required !== 0n,
    pendingInitializationId: attachment.pending_initialization_id,
    outboxState: outbox.state,
    outboxSourceBundleId: outbox.source_bundle_id,
    outboxRemoteBundleSeq: outbox.remote_bundle_seq,
    outboxRows: await count("_sync_outbox_rows"),
    dirtyRows: await count("_sync_dirty_rows"),
    rowStates: await count("_sync_row_state"),
    snapshotStageRows: await count("_sync_snapshot_stage"),
    operationKind: operation.kind,
  };
}
