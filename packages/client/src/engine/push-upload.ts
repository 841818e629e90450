/**
 * The network half of a push: create the session (or learn the bundle is already committed),
 * upload the outbox in chunks, commit, then fetch the committed bundle back and verify it
 * (row count, `bundle_hash`, `canonical_request_hash`) before anything is replayed locally.
 */
import {
  type BundleRow,
  type CommittedBundleIdentity,
  ProtocolViolationError,
  bundleHash,
} from "@oversync/protocol";
import type { PushRowInput } from "../transport/sync-transport.js";
import { withCommittedBundleNotFoundRetry } from "../transport/retry-policy.js";
import { type EngineContext, openStore, stopPoint, toWireInt } from "./engine-context.js";
import type { Outbox } from "./push-freeze.js";

/**
 * Uploads a prepared outbox and commits it; answers the committed bundle's identity.
 * `initializationId` is the current seeding lease ("" when none), which a re-attach may have renewed.
 */
export async function uploadAndCommit(
  ctx: EngineContext,
  outbox: Outbox,
  initializationId: string,
): Promise<CommittedBundleIdentity> {
  const { bundle, rows } = outbox;
  const sourceBundleId = toWireInt(bundle.sourceBundleId, "source_bundle_id");
  const created = await ctx.transport.createPushSession({
    sourceBundleId,
    plannedRowCount: rows.length,
    canonicalRequestHash: bundle.canonicalRequestHash,
    initializationId,
  });
  if (created.status === "already_committed") {
    // A crash after an earlier commit: the server already holds this (source, bundle id).
    return {
      bundle_seq: created.bundle_seq,
      source_id: created.source_id,
      source_bundle_id: created.source_bundle_id,
      row_count: created.row_count,
      bundle_hash: created.bundle_hash,
      canonical_request_hash: created.canonical_request_hash,
    };
  }
  const pushId = created.push_id;
  try {
    const schema = openStore(ctx, "push").schema.schema;
    ctx.progress.count({ rows: { done: 0, total: rows.length } });
    for (const [start, end] of uploadChunks(ctx, rows)) {
      // A stop abandons the session (deleted below); the frozen outbox is uploaded again later.
      stopPoint(ctx);
      const chunk = rows.slice(start, end).map(
        (row): PushRowInput => ({
          schema,
          table: row.tableName,
          key: JSON.parse(row.wireKeyJson) as Record<string, string>,
          op: row.op,
          base_row_version: toWireInt(row.baseRowVersion, "base_row_version"),
          ...(row.wirePayload === null
            ? {}
            : { payload: JSON.parse(row.wirePayload) as Record<string, string | null> }),
        }),
      );
      await ctx.transport.uploadPushChunk({ pushId, startRowOrdinal: start, rows: chunk });
      ctx.progress.count({ rows: { done: end, total: rows.length } });
    }
    const committed = await ctx.transport.commitPushSession({ pushId, sourceBundleId });
    return committed;
  } catch (error) {
    // Only an uncommitted session is worth deleting; the next attempt starts a fresh one anyway.
    await ctx.transport.deletePushSession(pushId).catch(() => undefined);
    throw error;
  }
}

/**
 * Payload text after which a chunk ends early, in UTF-16 code units (at most 3 UTF-8 bytes each,
 * so a chunk stays far below a server's usual body limit of tens of MiB).
 */
const UPLOAD_CHUNK_PAYLOAD_CHARS = 4 * 1024 * 1024;

/**
 * The [start, end) row ranges of the chunks: as many rows as the configured `uploadLimit` (or the
 * server's default chunk size) allows, never above the server's maximum, and ending before the
 * rows' payload text passes UPLOAD_CHUNK_PAYLOAD_CHARS (every chunk carries at least one row), so a
 * push of large rows never meets the server's body limit.
 */
function uploadChunks(ctx: EngineContext, rows: Outbox["rows"]): [number, number][] {
  const limits = ctx.capabilities?.value.bundle_limits;
  const rowsPerChunk = Math.min(
    ctx.options.uploadLimit ?? limits?.default_rows_per_push_chunk ?? DEFAULT_ROWS_PER_CHUNK,
    limits?.max_rows_per_push_chunk ?? Number.MAX_SAFE_INTEGER,
  );
  const chunks: [number, number][] = [];
  let start = 0;
  while (start < rows.length) {
    let end = start;
    let chars = 0;
    while (end < rows.length && end - start < rowsPerChunk) {
      chars += rows[end]!.wirePayload?.length ?? 0;
      if (end > start && chars > UPLOAD_CHUNK_PAYLOAD_CHARS) break;
      end++;
    }
    chunks.push([start, end]);
    start = end;
  }
  return chunks;
}

/** Rows per chunk when neither the app nor the server says (the server always does in v1). */
const DEFAULT_ROWS_PER_CHUNK = 200;

/**
 * Fetches every row of a committed bundle (paging by `downloadLimit`, retrying while it is not yet
 * visible) and checks it against the commit: row count and recomputed `bundle_hash`.
 */
export async function fetchCommittedBundle(
  ctx: EngineContext,
  committed: CommittedBundleIdentity,
): Promise<BundleRow[]> {
  const rows: BundleRow[] = [];
  let afterRowOrdinal: number | undefined;
  for (;;) {
    const page = await withCommittedBundleNotFoundRetry(
      () =>
        ctx.transport.fetchCommittedRows({
          committed,
          afterRowOrdinal,
          maxRows: ctx.options.downloadLimit,
        }),
      { operation: "committed rows", clock: ctx.options.retryClock },
    );
    rows.push(...page.rows);
    if (!page.has_more) break;
    afterRowOrdinal = page.next_row_ordinal;
  }
  if (rows.length !== committed.row_count) {
    throw new ProtocolViolationError(
      "invalid_response",
      `fetched committed bundle row count ${rows.length} does not match expected row_count ${committed.row_count}`,
    );
  }
  const computed = bundleHash(rows);
  if (computed !== committed.bundle_hash) {
    throw new ProtocolViolationError(
      "invalid_response",
      `fetched committed bundle hash ${computed} does not match expected ${committed.bundle_hash}`,
    );
  }
  return rows;
}
