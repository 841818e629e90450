/**
 * The public client: one per local database. It owns the engine context and runs each public
 * operation exclusively (a concurrent call fails at once with `sync_operation_in_progress`).
 *
 *   const client = createSyncClient({ driver, config, baseUrl, tokenProvider });
 *   await client.open();                       // local only: tables, triggers, source id
 *   await client.attach(userId);               // binds the account (may restore a snapshot)
 *   await client.sync();                       // push pending changes, then pull
 *   client.onTablesChanged(({ tables, origin }) => …);
 *
 * Push, pull, sync, rebuild and syncThenDetach check the server's capabilities and table contract
 * first and are retried as a whole after a 5xx, I/O error or timeout (every step is resumable).
 */
import { supportsBundleChangeWatch } from "@oversync/protocol";
import type { SyncConfig } from "./config/sync-config.js";
import type { SqliteDriver } from "./drivers/sqlite-driver.js";
import { OversyncClientError, isClientError } from "./errors.js";
import {
  type AutomaticDownloadOptions,
  type AutomaticDownloadsHandle,
  startAutomaticDownloads,
} from "./engine/automatic-downloads.js";
import { checkedCapabilities, fetchCheckedCapabilities } from "./engine/capability-gate.js";
import { type ConflictResolver, serverWins } from "./engine/conflict-resolvers.js";
import { claimDatabase, databaseIdentity, releaseDatabase } from "./engine/database-ownership.js";
import { type EngineContext, type EngineOptions, openStore, toWireInt } from "./engine/engine-context.js";
import * as lifecycle from "./engine/lifecycle.js";
import {
  type ProgressListener,
  ProgressReporter,
  type SyncOperationName,
  type SyncProgress,
} from "./engine/progress.js";
import { pullToStable } from "./engine/pull.js";
import { pushPending } from "./engine/push.js";
import { rebuildKeepSource, rebuildRotatingSource } from "./engine/rebuild.js";
import {
  type ChangeRejectedListener,
  type RejectedChange,
  RejectionEvents,
  discardRejectedChange,
  listRejectedChanges,
  retryRejectedChange,
} from "./engine/rejected-changes.js";
import type {
  AttachResult,
  DetachResult,
  PendingSyncStatus,
  PushReport,
  RemoteSyncReport,
  SourceInfo,
  SyncReport,
  SyncStatus,
  SyncThenDetachResult,
} from "./engine/results.js";
import * as gates from "./engine/session-gates.js";
import { SourceRecoveryRequiredError } from "./engine/sync-errors.js";
import { TableChangeTracker, type TablesChangedListener } from "./engine/table-changes.js";
import type { KeyValue } from "./store/payload-codec.js";
import { openSyncStore } from "./store/sync-store.js";
import {
  type BackoffPolicy,
  type RetryClock,
  TRANSIENT_RETRY_POLICY,
  withTransientRetry,
} from "./transport/retry-policy.js";
import {
  type TransportBodyLimits,
  type TransportTimeouts,
  createSyncTransport,
} from "./transport/sync-transport.js";

/** Everything a client needs. */
export interface SyncClientOptions {
  /** The local database; the client never closes it. */
  readonly driver: SqliteDriver;
  /** The logical schema and the tables to sync. */
  readonly config: SyncConfig;
  /** The sync server, e.g. `https://api.example.com/` (a path is kept). */
  readonly baseUrl: string | URL;
  /** The bearer token for each request; called per request, so it may refresh. */
  readonly tokenProvider: () => string | Promise<string>;
  /** A fetch implementation; defaults to the global one. */
  readonly fetch?: typeof globalThis.fetch;
  readonly timeouts?: Partial<TransportTimeouts>;
  readonly bodyLimits?: Partial<TransportBodyLimits>;
  /** Settles push conflicts; default `serverWins`. */
  readonly resolver?: ConflictResolver;
  /**
   * Rows per push chunk; default: the server's advertised `default_rows_per_push_chunk`. Always
   * capped by the server's `max_rows_per_push_chunk`, and a chunk also ends before 4 MiB of row
   * payloads.
   */
  readonly uploadLimit?: number;
  /** Bundles per pull page and rows per committed-rows page; default 1000. */
  readonly downloadLimit?: number;
  /** Rows asked per snapshot chunk (capped by the server); default 1000. */
  readonly snapshotChunkRows?: number;
  /** Bytes asked per snapshot chunk (capped by the server); default 4 MiB. */
  readonly snapshotChunkBytes?: number;
  /** Staged snapshot rows applied per page; default 256. */
  readonly snapshotApplyBatchRows?: number;
  /** Whole-operation retry after 5xx, I/O errors and timeouts; default 3 attempts, 150 ms doubling to 1500 ms. */
  readonly transientRetryPolicy?: BackoffPolicy;
  /** Time and randomness of the retry loops (tests pass a fake clock). */
  readonly retryClock?: RetryClock;
  /** Called on every progress change of long operations. */
  readonly onProgress?: ProgressListener;
  /** Makes fresh source ids (visible ASCII, unique per database); default random UUIDs. */
  readonly generateSourceId?: () => string;
}

