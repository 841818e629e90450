/**
 * What every engine step works with: the open store, the transport, the resolved options, and the
 * in-memory session (current source, whether `attach` ran in this process). The public client owns
 * one context and hands it to the step functions of the other engine modules.
 */
import type { CapabilitiesResponse } from "@oversync/protocol";
import type { SyncStore } from "../store/sync-store.js";
import type { ApplyState } from "../store/app-rows.js";
import type { BackoffPolicy, RetryClock } from "../transport/retry-policy.js";
import type { SyncTransport } from "../transport/sync-transport.js";
import { OversyncClientError } from "../errors.js";
import type { ConflictEvents } from "./conflict-events.js";
import type { ConflictResolver } from "./conflict-resolvers.js";
import type { ProgressReporter } from "./progress.js";
import type { RejectionEvents } from "./rejected-changes.js";
import type { TableChangeTracker } from "./table-changes.js";

/** Tunables of the engine, resolved from the client options. */
export interface EngineOptions {
  /** Rows per push chunk; undefined: the server's default. */
  readonly uploadLimit: number | undefined;
  /** Bundles per pull page and rows per committed-rows page. */
  readonly downloadLimit: number;
  /** Rows asked per snapshot chunk (before the server's maximum). */
  readonly snapshotChunkRows: number;
  /** Bytes asked per snapshot chunk (before the server's maximum). */
  readonly snapshotChunkBytes: number;
  /** Staged snapshot rows applied per page of the final apply. */
  readonly snapshotApplyBatchRows: number;
  /** Retries of whole push/pull/sync/rebuild operations after a 5xx, I/O error or timeout. */
  readonly transientRetryPolicy: BackoffPolicy;
  readonly retryClock: RetryClock | undefined;
  readonly resolver: ConflictResolver;
  /** Makes fresh source ids (visible ASCII). */
  readonly generateSourceId: () => string;
}

/** The engine's view of one client. */
export interface EngineContext {
  readonly transport: SyncTransport;
  readonly options: EngineOptions;
  readonly changes: TableChangeTracker;
  readonly progress: ProgressReporter;
  readonly rejections: RejectionEvents;
  readonly conflicts: ConflictEvents;
  /** Set by `open()`. */
  store: SyncStore | undefined;
  /** The source id requests carry; switches only after a rotation commits. */
  sourceId: string;
  /** True once `attach` succeeded in this process (or resumed the attached user). */
  connected: boolean;
  /** The latest capabilities that passed the table-contract check, and when (Date.now()). */
  capabilities: { readonly value: CapabilitiesResponse; readonly checkedAt: number } | undefined;
  /**
   * Set while an operation of automatic sync runs; `stop()` aborts it. The operation then ends at
   * its next boundary (a pull page or bundle, a push chunk, a snapshot chunk; each leaves state a
   * later operation resumes), and read-only requests in flight are cancelled, so stopping never
   * waits for a long pull or restore to finish.
   */
  stopSignal: AbortSignal | undefined;
}

/** The open store, or `open_required`. */
export function openStore(ctx: EngineContext, operation: string): SyncStore {
  if (ctx.store === undefined) {
    throw new OversyncClientError("open_required", `${operation} needs open() to have completed first`);
  }
  return ctx.store;
}

/**
 * Runs `work` as one authoritative apply transaction (apply mode on, foreign keys deferred) and,
 * once it has committed, reports the application tables it changed as a `sync` change.
 */
export async function applyAuthoritatively<T>(
  ctx: EngineContext,
  work: (state: ApplyState) => Promise<T>,
): Promise<T> {
  const store = openStore(ctx, "authoritative apply");
  let result: T;
  try {
    result = await store.apply(async (state) => ctx.changes.duringSyncWrite(() => work(state)));
  } catch (error) {
    ctx.changes.discardSyncWrites();
    throw error;
  }
  ctx.changes.publishSyncWrites();
  return result;
}

/** Ends the running operation here when automatic sync was stopped (see `stopSignal`). */
export function stopPoint(ctx: EngineContext): void {
  const signal = ctx.stopSignal;
  if (signal?.aborted) throw signal.reason ?? new Error("automatic sync stopped");
}

/** Call options that cancel a read-only request when automatic sync stops. */
export function stoppable(ctx: EngineContext): { readonly signal?: AbortSignal } {
  return ctx.stopSignal === undefined ? {} : { signal: ctx.stopSignal };
}

/** A bigint from local state as an envelope integer for the wire; refuses values beyond 2^53 − 1. */
export function toWireInt(value: bigint, name: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new OversyncClientError(
      "store_invalid",
      `${name} ${value} cannot be sent on the wire (it must be between 0 and 2^53 − 1); the local sync state is damaged`,
    );
  }
  return Number(value);
}
