/**
 * Binding a database to a user and releasing it: attach (connect resolutions, remote replacement),
 * detach (blocked while attached changes are unsynced; otherwise wipes the managed tables and
 * rotates to a fresh source), sync rounds, syncThenDetach and uninstall.
 */
import { userIdProblem } from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import { NO_OPERATION } from "../store/runtime-state.js";
import { RUNTIME_TABLE_NAMES } from "../store/runtime-schema.js";
import { quoteIdent } from "../store/sql-text.js";
import { fetchAttachCapabilities } from "./capability-gate.js";
import { type EngineContext, applyAuthoritatively, openStore } from "./engine-context.js";
import { pullToStable } from "./pull.js";
import { pushPending } from "./push.js";
import { checkpointRecoveryRequired, finishRemoteReplace, recoverCheckpoint } from "./rebuild.js";
import type {
  AttachResult,
  DetachResult,
  RestoreSummary,
  SyncReport,
  SyncThenDetachResult,
} from "./results.js";
import { pendingRowCount, pendingSyncStatus, requireNoSourceRecovery, syncStatus } from "./session-gates.js";
import { clearOutbox } from "./push-freeze.js";
import { clearManagedTables } from "./snapshot.js";
import { freshSourceId } from "./source-recovery.js";
import { PendingPushReplayError } from "./sync-errors.js";

/** Rounds `syncThenDetach` runs before giving up. */
export const MAX_SYNC_THEN_DETACH_ROUNDS = 3;

/** Attaches `userId`; see `SyncClient.attach`. */
export async function attach(ctx: EngineContext, userId: string): Promise<AttachResult> {
  const requested = userId.trim();
  if (requested === "")
    throw new OversyncClientError("invalid_argument", "attach(userId) needs a non-blank user id");
  // The server's rules (protocol identity.ts): an id it would refuse or rewrite must not bind the database.
  const problem = userIdProblem(requested);
  if (problem !== undefined) {
    throw new OversyncClientError("invalid_argument", `attach(userId): the user id ${problem}`);
  }
  const store = openStore(ctx, "attach(userId)");
  ctx.progress.phase("attaching");
  const { attachment, operation, queuedBefore } = await store.read(async (state) => ({
    attachment: await state.readAttachment(),
    operation: await state.readOperation(),
    queuedBefore: await state.lastDirtyOrdinal(),
  }));
  ctx.sourceId = attachment.currentSourceId;
  if (operation.kind === "remote_replace" && operation.targetUserId !== requested) {
    throw new OversyncClientError(
      "attach_local_state_conflict",
      `a remote replacement for user ${operation.targetUserId} is pending; detach() to cancel it before attaching ${requested}`,
    );
  }
  const attached = attachment.bindingState === "attached" && attachment.attachedUserId !== "";
  if (attached && attachment.attachedUserId === requested && operation.kind !== "remote_replace") {
    ctx.connected = true;
    return connected("resumed_attached_state");
  }
  if (attached) {
    throw new OversyncClientError(
      "attach_binding_conflict",
      `the database is attached to user ${attachment.attachedUserId}; detach() before attaching ${requested}`,
    );
  }

  await fetchAttachCapabilities(ctx);
  if (operation.kind === "remote_replace") {
    const restore = await finishRemoteReplace(ctx, requested);
    ctx.connected = true;
    return connected("used_remote_state", restore);
  }
  const response = await ctx.transport.connect({
    hasLocalPendingRows: (await store.read(pendingRowCount)) > 0n,
  });
  switch (response.resolution) {
    case "retry_later":
      return { status: "retry_later", retryAfterSeconds: response.retry_after_seconds ?? 0 };
    case "initialize_empty":
    case "initialize_local": {
      const initializationId =
        response.resolution === "initialize_local" ? (response.initialization_id ?? "") : "";
      await store.write(async (state) => {
        const current = await state.readAttachment();
        await state.writeAttachment({
          ...current,
          bindingState: "attached",
          attachedUserId: requested,
          schemaName: store.schema.schema,
          pendingInitializationId: initializationId,
        });
        await state.writeOperation(NO_OPERATION);
      });
      ctx.connected = true;
      return connected(response.resolution === "initialize_local" ? "seeded_from_local" : "started_empty");
    }
    case "remote_authoritative": {
      // The account already has data: rows written anonymously before attach() give way to it;
      // writes made while attach() waited for the server are kept over the account's rows. Durable
      // first, so a restart finishes the replacement; the guard triggers block app writes meanwhile.
      await store.write(async (state) => {
        const outboxRows = await state.countOutboxRows();
        if (outboxRows > 0n) throw new PendingPushReplayError("attach(userId)", outboxRows);
        await state.writeOperation({ ...NO_OPERATION, kind: "remote_replace", targetUserId: requested });
        await state.deleteDirtyRowsThrough(queuedBefore);
      });
      const restore = await finishRemoteReplace(ctx, requested);
      ctx.connected = true;
      return connected("used_remote_state", restore);
    }
  }

  async function connected(
    outcome: "resumed_attached_state" | "used_remote_state" | "seeded_from_local" | "started_empty",
    restore?: RestoreSummary,
  ): Promise<AttachResult> {
    const status = await store.read(syncStatus);
    return {
      status: "connected",
      outcome,
      syncStatus: status,
      ...(restore === undefined ? {} : { restore }),
    };
  }
}