/** Creates a client; nothing is read or written before `open()`. */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new SyncClient(options);
}

/** The sync client of one local database. */
export class SyncClient {
  private readonly ctx: EngineContext;
  private readonly driver: SqliteDriver;
  private readonly config: SyncConfig;
  private busy = false;
  /** Waiters woken whenever an operation ends (automatic downloads waiting for their turn). */
  private readonly wakers = new Set<() => void>();
  private closed = false;
  private ownership: unknown;
  private downloads: AutomaticDownloadsHandle | undefined;

  constructor(options: SyncClientOptions) {
    this.driver = options.driver;
    this.config = options.config;
    const engineOptions: EngineOptions = {
      uploadLimit: positiveLimit("uploadLimit", options.uploadLimit, undefined),
      downloadLimit: positiveLimit("downloadLimit", options.downloadLimit, 1000),
      snapshotChunkRows: positiveLimit("snapshotChunkRows", options.snapshotChunkRows, 1000),
      snapshotChunkBytes: positiveLimit("snapshotChunkBytes", options.snapshotChunkBytes, 4 * 1024 * 1024),
      snapshotApplyBatchRows: positiveLimit("snapshotApplyBatchRows", options.snapshotApplyBatchRows, 256),
      transientRetryPolicy: options.transientRetryPolicy ?? TRANSIENT_RETRY_POLICY,
      retryClock: options.retryClock,
      resolver: options.resolver ?? serverWins,
      generateSourceId: options.generateSourceId ?? (() => crypto.randomUUID()),
    };
    const ctx: EngineContext = {
      transport: createSyncTransport({
        baseUrl: options.baseUrl,
        tokenProvider: options.tokenProvider,
        sourceId: () => ctx.sourceId,
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
        ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
        ...(options.bodyLimits === undefined ? {} : { limits: options.bodyLimits }),
      }),
      options: engineOptions,
      changes: new TableChangeTracker(),
      progress: new ProgressReporter(options.onProgress),
      rejections: new RejectionEvents(),
      store: undefined,
      sourceId: "",
      connected: false,
      capabilities: undefined,
    };
    this.ctx = ctx;
  }

  /** The latest progress of a long operation. */
  get progress(): SyncProgress {
    return this.ctx.progress.progress;
  }

  /**
   * Opens the local runtime: validates the configuration against the schema, creates the `_sync_*`
   * tables and triggers, binds the source id. Local only; call it after every process start.
   */
  open(): Promise<void> {
    return this.exclusive(async () => {
      if (this.ownership === undefined) {
        const identity = await databaseIdentity(this.driver);
        claimDatabase(identity, this);
        this.ownership = identity;
      }
      const store = await openSyncStore(this.driver, this.config, {
        generateSourceId: this.ctx.options.generateSourceId,
      });
      this.ctx.store = store;
      this.ctx.sourceId = (await store.read((state) => state.readAttachment())).currentSourceId;
      this.ctx.connected = false;
      await this.ctx.changes.install(
        this.driver,
        store.schema.tables.map((table) => ({ name: table.name, sqlName: table.sqlName })),
      );
    });
  }

  /**
   * Binds the database to `userId`. Resumes without network when already attached to that user;
   * otherwise asks the server: start empty, seed the account from local rows, restore the
   * account's data (local anonymous rows give way), or retry later. A user id the server would
   * refuse (NUL, a lone surrogate, more than MAX_IDENTITY_BYTES in UTF-8) fails at once with
   * `invalid_argument`.
   */
  attach(userId: string): Promise<AttachResult> {
    return this.syncOperation("attach", () => lifecycle.attach(this.ctx, userId));
  }

  /**
   * Releases the database: refused (`blocked_unsynced_data`) while attached with unsynced changes;
   * otherwise empties the synced tables and continues anonymously on a fresh source.
   */
  detach(): Promise<DetachResult> {
    return this.exclusive(() => {
      openStore(this.ctx, "detach()");
      return lifecycle.detach(this.ctx);
    });
  }

  /** Syncs and detaches, up to three rounds while new local writes keep arriving. */
  syncThenDetach(): Promise<SyncThenDetachResult> {
    return this.syncOperation("sync_then_detach", async () => {
      await this.gate("syncThenDetach()", true, "fresh");
      return lifecycle.syncThenDetach(this.ctx);
    });
  }

