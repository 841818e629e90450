/**
 * Changes the server refused for good. A push answered `push_chunk_invalid` or
 * `push_commit_invalid` (a value its column cannot take, a key the server cannot store, a unique or
 * CHECK rule broken, a row too large to serve) can never commit as it is, and retried forever it
 * would hold back every later change. The push finds the refused row by pushing halves of the
 * bundle (the rest commits), moves it out of the queue into `_oversync_rejected_changes` and tells
 * the app (`onChangeRejected`, `pendingSyncStatus().rejectedRowCount`, `rejectedChanges()`). The
 * app row keeps the app's values until the app decides:
 * - writing the row again queues it again (the rejection is forgotten once a change of that key
 *   commits);
 * - `retryRejectedChange` queues it again as it was (after a fix on the server);
 * - `discardRejectedChange` drops it: a row the server never had is deleted locally, any other
 *   gets the server's version back with the next sync (a keep-source rebuild that keeps the rest
 *   of the queue).
 */
import { OversyncError, type RowOp, snapshotRowJsonOfTexts } from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import {
  type KeyValue,
  type RowValues,
  decodeQueuedPayload,
  keyValueOfLocalKeyJson,
  localKeyJson,
  wirePayloadOfLocalPayload,
} from "../store/payload-codec.js";
import type { OutboxRow, RuntimeState, StoredRejection } from "../store/runtime-state.js";
import { type EngineContext, applyAuthoritatively, openStore } from "./engine-context.js";
import { type Outbox, returnOutboxToQueue } from "./push-freeze.js";
import { reapplyQueuedChanges } from "./queued-changes.js";
import { markCheckpointRecovery } from "./rebuild.js";
import { wireReaction } from "./wire-reactions.js";

/** A local change the server refused for good. */
export interface RejectedChange {
  /** The table's lower-cased name. */
  readonly table: string;
  readonly key: KeyValue;
  readonly op: RowOp;
  /** The row as the app wrote it (columns it carried); null for a DELETE. */
  readonly row: RowValues | null;
  /** The server's error code, e.g. `push_commit_invalid`. */
  readonly code: string;
  /** The server's explanation. */
  readonly message: string;
  /** When it was rejected (ISO 8601, UTC). */
  readonly rejectedAt: string;
}

/** Called once per change the server refused for good. */
export type ChangeRejectedListener = (change: RejectedChange) => void;

/** The listeners of `onChangeRejected`. */
export class RejectionEvents {
  private readonly listeners = new Set<ChangeRejectedListener>();

