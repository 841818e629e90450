/**
 * Freezing: moving the coalesced dirty rows into the durable outbox as one logical push bundle, in
 * one transaction. An unfinished outbox (prepared or committed_remote) is always resumed instead,
 * so a crash at any later step replays the same bundle.
 *
 * At freeze time the op is recomputed from the payload and the known row state (the trigger's op is
 * advisory), an insert that was deleted again before it was ever pushed is dropped, upserts go
 * parents first and deletes children first, and `canonical_request_hash` is computed over the wire
 * rows exactly as they will be uploaded.
 */
import {
  type CanonicalRowTexts,
  type RowOp,
  bundleHashJsonOfTexts,
  canonicalJson,
  canonicalRequestJsonOfTexts,
  sha256Hex,
} from "@oversync/protocol";
import { wireKeyOfLocalKeyJson, wirePayloadOfLocalPayload } from "../store/payload-codec.js";
import {
  type DirtyRow,
  EMPTY_OUTBOX_BUNDLE,
  type OutboxBundle,
  type OutboxRow,
  type RuntimeState,
  rowStateKey,
  storeError,
} from "../store/runtime-state.js";

/** The outbox bundle and its rows in upload order. */
export interface Outbox {
  readonly bundle: OutboxBundle;
  readonly rows: readonly OutboxRow[];
}

/**
 * Resumes the persisted outbox, or freezes the dirty rows into a new `prepared` one under the
 * source's next bundle id: all of them, or only the first `maxRows` in upload order (the rest stay
 * queued). An empty result means there was nothing to push.
 */
export async function resumeOrFreezeOutbox(
  state: RuntimeState,
  sourceId: string,
  initializationId: string,
  maxRows?: number,
): Promise<Outbox> {
  const bundle = await state.readOutboxBundle();
  if (bundle.state !== "none") return checkedOutbox(state, bundle, sourceId);

  const source = await state.readSource(sourceId);
  if (source === undefined) throw storeError(`source ${sourceId} has no _sync_source_state row`);
  const sourceBundleId = source.nextSourceBundleId;
  const upserts: { dirty: DirtyRow; op: RowOp }[] = [];
  const deletes: DirtyRow[] = [];
  const dropped: DirtyRow[] = [];
  const known = await state.readDirtyRowStates();
  for (const dirty of await state.listDirtyRows()) {
    const rowState = known.get(rowStateKey(dirty.tableName, dirty.keyJson));
    const liveOnServer = rowState !== undefined && !rowState.deleted;
    if (dirty.payload === null) {
      // Deleting a row the server never had live is a no-op: it is dropped, not pushed.
      if (liveOnServer) deletes.push(dirty);
      else dropped.push(dirty);
    } else {
      upserts.push({ dirty, op: liveOnServer ? "UPDATE" : "INSERT" });
    }
  }
  const rank = (row: DirtyRow) => state.schema.table(row.tableName).dependencyRank;
  const byOrdinal = (a: DirtyRow, b: DirtyRow) => (a.dirtyOrdinal < b.dirtyOrdinal ? -1 : 1);
  upserts.sort((a, b) => rank(a.dirty) - rank(b.dirty) || byOrdinal(a.dirty, b.dirty));
  deletes.sort((a, b) => rank(b) - rank(a) || byOrdinal(a, b));
  const all = [...upserts, ...deletes.map((dirty) => ({ dirty, op: "DELETE" as const }))];
  // Parents come first, so a prefix of the upload order is a bundle the server can apply alone.
  const ordered = maxRows === undefined ? all : all.slice(0, maxRows);
  // Every frozen or dropped dirty row leaves the queue in this one write transaction, so no app
  // write can slip in between.
  if (ordered.length === all.length) await state.deleteListedDirtyRows();
  else {
    for (const { dirty } of ordered) await state.deleteDirtyRow(dirty.tableName, dirty.keyJson);
    for (const dirty of dropped) await state.deleteDirtyRow(dirty.tableName, dirty.keyJson);
  }
  if (ordered.length === 0) return { bundle: EMPTY_OUTBOX_BUNDLE, rows: [] };

  const rows: OutboxRow[] = ordered.map(({ dirty, op }, index) => {
    const table = state.schema.table(dirty.tableName);
    const payload = op === "DELETE" ? null : dirty.payload;
    return {
      sourceBundleId,
      rowOrdinal: BigInt(index),
      tableName: table.name,
      keyJson: dirty.keyJson,
      wireKeyJson: canonicalJson(wireKeyOfLocalKeyJson(table, dirty.keyJson)),
      op,
      baseRowVersion: dirty.baseRowVersion,
      localPayload: payload,
      wirePayload: payload === null ? null : canonicalJson(wirePayloadOfLocalPayload(table, payload)),
    };
  });
  const frozen: OutboxBundle = {
    state: "prepared",
    sourceId,
    sourceBundleId,
    initializationId,
    canonicalRequestHash: outboxRequestHash(state.schema.schema, rows),
    rowCount: BigInt(rows.length),
    remoteBundleHash: "",
    remoteBundleSeq: 0n,
  };
  await state.clearOutboxRows();
  await state.writeOutboxBundle(frozen);
  await state.insertOutboxRows(rows);
  return { bundle: frozen, rows };
}