  /** Uploads pending local changes as one bundle and replays the committed result locally. */
  pushPending(): Promise<PushReport> {
    return this.syncOperation("push_pending", async () => {
      await this.gate("pushPending()", true);
      const outcome = await pushPending(this.ctx);
      return { outcome, syncStatus: await gates.readSyncStatus(this.ctx) };
    });
  }

  /** Downloads every complete bundle up to the server's current ceiling. */
  pullToStable(): Promise<RemoteSyncReport> {
    return this.syncOperation("pull_to_stable", async () => {
      await this.gate("pullToStable()", true);
      return pullToStable(this.ctx);
    });
  }

  /** Pushes pending changes, then pulls (or recovers the checkpoint while a rebuild is required). */
  sync(): Promise<SyncReport> {
    return this.syncOperation("sync", async () => {
      await this.gate("sync()", true);
      return lifecycle.syncRound(this.ctx);
    });
  }

  /**
   * Replaces local state with a server snapshot. During source recovery this rotates to the
   * reserved replacement source and keeps the frozen changes; otherwise the source is kept. Frozen
   * changes not yet committed are pushed first; if the server already holds a different bundle
   * under this source's sequence (`source_sequence_mismatch`: the database was restored from a
   * backup or copied to another device), the rebuild rotates to a fresh source carrying them.
   */
  rebuild(): Promise<RemoteSyncReport> {
    return this.syncOperation("rebuild_keep_source", async () => {
      const session = await this.gate("rebuild()", false, "fresh");
      const store = openStore(this.ctx, "rebuild()");
      let recovering = session.operation.kind === "source_recovery";
      if (!recovering && (await store.read((state) => state.readOutboxBundle())).state === "prepared") {
        try {
          await pushPending(this.ctx, { recoverSequenceMismatch: true });
        } catch (error) {
          if (!(error instanceof SourceRecoveryRequiredError)) throw error;
          recovering = true;
        }
      }
      if (recovering) {
        this.ctx.progress.rename("rebuild_rotate_source");
        return rebuildRotatingSource(this.ctx);
      }
      const outbox = await store.read((state) => state.readOutboxBundle());
      return rebuildKeepSource(this.ctx, { afterCommittedPush: outbox.state === "committed_remote" });
    });
  }

  /** Changes the server refused for good, oldest first (see `onChangeRejected`). */
  rejectedChanges(): Promise<RejectedChange[]> {
    return this.exclusive(() => listRejectedChanges(this.ctx));
  }

  /** Queues a rejected change again as it was (after the cause was fixed on the server). */
  retryRejectedChange(table: string, key: KeyValue): Promise<void> {
    return this.exclusive(() => retryRejectedChange(this.ctx, table, key));
  }

  /**
   * Drops a rejected change: a row the server never had is deleted locally; any other gets the
   * server's version back with the next sync.
   */
  discardRejectedChange(table: string, key: KeyValue): Promise<void> {
    return this.exclusive(() => discardRejectedChange(this.ctx, table, key));
  }

  /** Local changes not yet on the server. */
  pendingSyncStatus(): Promise<PendingSyncStatus> {
    return this.exclusive(() => openStore(this.ctx, "pendingSyncStatus()").read(gates.pendingSyncStatus));
  }

  /** The attached database's authority, pending changes and checkpoint. */
  syncStatus(): Promise<SyncStatus> {
    return this.exclusive(async () => {
      await gates.requireConnected(this.ctx, "syncStatus()");
      return gates.readSyncStatus(this.ctx);
    });
  }

  /** The current source id and recovery flags (diagnostics). */
  sourceInfo(): Promise<SourceInfo> {
    return this.exclusive(() => openStore(this.ctx, "sourceInfo()").read(gates.sourceInfo));
  }

  /** The highest contiguous bundle applied locally. */
  lastBundleSeqSeen(): Promise<bigint> {
    return this.exclusive(async () => {
      const session = await gates.requireConnected(this.ctx, "lastBundleSeqSeen()");
      return session.attachment.lastBundleSeqSeen;
    });
  }

  /**
   * Removes sync from the database (triggers and `_sync_*` tables; application rows stay) and
   * closes the client.
   */
  uninstallSync(): Promise<void> {
    return this.exclusive(async () => {
      await this.stop();
      await lifecycle.uninstallSync(this.ctx);
      await this.release();
    });
  }