  subscribe(listener: ChangeRejectedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: RejectedChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

/** True for the server answers that refuse a bundle's content for good. */
export function isPermanentRefusal(error: unknown): error is OversyncError {
  return error instanceof OversyncError && wireReaction(error.code, "push") === "reject_change";
}

/**
 * Moves `row` of a refused outbox into the rejected changes, the others back into the queue (a
 * newer queued change of the key stays queued too), and tells the listeners.
 */
export async function rejectOutboxRow(
  ctx: EngineContext,
  outbox: Outbox,
  row: OutboxRow,
  refusal: { readonly code: string; readonly message: string },
): Promise<void> {
  const store = openStore(ctx, "push");
  const stored = await store.write(async (state) => {
    await returnOutboxToQueue(state, outbox.rows, row);
    await state.putRejection(
      {
        tableName: row.tableName,
        keyJson: row.keyJson,
        op: row.op,
        baseRowVersion: row.baseRowVersion,
        payload: row.localPayload,
      },
      refusal.code,
      refusal.message,
    );
    return (await state.readRejection(row.tableName, row.keyJson))!;
  });
  ctx.rejections.emit(publicChange(ctx, stored));
}

/**
 * The first upsert of `outbox` too large for a snapshot (`max_bytes_per_snapshot_row`), measured as
 * the server measures it at upload, with the refusal the server would answer; so it is rejected
 * before it is sent.
 */
export function oversizedRow(
  ctx: EngineContext,
  outbox: Outbox,
): { readonly row: OutboxRow; readonly refusal: { code: string; message: string } } | undefined {
  const limit = ctx.capabilities?.value.bundle_limits.max_bytes_per_snapshot_row;
  if (limit === undefined) return undefined;
  const schema = openStore(ctx, "push").schema.schema;
  for (const row of outbox.rows) {
    if (row.wirePayload === null) continue;
    const { byteLength } = snapshotRowJsonOfTexts({
      schema,
      table: row.tableName,
      keyJson: row.wireKeyJson,
      row_version: row.baseRowVersion + 1n,
      payloadJson: row.wirePayload,
    });
    if (byteLength > limit) {
      const message = `${row.tableName} ${row.wireKeyJson} takes ${byteLength} bytes as a snapshot row, more than the server's max_bytes_per_snapshot_row ${limit}; it was not sent`;
      return { row, refusal: { code: "push_chunk_invalid", message } };
    }
  }
  return undefined;
}

/** Every rejected change, oldest first. */
export async function listRejectedChanges(ctx: EngineContext): Promise<RejectedChange[]> {
  const rejections = await openStore(ctx, "rejectedChanges()").read((state) => state.listRejections());
  return rejections.map((entry) => publicChange(ctx, entry));
}

/** Queues a rejected change again as it was, writing it over the local row. */
export async function retryRejectedChange(ctx: EngineContext, table: string, key: KeyValue): Promise<void> {
  await applyAuthoritatively(ctx, async (state) => {
    const entry = await takeRejection(state, "retryRejectedChange()", table, key);
    if ((await state.readDirtyRow(entry.tableName, entry.keyJson)) !== undefined) return;
    await reapplyQueuedChanges(state, [{ ...entry, dirtyOrdinal: 0n, updatedAt: entry.rejectedAt }]);
    await state.putDirtyRow(entry);
  });
}

/**
 * Drops a rejected change. A row the server never had is deleted locally; any other gets the
 * server's version back with the next sync. A newer queued change of the key stays queued.
 */
export async function discardRejectedChange(ctx: EngineContext, table: string, key: KeyValue): Promise<void> {
  const restore = await applyAuthoritatively(ctx, async (state) => {
    const entry = await takeRejection(state, "discardRejectedChange()", table, key);
    if ((await state.readDirtyRow(entry.tableName, entry.keyJson)) !== undefined) return false;
    if (entry.op === "INSERT" && entry.baseRowVersion === 0n) {
      await state.deleteAppRow(
        entry.tableName,
        keyValueOfLocalKeyJson(state.schema.table(entry.tableName), entry.keyJson),
      );
      return false;
    }
    return true;
  });
  if (restore) await markCheckpointRecovery(ctx, "explicit_rebuild");
}

/** Forgets the rejection of every key a committed bundle carried. */
export async function forgetCommittedRejections(
  state: RuntimeState,
  rows: readonly OutboxRow[],
): Promise<void> {
  await state.deleteRejections(rows);
}

async function takeRejection(
  state: RuntimeState,
  operation: string,
  table: string,
  key: KeyValue,
): Promise<StoredRejection> {
  const managed = state.schema.table(table.toLowerCase());
  const keyJson = localKeyJson(managed, key);
  const entry = await state.readRejection(managed.name, keyJson);
  if (entry === undefined) {
    throw new OversyncClientError(
      "invalid_argument",
      `${operation}: ${managed.name} ${keyJson} has no rejected change`,
    );
  }
  await state.deleteRejections([entry]);
  return entry;
}

function publicChange(ctx: EngineContext, entry: StoredRejection): RejectedChange {
  const table = openStore(ctx, "rejected changes").schema.table(entry.tableName);
  return {
    table: table.name,
    key: keyValueOfLocalKeyJson(table, entry.keyJson),
    op: entry.op,
    row:
      entry.payload === null
        ? null
        : decodeQueuedPayload(table, wirePayloadOfLocalPayload(table, entry.payload)),
    code: entry.code,
    message: entry.message,
    rejectedAt: entry.rejectedAt,
  };
}