/** Detaches; see `SyncClient.detach`. */
export async function detach(ctx: EngineContext): Promise<DetachResult> {
  const store = openStore(ctx, "detach()");
  const operation = await store.read((state) => state.readOperation());
  if (operation.kind === "remote_replace") {
    // Nothing was applied yet: cancelling only forgets the staged snapshot, on the same source.
    await store.write(async (state) => {
      await state.clearSnapshotStage();
      const attachment = await state.readAttachment();
      await state.writeAttachment(anonymousAttachment(attachment.currentSourceId));
      await state.writeOperation(NO_OPERATION);
    });
    ctx.connected = false;
    return { outcome: "detached", pendingRowCount: 0 };
  }
  const result = await applyAuthoritatively(
    ctx,
    async (state): Promise<DetachResult & { source?: string }> => {
      const pending = await pendingSyncStatus(state);
      if (pending.blocksDetach)
        return {
          outcome: "blocked_unsynced_data",
          pendingRowCount: pending.pendingRowCount + pending.rejectedRowCount,
        };
      const previous = (await state.readAttachment()).currentSourceId;
      const source = await freshSourceId(ctx, state, previous);
      await clearManagedTables(state);
      await state.clearDirtyRows();
      await clearOutbox(state);
      await state.clearSnapshotStage();
      await state.ensureSource(source);
      await state.markSourceReplaced(previous, source);
      await state.writeAttachment(anonymousAttachment(source));
      await state.writeOperation(NO_OPERATION);
      return { outcome: "detached", pendingRowCount: 0, source };
    },
  );
  if (result.source !== undefined) {
    ctx.sourceId = result.source;
    ctx.connected = false;
  }
  return { outcome: result.outcome, pendingRowCount: result.pendingRowCount };
}

/** One sync round: push then pull, or checkpoint recovery while the rebuild gate is set. */
export async function syncRound(ctx: EngineContext): Promise<SyncReport> {
  const { result, conflicts } = await ctx.conflicts.collect(() => pushThenPull(ctx));
  return { ...result, conflicts };
}

async function pushThenPull(ctx: EngineContext): Promise<Omit<SyncReport, "conflicts">> {
  if (await checkpointRecoveryRequired(ctx)) {
    const remote = await recoverCheckpoint(ctx);
    return withRestore(
      { pushOutcome: "no_change", remoteOutcome: remote.outcome, syncStatus: remote.syncStatus },
      remote.restore,
    );
  }
  requireNoSourceRecovery(await openStore(ctx, "sync()").read((state) => state.readOperation()));
  const pushOutcome = await pushPending(ctx);
  const remote = await pullToStable(ctx);
  return withRestore(
    { pushOutcome, remoteOutcome: remote.outcome, syncStatus: remote.syncStatus },
    remote.restore,
  );
}

/**
 * Sync rounds followed by a detach, at most MAX_SYNC_THEN_DETACH_ROUNDS times; stops early when
 * detached, or when a round did not reduce the pending rows (writes keep arriving).
 */
export async function syncThenDetach(ctx: EngineContext): Promise<SyncThenDetachResult> {
  let previousPending: number | undefined;
  let lastSync: SyncReport | undefined;
  for (let round = 1; round <= MAX_SYNC_THEN_DETACH_ROUNDS; round++) {
    lastSync = await syncRound(ctx);
    const detached = await detach(ctx);
    if (detached.outcome === "detached") {
      return {
        lastSync,
        detach: "detached",
        syncRounds: round,
        remainingPendingRowCount: 0,
        isSuccess: true,
      };
    }
    const pending = detached.pendingRowCount;
    if (
      (previousPending !== undefined && pending >= previousPending) ||
      round === MAX_SYNC_THEN_DETACH_ROUNDS
    ) {
      return {
        lastSync,
        detach: "blocked_unsynced_data",
        syncRounds: round,
        remainingPendingRowCount: pending,
        isSuccess: false,
      };
    }
    previousPending = pending;
  }
  throw new Error("unreachable: the last round always returns");
}

/**
 * Removes sync from the database in one transaction: the capture triggers of every table ever
 * managed and every `_sync_*` runtime table. Application tables and their rows stay.
 */
export async function uninstallSync(ctx: EngineContext): Promise<void> {
  const store = openStore(ctx, "uninstallSync()");
  await store.driver.transaction(async (tx) => {
    const registered = await tx.query<{ table_name: string }>("SELECT table_name FROM _sync_managed_tables");
    const tables = new Set([
      ...store.schema.tables.map((table) => table.name),
      ...registered.map((row) => row.table_name),
    ]);
    for (const table of tables) {
      for (const suffix of ["bi_guard", "bu_guard", "bd_guard", "ai", "au", "ad"]) {
        await tx.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(`trg_${table}_${suffix}`)}`);
      }
    }
    for (const table of RUNTIME_TABLE_NAMES) await tx.exec(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
  });
}

function anonymousAttachment(sourceId: string) {
  return {
    currentSourceId: sourceId,
    bindingState: "anonymous" as const,
    attachedUserId: "",
    schemaName: "",
    lastBundleSeqSeen: 0n,
    rebuildRequired: false,
    pendingInitializationId: "",
  };
}

function withRestore(
  report: Omit<SyncReport, "restore" | "conflicts">,
  restore: SyncReport["restore"],
): Omit<SyncReport, "conflicts"> {
  return restore === undefined ? report : { ...report, restore };
}