  /** Starts automatic downloads (watch or polling) in the background; see AutomaticDownloadOptions. */
  start(options?: AutomaticDownloadOptions): void {
    if (this.closed) throw closedError();
    openStore(this.ctx, "start()");
    if (this.downloads !== undefined) return;
    this.downloads = startAutomaticDownloads(
      {
        whenAttached: (signal) => this.waitUntil(() => this.ctx.connected, signal),
        pull: async (signal) => {
          for (;;) {
            await this.waitUntil(() => this.ctx.connected && !this.busy, signal);
            if (signal.aborted) return;
            try {
              await this.pullToStable();
              return;
            } catch (error) {
              // Another call started first: pull once it is done.
              if (!isClientError(error, "sync_operation_in_progress")) throw error;
            }
          }
        },
        supportsWatch: async (signal) =>
          supportsBundleChangeWatch(await this.ctx.transport.capabilities({ signal })),
        openWatch: async (signal) => {
          // Watching needs an attached session; until then the loop polls (and waits).
          const session = await gates.requireConnected(this.ctx, "automatic downloads");
          const after = toWireInt(session.attachment.lastBundleSeqSeen, "last_bundle_seq_seen");
          return this.ctx.transport.watch({ afterBundleSeq: after }, { signal });
        },
      },
      options,
    );
  }

  /** Stops automatic downloads and waits until the loop has ended. */
  async stop(): Promise<void> {
    const downloads = this.downloads;
    this.downloads = undefined;
    await downloads?.stop();
  }

  /**
   * Calls `listener` after application tables changed: `sync` once an authoritative apply (pull,
   * snapshot, push replay, conflict rewrite, detach) committed, `local` after the application's own
   * writes on this connection. Returns the function that removes the listener.
   */
  onTablesChanged(listener: TablesChangedListener): () => void {
    return this.ctx.changes.subscribe(listener);
  }

  /**
   * Calls `listener` when a push finds a change the server refuses for good (a value its column
   * cannot take, a broken unique or CHECK rule, a row too large): it leaves the queue, so the rest
   * keeps syncing, and waits in `rejectedChanges()` for the app. Returns the function that removes
   * the listener.
   */
  onChangeRejected(listener: ChangeRejectedListener): () => void {
    return this.ctx.rejections.subscribe(listener);
  }

  /**
   * Stops automatic downloads and releases the database for another client. The database itself
   * stays open. Fails with `sync_operation_in_progress` while an operation runs.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    if (this.busy) throw inProgressError();
    this.busy = true;
    try {
      await this.release();
    } finally {
      this.busy = false;
    }
  }

  private async release(): Promise<void> {
    this.closed = true;
    this.ctx.connected = false;
    if (this.ctx.store !== undefined) await this.ctx.changes.uninstall(this.driver);
    if (this.ownership !== undefined) releaseDatabase(this.ownership, this);
  }

  /**
   * Preconditions of push/pull/sync/rebuild: attached, no recovery blocking it, a compatible server.
   * Detach and rebuild, rare and hard to undo, always check the server afresh.
   */
  private async gate(
    operation: string,
    blockedBySourceRecovery: boolean,
    capabilities: "recent" | "fresh" = "recent",
  ): Promise<gates.ConnectedSession> {
    const session = await gates.requireConnected(this.ctx, operation);
    if (blockedBySourceRecovery) gates.requireNoSourceRecovery(session.operation);
    await (capabilities === "fresh" ? fetchCheckedCapabilities(this.ctx) : checkedCapabilities(this.ctx));
    return session;
  }

  private syncOperation<T>(operation: SyncOperationName, body: () => Promise<T>): Promise<T> {
    const policy = this.ctx.options.transientRetryPolicy;
    // With retries disabled the failure itself is the answer, not a one-attempt exhaustion.
    const attempt =
      policy.maxAttempts <= 1
        ? body
        : () => withTransientRetry(body, { operation, policy, clock: this.ctx.options.retryClock });
    return this.exclusive(() => this.ctx.progress.run(operation, attempt));
  }

  private async exclusive<T>(body: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    if (this.busy) throw inProgressError();
    this.busy = true;
    try {
      return await body();
    } catch (error) {
      // Any failure may mean the server changed; the next gate checks it again.
      this.ctx.capabilities = undefined;
      throw error;
    } finally {
      this.busy = false;
      for (const wake of [...this.wakers]) wake();
    }
  }

  /** Resolves once `ready()` holds (checked whenever an operation ends), or when `signal` aborts. */
  private async waitUntil(ready: () => boolean, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !ready()) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.wakers.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.wakers.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }
}

function positiveLimit<F extends number | undefined>(
  name: string,
  value: number | undefined,
  fallback: F,
): number | F {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new OversyncClientError("invalid_argument", `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function closedError(): OversyncClientError {
  return new OversyncClientError(
    "client_closed",
    "this sync client is closed; create a new client to sync again",
  );
}

function inProgressError(): OversyncClientError {
  return new OversyncClientError(
    "sync_operation_in_progress",
    "another operation of this sync client is running; retry once it has finished",
  );
}
