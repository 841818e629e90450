/**
 * Source recovery: the server proved this source's bundle stream cannot continue (its sequence was
 * pruned, skipped or changed, or the source was retired). The client durably reserves a
 * replacement source, blocks app writes (the guard triggers react to the operation kind) and waits
 * for `rebuild()`, which rotates to the replacement and re-applies the frozen outbox on it.
 */
import { OversyncError } from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import { NO_OPERATION, type RuntimeState, isValidSourceId, storeError } from "../store/runtime-state.js";
import { type EngineContext, openStore } from "./engine-context.js";
import type { SourceRecoveryReason } from "./results.js";
import { SourceRecoveryRequiredError, SourceReplacementDivergedError } from "./sync-errors.js";
import { type WireRequest, wireReaction } from "./wire-reactions.js";

/** A server answer that demands source recovery, with the successor it named (if any). */
export interface SourceRecoveryDemand {
  readonly reason: SourceRecoveryReason;
  readonly replacedBySourceId: string | undefined;
}

/** The demand carried by `error`, an answer to `request`, when its reaction is `recover_source`. */
export function sourceRecoveryDemandOf(
  error: unknown,
  request: Extract<WireRequest, "push" | "snapshot">,
): SourceRecoveryDemand | undefined {
  if (!(error instanceof OversyncError) || wireReaction(error.code, request) !== "recover_source") {
    return undefined;
  }
  // Only the four source-recovery reasons answer recover_source (wire-reactions.test.ts).
  return {
    reason: error.code as SourceRecoveryReason,
    replacedBySourceId: error.extras.replaced_by_source_id,
  };
}

/**
 * Persists source recovery for `demand` in one transaction (rebuild required, operation
 * `source_recovery`, a reserved fresh replacement source) and throws `source_recovery_required`.
 * A server-named successor that differs from an already reserved one throws
 * `source_replacement_diverged` and changes nothing.
 */
export async function enterSourceRecovery(ctx: EngineContext, demand: SourceRecoveryDemand): Promise<never> {
  await openStore(ctx, "source recovery").write(async (state) => {
    const attachment = await state.readAttachment();
    await state.writeAttachment({ ...attachment, rebuildRequired: true });
    const replacement = await reserveReplacementSource(
      ctx,
      state,
      attachment.currentSourceId,
      demand.replacedBySourceId,
    );
    await state.writeOperation({
      ...NO_OPERATION,
      kind: "source_recovery",
      reason: demand.reason,
      replacementSourceId: replacement,
    });
  });
  throw new SourceRecoveryRequiredError(demand.reason);
}

async function reserveReplacementSource(
  ctx: EngineContext,
  state: RuntimeState,
  currentSourceId: string,
  preferred: string | undefined,
): Promise<string> {
  const existing = (await state.readOperation()).replacementSourceId;
  if (existing !== "" && !isValidSourceId(existing)) {
    throw storeError(`reserved replacement source ${JSON.stringify(existing)} is not a valid source id`);
  }
  if (existing !== "" && preferred !== undefined && existing !== preferred) {
    throw new SourceReplacementDivergedError(existing, preferred);
  }
  const reserved = existing || preferred || (await freshSourceId(ctx, state, currentSourceId));
  if (reserved === currentSourceId) {
    throw storeError("the replacement source must differ from the current source");
  }
  await state.ensureSource(reserved);
  await requireFreshSource(state, reserved);
  return reserved;
}

/** A source id this runtime has never used. */
export async function freshSourceId(
  ctx: EngineContext,
  state: RuntimeState,
  currentSourceId: string,
): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = ctx.options.generateSourceId();
    if (!isValidSourceId(candidate)) {
      throw new OversyncClientError(
        "invalid_argument",
        `generated source id ${JSON.stringify(candidate)} is not one or more visible ASCII characters`,
      );
    }
    if (candidate !== currentSourceId && (await state.readSource(candidate)) === undefined) return candidate;
  }
  throw storeError("no unused source id after 100 attempts; check the source id generator");
}

/** Requires the replacement source to be unused: bundle sequence at 1 and not itself replaced. */
export async function requireFreshSource(state: RuntimeState, sourceId: string): Promise<void> {
  const source = await state.readSource(sourceId);
  if (source === undefined || source.nextSourceBundleId !== 1n || source.replacedBySourceId !== "") {
    throw storeError(
      `replacement source ${JSON.stringify(sourceId)} is not fresh (it has already been used or replaced); a rotation needs an unused source`,
    );
  }
}
