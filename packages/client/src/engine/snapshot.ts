/**
 * Snapshot sessions: staging every chunk durably (one transaction per chunk, invisible to the
 * application), then replacing the managed tables with the staged rows in one authoritative
 * transaction with deferred foreign keys. A failure before the final commit leaves the checkpoint,
 * the source and the application rows as they were; the next attempt clears the stage and starts a
 * new session from row 0.
 */
import {
  OversyncError,
  ProtocolViolationError,
  type SnapshotNegotiation,
  type SnapshotRow,
  type SnapshotSession,
} from "@oversync/protocol";
import type { SnapshotSessionArgs } from "../transport/sync-transport.js";
import { withSnapshotCapacityRetry } from "../transport/retry-policy.js";
import type { ApplyState } from "../store/app-rows.js";
import { decodeQueuedPayload, decodeWirePayload, localKeyOfWireKey } from "../store/payload-codec.js";
import { NO_OPERATION, type SnapshotStageRow, storeError } from "../store/runtime-state.js";
import {
  type EngineContext,
  applyAuthoritatively,
  openStore,
  stopPoint,
  stoppable,
  toWireInt,
} from "./engine-context.js";
import type { RestoreSummary } from "./results.js";
import { reapplyQueuedChanges } from "./queued-changes.js";
import { requireFreshSource } from "./source-recovery.js";
import { clearOutbox } from "./push-freeze.js";
import { wireReaction } from "./wire-reactions.js";

/** Opens a snapshot session, waiting out the server's capacity answers. */
export function createSnapshotSession(
  ctx: EngineContext,
  args?: SnapshotSessionArgs,
): Promise<SnapshotSession> {
  return withSnapshotCapacityRetry(() => ctx.transport.createSnapshotSession(args), {
    operation: "snapshot session create",
    clock: ctx.options.retryClock,
  });
}

/** Best-effort cleanup of a session; its failure never hides the operation's own outcome. */
async function deleteSnapshotSession(ctx: EngineContext, session: SnapshotSession): Promise<void> {
  await ctx.transport.deleteSnapshotSession(session.snapshot_id).catch(() => undefined);
}

/** Sessions one download opens at most while the server loses them mid-download. */
export const SNAPSHOT_SESSION_ATTEMPTS = 3;

/**
 * Downloads a whole snapshot into an emptied stage: `open` creates the session, `onSession` records
 * it (`complete` false before the first chunk, true after the last). A session the server loses
 * mid-download (expired, or evicted for a newer one: 404/410) is replaced by a fresh one from row 0,
 * up to SNAPSHOT_SESSION_ATTEMPTS sessions. The session is deleted on the server once staged.
 */
export async function downloadSnapshot(
  ctx: EngineContext,
  limits: SnapshotNegotiation,
  open: () => Promise<SnapshotSession>,
  onSession: (session: SnapshotSession, complete: boolean) => Promise<void> = async () => undefined,
): Promise<SnapshotSession> {
  const store = openStore(ctx, "snapshot staging");
  for (let attempt = 1; ; attempt++) {
    await store.write((state) => state.clearSnapshotStage());
    const session = await open();
    try {
      await onSession(session, false);
      await stageSnapshot(ctx, session, limits);
      await onSession(session, true);
      return session;
    } catch (error) {
      if (!isLostSession(error) || attempt >= SNAPSHOT_SESSION_ATTEMPTS) throw error;
    } finally {
      await deleteSnapshotSession(ctx, session);
    }
  }
}

function isLostSession(error: unknown): boolean {
  return (
    error instanceof OversyncError && wireReaction(error.code, "snapshot") === "replace_snapshot_session"
  );
}

/**
 * Downloads every chunk of `session` into the stage (1-based row ordinals), checking the running
 * row and byte totals against the session. Payloads are staged as received and checked at apply.
 */