/**
 * Puts outbox rows back into the dirty rows with their original intent, except `skip` and keys the
 * app changed again after the freeze (their newer dirty row already describes the live row), and
 * empties the outbox.
 */
export async function returnOutboxToQueue(
  state: RuntimeState,
  rows: readonly OutboxRow[],
  skip?: OutboxRow,
): Promise<void> {
  for (const row of rows) {
    if (row === skip || (await state.readDirtyRow(row.tableName, row.keyJson)) !== undefined) continue;
    await state.putDirtyRow({
      tableName: row.tableName,
      keyJson: row.keyJson,
      op: row.op,
      baseRowVersion: row.baseRowVersion,
      payload: row.localPayload,
    });
  }
  await clearOutbox(state);
}

/** Removes the outbox bundle and rows. */
export async function clearOutbox(state: RuntimeState): Promise<void> {
  await state.clearOutboxRows();
  await state.writeOutboxBundle(EMPTY_OUTBOX_BUNDLE);
}

/** `canonical_request_hash` of outbox rows, as the push-session create request carries it. */
export function outboxRequestHash(schema: string, rows: readonly OutboxRow[]): string {
  return sha256Hex(
    canonicalRequestJsonOfTexts(
      rows.map((row) => ({ ...outboxRowTexts(schema, row), base_row_version: row.baseRowVersion })),
    ),
  );
}

/**
 * The `bundle_hash` the server gives this outbox when it commits the rows exactly as uploaded, in
 * upload order, as bundle `bundleSeq`. Equal to the committed bundle's hash, it proves every
 * committed row is the uploaded one (no value normalised, no row added by a server trigger).
 */
export function outboxBundleHash(schema: string, rows: readonly OutboxRow[], bundleSeq: bigint): string {
  return sha256Hex(
    bundleHashJsonOfTexts(rows.map((row) => ({ ...outboxRowTexts(schema, row), row_version: bundleSeq }))),
  );
}

function outboxRowTexts(schema: string, row: OutboxRow): CanonicalRowTexts {
  // The outbox stores the wire key and payload as canonical JSON already.
  return { schema, table: row.tableName, op: row.op, keyJson: row.wireKeyJson, payloadJson: row.wirePayload };
}

/** The persisted outbox, checked for consistency with its bundle row and the current source. */
async function checkedOutbox(state: RuntimeState, bundle: OutboxBundle, sourceId: string): Promise<Outbox> {
  if (bundle.sourceId !== sourceId) {
    throw storeError(`the frozen outbox belongs to source ${bundle.sourceId}, not the current ${sourceId}`);
  }
  const rows = await state.listOutboxRows();
  if (rows.length === 0 || BigInt(rows.length) !== bundle.rowCount) {
    throw storeError(`the ${bundle.state} outbox declares ${bundle.rowCount} rows but holds ${rows.length}`);
  }
  if (rows.some((row) => row.sourceBundleId !== bundle.sourceBundleId)) {
    throw storeError("outbox rows do not all belong to the outbox bundle's source_bundle_id");
  }
  if (
    bundle.state === "committed_remote" &&
    (bundle.remoteBundleSeq <= 0n || bundle.remoteBundleHash === "")
  ) {
    throw storeError("the committed_remote outbox lacks its remote bundle seq or hash");
  }
  if (outboxRequestHash(state.schema.schema, rows) !== bundle.canonicalRequestHash) {
    throw storeError("the outbox rows no longer match their canonical_request_hash");
  }
  return { bundle, rows };
}
