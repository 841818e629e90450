/**
 * Replaying our own committed bundle locally, in one authoritative transaction. The network round
 * trip ran outside any transaction, so the app may have changed a pushed row meanwhile; each
 * uploaded row is rebased:
 *
 * | pushed | local now                                   | result                                       |
 * |--------|---------------------------------------------|----------------------------------------------|
 * | DELETE | row exists again                            | keep it; re-queue INSERT on the new version  |
 * | DELETE | row absent                                  | accept the committed delete                  |
 * | upsert | row absent                                  | re-queue DELETE on the new version           |
 * | upsert | a different pending change, or other values | keep it; re-queue UPDATE of the live row     |
 * | upsert | unchanged                                   | accept the committed row, drop the dirty row |
 *
 * "Re-queue" records the committed version in the row state and bases the local intent on it.
 * Then the source's bundle sequence moves past this bundle, the checkpoint advances only when the
 * bundle is the next contiguous one, and the outbox is cleared.
 */
import type { CommittedBundleIdentity, RowOp } from "@oversync/protocol";
import type { ApplyState } from "../store/app-rows.js";
import type { OutboxRow } from "../store/runtime-state.js";
import type { AuthoritativeRow } from "./authoritative-rows.js";
import { type EngineContext, applyAuthoritatively } from "./engine-context.js";
import { type Outbox, clearOutbox } from "./push-freeze.js";
import { forgetCommittedRejections } from "./rejected-changes.js";

type ReplayPlan =
  | { readonly kind: "accept" }
  | { readonly kind: "preserve"; readonly op: RowOp; readonly payload: string | null };

/** Applies the verified committed `rows` of `outbox` and clears the outbox. */
export async function replayCommittedBundle(
  ctx: EngineContext,
  outbox: Outbox,
  committed: CommittedBundleIdentity,
  rows: readonly AuthoritativeRow[],
): Promise<void> {
  await applyAuthoritatively(ctx, async (state) => {
    const plans = new Map<string, ReplayPlan>();
    for (const uploaded of outbox.rows) {
      plans.set(rowId(uploaded.tableName, uploaded.keyJson), await planReplay(state, uploaded));
    }
    for (const row of rows) {
      const plan = plans.get(rowId(row.tableName, row.keyJson));
      if (plan?.kind === "preserve") {
        await state.putRowState(row.tableName, row.keyJson, {
          rowVersion: row.rowVersion,
          deleted: row.op === "DELETE",
        });
        await state.putDirtyRow({
          tableName: row.tableName,
          keyJson: row.keyJson,
          op: plan.op,
          baseRowVersion: row.rowVersion,
          payload: plan.payload,
        });
        continue;
      }
      await state.applyRemoteRow(row);
      // A committed row the client did not upload (a server cascade) leaves local intent alone.
      if (plan !== undefined) await state.deleteDirtyRow(row.tableName, row.keyJson);
    }
    await finishCommittedBundle(state, outbox, BigInt(committed.bundle_seq));
    await forgetCommittedRejections(state, outbox.rows);
  });
}

/**
 * Replays a committed bundle proven to hold exactly the uploaded rows (outboxBundleHash equals its
 * bundle_hash). A key with no dirty row has not been written since the freeze (every app write is
 * captured as one), so its local row already holds the committed values: only its row state moves
 * to the bundle, for all such keys in one statement. Keys the app wrote meanwhile are rebased as in
 * replayCommittedBundle.
 */
export async function replayUploadedBundle(
  ctx: EngineContext,
  outbox: Outbox,
  committed: CommittedBundleIdentity,
): Promise<void> {
  const bundleSeq = BigInt(committed.bundle_seq);
  await applyAuthoritatively(ctx, async (state) => {
    const written = new Set(
      (await state.listDirtyRows()).map((dirty) => rowId(dirty.tableName, dirty.keyJson)),
    );
    await state.putOutboxRowStates(bundleSeq);
    for (const uploaded of outbox.rows) {
      ctx.changes.recordSyncWrite(uploaded.tableName);
      if (!written.has(rowId(uploaded.tableName, uploaded.keyJson))) continue;
      const plan = await planReplay(state, uploaded);
      if (plan.kind === "preserve") {
        await state.putDirtyRow({
          tableName: uploaded.tableName,
          keyJson: uploaded.keyJson,
          op: plan.op,
          baseRowVersion: bundleSeq,
          payload: plan.payload,
        });
      } else {
        // The live row holds the uploaded values again: the committed row, already in place.
        await state.deleteDirtyRow(uploaded.tableName, uploaded.keyJson);
      }
    }
    await finishCommittedBundle(state, outbox, bundleSeq);
    await forgetCommittedRejections(state, outbox.rows);
  });
}

/** Advances the source sequence and (if contiguous) the checkpoint, clears lease and outbox. */
async function finishCommittedBundle(state: ApplyState, outbox: Outbox, bundleSeq: bigint): Promise<void> {
  const { bundle } = outbox;
  await state.raiseNextSourceBundleId(bundle.sourceId, bundle.sourceBundleId + 1n);
  const attachment = await state.readAttachment();
  await state.writeAttachment({
    ...attachment,
    // A gap means bundles of other sources are still unseen; a later pull fetches them.
    lastBundleSeqSeen:
      bundleSeq === attachment.lastBundleSeqSeen + 1n ? bundleSeq : attachment.lastBundleSeqSeen,
    pendingInitializationId: "",
  });
  await clearOutbox(state);
}

async function planReplay(state: ApplyState, uploaded: OutboxRow): Promise<ReplayPlan> {
  const live = await state.readLocalPayload(uploaded.tableName, uploaded.keyJson);
  if (uploaded.op === "DELETE") {
    return live === undefined ? { kind: "accept" } : { kind: "preserve", op: "INSERT", payload: live };
  }
  if (live === undefined) return { kind: "preserve", op: "DELETE", payload: null };
  const pending = await state.readDirtyRow(uploaded.tableName, uploaded.keyJson);
  const pendingDiffers =
    pending !== undefined && (pending.op !== uploaded.op || pending.payload !== uploaded.localPayload);
  if (pendingDiffers || !sameUploadedValues(uploaded.localPayload!, live)) {
    return { kind: "preserve", op: "UPDATE", payload: live };
  }
  return { kind: "accept" };
}

/**
 * True when the live row still holds the uploaded values. Payload texts compare exactly (the
 * triggers and readLocalPayload serialize a row identically); only a change captured before a
 * column was added locally lacks members, and then the columns it carries are compared.
 */
function sameUploadedValues(uploaded: string, live: string): boolean {
  if (uploaded === live) return true;
  const sent = JSON.parse(uploaded) as Record<string, unknown>;
  const now = JSON.parse(live) as Record<string, unknown>;
  const names = Object.keys(sent);
  return names.length < Object.keys(now).length && names.every((name) => sent[name] === now[name]);
}

function rowId(tableName: string, keyJson: string): string {
  return `${tableName}\u0000${keyJson}`;
}