async function stageSnapshot(
  ctx: EngineContext,
  session: SnapshotSession,
  limits: SnapshotNegotiation,
): Promise<void> {
  const store = openStore(ctx, "snapshot staging");
  const fail = (message: string) => new ProtocolViolationError("invalid_snapshot_chunk", message);
  let rowsSoFar = 0;
  let bytesSoFar = 0;
  const counts = () => ({
    rows: { done: rowsSoFar, total: session.row_count },
    bytes: { done: bytesSoFar, total: session.byte_count },
  });
  ctx.progress.count(counts());
  const fetchChunk = (afterRowOrdinal: number, bytesBefore: number) => {
    const chunk = withSnapshotCapacityRetry(
      () =>
        ctx.transport.fetchSnapshotChunk(
          { session, afterRowOrdinal, bytesBefore, maxRows: limits.maxRows, maxBytes: limits.maxBytes },
          stoppable(ctx),
        ),
      { operation: "snapshot chunk", clock: ctx.options.retryClock, ...stoppable(ctx) },
    );
    // A prefetched chunk is abandoned when staging the one before it fails; its own failure then
    // has no one to tell (the caller deletes the session, which fails it) and must not surface.
    chunk.catch(() => undefined);
    return chunk;
  };
  let next = fetchChunk(0, 0);
  for (;;) {
    stopPoint(ctx);
    const chunk = await next;
    const staged = chunk.rows.map((row, index): SnapshotStageRow => {
      if (row.schema !== store.schema.schema) {
        throw fail(`snapshot row schema ${row.schema} does not match client schema ${store.schema.schema}`);
      }
      const table = store.schema.table(row.table);
      return {
        snapshotId: session.snapshot_id,
        rowOrdinal: BigInt(rowsSoFar + index + 1),
        tableName: table.name,
        keyJson: localKeyOfWireKey(table, row.key).keyJson,
        rowVersion: BigInt(row.row_version),
        payload: stagedPayload(row.payload, index),
      };
    });
    rowsSoFar += chunk.rows.length;
    bytesSoFar += chunk.byte_count;
    if (rowsSoFar > session.row_count || bytesSoFar > session.byte_count) {
      throw fail(
        `snapshot chunks run past the session's row_count ${session.row_count} / byte_count ${session.byte_count}`,
      );
    }
    // The next chunk downloads while this one is written: the server and the network work while
    // SQLite does.
    if (chunk.has_more) next = fetchChunk(rowsSoFar, bytesSoFar);
    await store.write((state) => state.stageSnapshotRows(staged));
    ctx.progress.count(counts());
    if (chunk.has_more) continue;
    if (rowsSoFar !== session.row_count) {
      throw fail(
        `snapshot final row total ${rowsSoFar} does not match session row_count ${session.row_count}`,
      );
    }
    if (bytesSoFar !== session.byte_count) {
      throw fail(
        `snapshot final byte total ${bytesSoFar} does not match session byte_count ${session.byte_count}`,
      );
    }
    return;
  }
}

/**
 * A snapshot row's payload as the stage keeps it: JSON text, parsed again at apply. A string with a
 * lone surrogate, which canonical JSON cannot write and no SQLite text can hold, is the server
 * breaking the protocol (§3.1).
 */
function stagedPayload(payload: SnapshotRow["payload"], index: number): string {
  for (const [column, value] of Object.entries(payload)) {
    if (typeof value === "string" && !value.isWellFormed()) {
      throw new ProtocolViolationError(
        "invalid_snapshot_row",
        `snapshot chunk rows[${index}].payload.${column}: string has a lone surrogate; canonical JSON requires well-formed UTF-16`,
      );
    }
  }
  return JSON.stringify(payload);
}

/** What happens to the source and the outbox when a staged snapshot is applied. */
export type SnapshotApplyMode =
  /** Keep the source; drop the outbox (there is none). */
  | { readonly kind: "keep_source" }
  /** Keep the source; a pruned committed outbox is done: raise the sequence past it, drop it. */
  | { readonly kind: "keep_source_after_committed_push" }
  /** Source recovery: rotate to `newSourceId`, re-apply the prepared outbox and retarget it. */
  | { readonly kind: "rotate_source"; readonly newSourceId: string }
  /** Remote-authoritative attach: bind `userId` on the current source. */
  | { readonly kind: "remote_replace"; readonly userId: string };

/**
 * Replaces every managed table with the staged rows of `session` in one transaction, writes the
 * still-queued local changes over them (queued-changes.ts), sets the checkpoint to the snapshot's
 * bundle seq and clears the rebuild gate and the operation state.
 */
export async function applyStagedSnapshot(
  ctx: EngineContext,
  session: SnapshotSession,
  mode: SnapshotApplyMode,
): Promise<RestoreSummary> {
  const store = openStore(ctx, "snapshot apply");
  const batch = ctx.options.snapshotApplyBatchRows;
  const snapshotSeq = BigInt(session.snapshot_bundle_seq);
  await applyAuthoritatively(ctx, async (state) => {
    const attachment = await state.readAttachment();
    const userId = mode.kind === "remote_replace" ? mode.userId : attachment.attachedUserId;
    if (mode.kind !== "remote_replace" && attachment.bindingState !== "attached") {
      throw storeError("a snapshot can only be applied to an attached database");
    }
    if (mode.kind === "rotate_source") await requireFreshSource(state, mode.newSourceId);
    const outbox = await state.readOutboxBundle();
    // Every change still queued survives: written while the snapshot downloaded, or (rotation)
    // between the freeze and the server's refusal. It is written again over the snapshot below.
    const queued = await state.listDirtyRows();
    await clearManagedTables(state);
    if (mode.kind === "keep_source" || mode.kind === "remote_replace") await clearOutbox(state);

    let applied = 0n;
    const total = session.row_count;
    ctx.progress.count({ rows: { done: 0, total } });
    for (let after = 0n; ; ) {
      const page = await state.listSnapshotStage(session.snapshot_id, after, batch);
      // Consecutive rows of one table go in one call (the server orders rows by table).
      for (let start = 0; start < page.length; ) {
        const table = store.schema.table(page[start]!.tableName);
        let end = start + 1;
        while (end < page.length && page[end]!.tableName === table.name) end++;
        await state.upsertRemoteRows(
          table.name,
          page.slice(start, end).map((row) => ({
            keyJson: row.keyJson,
            values: decodeWirePayload(table, JSON.parse(row.payload)),
          })),
        );
        start = end;
      }
      applied += BigInt(page.length);
      ctx.progress.count({ rows: { done: Number(applied), total } });
      const last = page.at(-1);
      if (last === undefined || page.length < batch) break;
      after = last.rowOrdinal;
    }
    if (applied !== BigInt(session.row_count)) {
      throw new ProtocolViolationError(
        "invalid_snapshot_chunk",
        `snapshot final row total ${applied} does not match session row_count ${session.row_count}`,
      );
    }
    await state.putSnapshotRowStates(session.snapshot_id);

    let sourceId = attachment.currentSourceId;
    if (mode.kind === "keep_source_after_committed_push") {
      if (outbox.state === "committed_remote" && outbox.rowCount > 0n) {
        await state.raiseNextSourceBundleId(sourceId, outbox.sourceBundleId + 1n);
      }
      await clearOutbox(state);
    }
    if (mode.kind === "rotate_source") {
      await state.markSourceReplaced(sourceId, mode.newSourceId);
      sourceId = mode.newSourceId;
      if (outbox.state === "prepared") await carryOutboxToSource(state, sourceId);
      else await clearOutbox(state);
    }
    await reapplyQueuedChanges(state, queued);
    await state.writeAttachment({
      currentSourceId: sourceId,
      bindingState: "attached",
      attachedUserId: userId,
      schemaName: store.schema.schema,
      lastBundleSeqSeen: snapshotSeq,
      rebuildRequired: false,
      pendingInitializationId: "",
    });
    await state.writeOperation(NO_OPERATION);
    await state.clearSnapshotStage();
  });
  if (mode.kind === "rotate_source") ctx.sourceId = mode.newSourceId;
  return { bundleSeq: toWireInt(snapshotSeq, "snapshot_bundle_seq"), rowCount: session.row_count };
}

/** Empties every managed table (configured or only registered) and forgets their row states. */
export async function clearManagedTables(state: ApplyState): Promise<void> {
  const tables = new Set([
    ...state.schema.tables.map((table) => table.name),
    ...(await state.listRegisteredTables()),
  ]);
  for (const table of tables) await state.clearAppTable(table);
  await state.clearRowStates();
}

/**
 * Source recovery keeps the frozen intent: re-applies the prepared outbox to the fresh tables
 * (deletes delete, upserts write the local payload) and retargets it to bundle 1 of the new source,
 * which then continues at bundle 2.
 */
async function carryOutboxToSource(state: ApplyState, sourceId: string): Promise<void> {
  const bundle = await state.readOutboxBundle();
  const rows = await state.listOutboxRows();
  if (BigInt(rows.length) !== bundle.rowCount) {
    throw storeError(`prepared outbox holds ${rows.length} rows but declares ${bundle.rowCount}`);
  }
  for (const row of rows) {
    const table = state.schema.table(row.tableName);
    if (row.op === "DELETE" || row.wirePayload === null) {
      await state.deleteAppRow(table.name, localKeyOfWireKey(table, JSON.parse(row.wireKeyJson)).value);
    } else {
      await state.upsertAppRow(table.name, decodeQueuedPayload(table, JSON.parse(row.wirePayload)));
    }
  }
  await state.clearOutboxRows();
  await state.insertOutboxRows(rows.map((row) => ({ ...row, sourceBundleId: 1n })));
  await state.writeOutboxBundle({ ...bundle, sourceId, sourceBundleId: 1n });
  await state.raiseNextSourceBundleId(sourceId, 2n);
}
