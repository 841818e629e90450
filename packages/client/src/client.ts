/**
 * The public client: one per local database. It owns the engine context and runs each operation
 * exclusively. A call made while another call of the app runs fails at once with
 * `sync_operation_in_progress`, except `sync()`, which queues one follow-up round shared by every
 * `sync()` made meanwhile; a call that meets an operation of automatic sync waits for it.
 *
 *   const client = createSyncClient({ driver, config, baseUrl, tokenProvider });
 *   await client.open();                       // local only: tables, triggers, source id
 *   await client.attach(userId);               // binds the account (may restore a snapshot)
 *   client.start();                            // pushes local writes, downloads remote ones
 *   client.onStatus((status) => …);            // online, uploading, pending count, last error
 *   client.onTablesChanged(({ tables, origin }) => …);
 *
 * Push, pull, sync, rebuild and syncThenDetach check the server's capabilities and table contract
 * first and are retried as a whole after a 5xx, I/O error or timeout (every step is resumable).
 */
import { supportsBundleChangeWatch } from "@oversync/protocol";
import type { SyncConfig } from "./config/sync-config.js";
import type { SqliteDriver, SqliteRow, SqliteValue } from "./drivers/sqlite-driver.js";
import { OversyncClientError, isClientError } from "./errors.js";
import {
  type AutomaticDownloadOptions,
  type AutomaticDownloadsHandle,
  startAutomaticDownloads,
} from "./engine/automatic-downloads.js";
import {
  type AutomaticUploadOptions,
  type AutomaticUploadsHandle,
  startAutomaticUploads,
} from "./engine/automatic-uploads.js";
import { checkedCapabilities, fetchCheckedCapabilities } from "./engine/capability-gate.js";
import { ConflictEvents, type ConflictListener, type ResolvedConflict } from "./engine/conflict-events.js";
import {
  type LiveQuerySource,
  type QueryListener,
  type WatchQueryOptions,
  liveQuery as startLiveQuery,
  watchQuery as startWatchQuery,
} from "./engine/live-query.js";
import { type ConflictResolver, serverWins } from "./engine/conflict-resolvers.js";
import { claimDatabase, databaseIdentity, releaseDatabase } from "./engine/database-ownership.js";
import {
  type EngineContext,
  type EngineOptions,
  openStore,
  stoppable,
  toWireInt,
} from "./engine/engine-context.js";
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
import {
  type SyncClientStatus,
  type SyncErrorListener,
  type SyncFailureSource,
  type SyncStatusListener,
  SyncStatusTracker,
} from "./engine/sync-status.js";
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
  /**
   * Called on every progress change of long operations: phases at once, row/byte/bundle counts at
   * most ten times a second (see also `SyncClient.onProgress`).
   */
  readonly onProgress?: ProgressListener;
  /** Makes fresh source ids (visible ASCII, unique per database); default random UUIDs. */
  readonly generateSourceId?: () => string;
}

/** Settings of `start()`: automatic downloads (watch or polling) and automatic uploads. */
export type AutomaticSyncOptions = AutomaticDownloadOptions & AutomaticUploadOptions;

/** Creates a client; nothing is read or written before `open()`. */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new SyncClient(options);
}

/** The sync client of one local database. */
export class SyncClient {
  private readonly ctx: EngineContext;
  private readonly driver: SqliteDriver;
  private readonly config: SyncConfig;
  /** Who runs an operation now: one of the app's calls, automatic sync, or nobody. */
  private holder: "call" | "automatic" | undefined;
  /** Operations waiting for their turn, oldest first. */
  private readonly queue: { readonly grant: () => void }[] = [];
  /** A call of the app is running or waiting for its turn (a second one fails fast). */
  private callActive = false;
  /** Waiters woken whenever an operation ends or automatic sync pauses or resumes. */
  private readonly wakers = new Set<() => void>();
  private closed = false;
  /** Aborted by close(): live queries end with the client. */
  private readonly lifetime = new AbortController();
  private ownership: unknown;
  private downloads: AutomaticDownloadsHandle | undefined;
  private uploads: AutomaticUploadsHandle | undefined;
  private readonly statusTracker = new SyncStatusTracker();
  /** A status refresh is reading the database; `statusRefreshAgain` asks it for another round. */
  private statusRefreshing = false;
  private statusRefreshAgain = false;
  /** The `sync()` running now, and the one follow-up round queued behind it. */
  private runningSync: Promise<SyncReport> | undefined;
  private queuedSync: Promise<SyncReport> | undefined;

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
    const status = this.statusTracker;
    const fetchImpl = options.fetch;
    // Every answer, whatever its status, shows the server is reachable; a request without one, not.
    const observedFetch: typeof globalThis.fetch = async (input, init) => {
      status.requestStarted();
      try {
        const response = await (fetchImpl ?? globalThis.fetch)(input, init);
        status.responseArrived();
        return response;
      } catch (error) {
        if (!init?.signal?.aborted) status.requestFailed();
        throw error;
      }
    };
    const ctx: EngineContext = {
      transport: createSyncTransport({
        baseUrl: options.baseUrl,
        tokenProvider: options.tokenProvider,
        sourceId: () => ctx.sourceId,
        fetch: observedFetch,
        ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
        ...(options.bodyLimits === undefined ? {} : { limits: options.bodyLimits }),
      }),
      options: engineOptions,
      changes: new TableChangeTracker(),
      progress: new ProgressReporter(options.onProgress),
      rejections: new RejectionEvents(),
      conflicts: new ConflictEvents(),
      store: undefined,
      sourceId: "",
      connected: false,
      capabilities: undefined,
      stopSignal: undefined,
    };
    this.ctx = ctx;
    ctx.progress.subscribe((progress) => {
      const phase = progress.state === "active" ? progress.phase : undefined;
      status.update({
        uploading: phase === "pushing" || phase === "seeding",
        downloading:
          phase === "pulling" || phase === "staging_remote_state" || phase === "applying_remote_state",
      });
    });
    ctx.changes.subscribe((change) => {
      if (change.origin === "local") this.refreshStatus();
    });
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
      this.refreshStatus();
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

  /**
   * Uploads pending local changes as one bundle and replays the committed result locally. The
   * report lists the push conflicts the resolver settled (`conflicts`).
   */
  pushPending(): Promise<PushReport> {
    return this.syncOperationWithConflicts<PushReport>("push_pending", async () => {
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

  /**
   * Pushes pending changes, then pulls (or recovers the checkpoint while a rebuild is required).
   * The report lists the push conflicts the resolver settled (`conflicts`). Called while a `sync()`
   * runs, it queues one follow-up round (shared by every `sync()` made meanwhile), so the answer
   * covers every write made before the call; it waits for a running automatic operation, and fails
   * with `sync_operation_in_progress` while another call of the app runs.
   */
  sync(): Promise<SyncReport> {
    if (this.queuedSync !== undefined) return this.queuedSync;
    const running = this.runningSync;
    if (running === undefined) return this.startSync();
    const queued = running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.queuedSync = undefined;
        return this.startSync();
      });
    this.queuedSync = queued;
    return queued;
  }

  private startSync(): Promise<SyncReport> {
    const run = this.syncOperationWithConflicts<SyncReport>("sync", async () => {
      await this.gate("sync()", true);
      return lifecycle.syncRound(this.ctx);
    });
    this.runningSync = run;
    const clear = () => {
      if (this.runningSync === run) this.runningSync = undefined;
    };
    run.then(clear, clear);
    return run;
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
  lastBundleSeqSeen(): Promise<number> {
    return this.exclusive(async () => {
      const session = await gates.requireConnected(this.ctx, "lastBundleSeqSeen()");
      return toWireInt(session.attachment.lastBundleSeqSeen, "last_bundle_seq_seen");
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
      await this.releaseDatabase();
    });
  }

  // ---- Automatic sync and status ----------------------------------------------------------------

  /**
   * Keeps the database in sync in the background until `stop()`: local writes to synced tables are
   * pushed shortly after they commit (see AutomaticUploadOptions; `uploads: "off"` leaves pushing to
   * the app), and remote changes are downloaded as the server announces them, or by polling (see
   * AutomaticDownloadOptions). Both wait until `attach` has bound the database. Failures are retried
   * with backoff and reach `onError` and `status.lastError`; one only the app can fix (401, 403,
   * rebuild or source recovery needed) pauses automatic sync (`status.automaticSync` "paused") until
   * a call of the app succeeds or `start()` is called again.
   */
  start(options: AutomaticSyncOptions = {}): void {
    if (this.closed) throw closedError();
    openStore(this.ctx, "start()");
    if (this.downloads !== undefined) {
      this.resumeAutomatic();
      return;
    }
    this.setAutomatic("running");
    this.downloads = startAutomaticDownloads(
      {
        whenAttached: (signal) => this.waitUntil(() => this.automaticReady(), signal),
        pull: async (signal) => {
          await this.automatic("pull_to_stable", "automatic_download", signal, async () => {
            await this.gate("pullToStable()", true);
            await pullToStable(this.ctx);
          });
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
    if (options.uploads === "off") return;
    this.uploads = startAutomaticUploads(
      {
        whenReady: (signal) => this.waitUntil(() => this.automaticReady(), signal),
        hasPendingChanges: async () =>
          (await openStore(this.ctx, "automatic uploads").read(gates.pendingSyncStatus)).hasPendingSyncData,
        push: (signal) =>
          this.automatic("push_pending", "automatic_upload", signal, async () => {
            await this.gate("pushPending()", true);
            await pushPending(this.ctx);
          }),
        onLocalChange: (listener) =>
          this.ctx.changes.subscribe((change) => {
            if (change.origin === "local") listener();
          }),
        onOnline: (listener) => this.statusTracker.subscribeOnline(listener),
      },
      options,
    );
  }

  /**
   * Stops automatic sync and waits until its loops have ended. A running operation ends at its
   * next boundary (a pull page or bundle, a push chunk, a snapshot chunk) with read-only requests
   * cancelled; what it did so far stays and the next operation resumes from there.
   */
  async stop(): Promise<void> {
    const downloads = this.downloads;
    const uploads = this.uploads;
    this.downloads = undefined;
    this.uploads = undefined;
    if (downloads !== undefined) this.setAutomatic("off");
    await Promise.all([downloads?.stop(), uploads?.stop()]);
  }

  /** The client's status now (plain JSON; see `onStatus`). */
  get status(): SyncClientStatus {
    return this.statusTracker.status;
  }

  /**
   * Calls `listener` with each new status: connection, uploading and downloading, pending change
   * count, last synced time, last error, rebuild and source-recovery flags. Returns the function
   * that removes the listener.
   */
  onStatus(listener: SyncStatusListener): () => void {
    return this.statusTracker.subscribe(listener);
  }

  /**
   * Calls `listener` with each failure of automatic sync (the app's own calls throw theirs), with a
   * plain-JSON description that says whether it waits for the app (`needsApp`). Returns the
   * function that removes the listener.
   */
  onError(listener: SyncErrorListener): () => void {
    return this.statusTracker.subscribeErrors(listener);
  }

  /**
   * Calls `listener` after each push conflict the resolver settled (the default `serverWins`
   * discards the local change: `resolution` "server_won", the local values in `localValues`). The
   * same conflicts are listed in the report of the push or sync that met them. Returns the
   * function that removes the listener.
   */
  onConflict(listener: ConflictListener): () => void {
    return this.ctx.conflicts.subscribe(listener);
  }

  /**
   * Calls `listener` on every progress change (as the `onProgress` option does): phases, and row,
   * byte and bundle counts at most ten times a second. Returns the function that removes the
   * listener.
   */
  onProgress(listener: ProgressListener): () => void {
    return this.ctx.progress.subscribe(listener);
  }

  /**
   * Runs one operation of automatic sync once it is ready and its turn comes; failures are
   * reported, then thrown. False when it did not run (stopped, or no longer ready when its turn came).
   */
  private async automatic(
    operation: SyncOperationName,
    source: SyncFailureSource,
    signal: AbortSignal,
    body: () => Promise<void>,
  ): Promise<boolean> {
    await this.waitUntil(() => this.automaticReady(), signal);
    if (signal.aborted || !(await this.acquire("automatic", signal))) return false;
    try {
      // Detached, closed or paused while waiting: nothing to do now.
      if (!this.automaticReady() || this.closed) return false;
      this.ctx.stopSignal = signal;
      await this.runOperation(operation, body, source);
      return true;
    } catch (error) {
      this.ctx.capabilities = undefined;
      // Stopped at a boundary (see EngineContext.stopSignal): not a failure.
      if (signal.aborted) return false;
      throw error;
    } finally {
      this.ctx.stopSignal = undefined;
      this.release();
    }
  }

  /** Attached in this process, and automatic sync neither off nor paused. */
  private automaticReady(): boolean {
    return this.ctx.connected && this.statusTracker.status.automaticSync === "running";
  }

  private setAutomatic(state: SyncClientStatus["automaticSync"]): void {
    this.statusTracker.update({ automaticSync: state });
    this.wakeAll();
  }

  /** After the app acted (a call succeeded, or `start()` again), a paused automatic sync resumes. */
  private resumeAutomatic(): void {
    if (this.statusTracker.status.automaticSync === "paused") this.setAutomatic("running");
  }

  /** Counts pending changes and reads the recovery flags again (coalesced; never blocks an operation). */
  private refreshStatus(): void {
    this.statusRefreshAgain = true;
    const store = this.ctx.store;
    if (this.statusRefreshing || store === undefined || this.closed) return;
    this.statusRefreshing = true;
    void (async () => {
      try {
        while (this.statusRefreshAgain && !this.closed) {
          this.statusRefreshAgain = false;
          const { pending, info } = await store.read(async (state) => ({
            pending: await gates.pendingSyncStatus(state),
            info: await gates.sourceInfo(state),
          }));
          this.statusTracker.update({
            pendingChangeCount: pending.pendingRowCount,
            rebuildRequired: info.rebuildRequired,
            sourceRecoveryRequired: info.sourceRecoveryRequired,
          });
        }
      } catch {
        // The database went away (closed by the app); the status keeps its last counts.
      } finally {
        this.statusRefreshing = false;
      }
    })();
  }

  // ---- end of automatic sync and status ---------------------------------------------------------

  /**
   * Calls `listener` after application tables changed: `sync` once an authoritative apply (pull,
   * snapshot, push replay, conflict rewrite, detach) committed, `local` after the application's own
   * writes on this connection. Returns the function that removes the listener.
   */
  onTablesChanged(listener: TablesChangedListener): () => void {
    return this.ctx.changes.subscribe(listener);
  }

  /**
   * A live query: runs `sql` now and again whenever a table it reads changes (local writes and
   * applied sync alike, seen once the client is open), coalescing bursts, one run at a time, so the
   * last result delivered is never older than the last change. The tables come from SQLite's plan
   * of the query (`options.tables` overrides). Returns the function that stops it.
   */
  watchQuery<R = SqliteRow>(
    sql: string,
    params: readonly SqliteValue[],
    listener: QueryListener<R>,
    options?: WatchQueryOptions,
  ): () => void {
    if (this.closed) throw closedError();
    return startWatchQuery(this.liveSource(), sql, params, listener, options);
  }

  /**
   * `watchQuery` as an async iterator of results (`for await (const rows of client.liveQuery(…))`);
   * `break`, `return()` or the signal's abort ends it, and a failed run throws from it.
   */
  liveQuery<R = SqliteRow>(
    sql: string,
    params: readonly SqliteValue[],
    options?: WatchQueryOptions,
  ): AsyncIterableIterator<R[], undefined, undefined> {
    if (this.closed) throw closedError();
    return startLiveQuery(this.liveSource(), sql, params, options);
  }

  private liveSource(): LiveQuerySource {
    return {
      db: this.driver,
      subscribe: (listener) => this.ctx.changes.subscribe(listener),
      closed: this.lifetime.signal,
    };
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
   * Stops automatic sync, ends the live queries (their iterators finish) and releases the database
   * for another client. The database itself stays open. Fails with `sync_operation_in_progress` while an operation runs.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    if (this.callActive || this.holder !== undefined) throw inProgressError();
    this.callActive = true;
    try {
      await this.releaseDatabase();
    } finally {
      this.callActive = false;
    }
  }

  private async releaseDatabase(): Promise<void> {
    this.closed = true;
    this.lifetime.abort();
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
    return this.exclusive(() => this.runOperation(operation, body, "call"));
  }

  /** A push or sync call whose report lists the conflicts settled in all its attempts. */
  private async syncOperationWithConflicts<R extends { readonly conflicts: readonly ResolvedConflict[] }>(
    operation: SyncOperationName,
    body: () => Promise<Omit<R, "conflicts">>,
  ): Promise<R> {
    const { result, conflicts } = await this.exclusive(() =>
      this.ctx.conflicts.collect(() => this.runOperation(operation, body, "call")),
    );
    return { ...result, conflicts } as unknown as R;
  }

  /** Runs a sync operation with the whole-operation retry and progress, and tells the status. */
  private async runOperation<T>(
    operation: SyncOperationName,
    body: () => Promise<T>,
    source: SyncFailureSource,
  ): Promise<T> {
    const policy = this.ctx.options.transientRetryPolicy;
    // With retries disabled the failure itself is the answer, not a one-attempt exhaustion.
    const attempt =
      policy.maxAttempts <= 1
        ? body
        : () =>
            withTransientRetry(body, {
              operation,
              policy,
              clock: this.ctx.options.retryClock,
              ...stoppable(this.ctx),
            });
    try {
      const result = await this.ctx.progress.run(operation, attempt);
      this.statusTracker.succeeded();
      if (source === "call") this.resumeAutomatic();
      return result;
    } catch (error) {
      const stopped = this.ctx.stopSignal?.aborted === true;
      // A download meeting a frozen bundle waits for the upload that is retrying it.
      if (!stopped && !(source === "automatic_download" && isClientError(error, "pending_push_replay"))) {
        this.statusTracker.failed(error, source);
      }
      throw error;
    } finally {
      this.refreshStatus();
    }
  }

  /** Runs one call of the app: fails fast while another call runs, waits for automatic sync. */
  private async exclusive<T>(body: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    if (this.callActive) throw inProgressError();
    this.callActive = true;
    try {
      await this.acquire("call");
      try {
        if (this.closed) throw closedError();
        return await body();
      } catch (error) {
        // Any failure may mean the server changed; the next gate checks it again.
        this.ctx.capabilities = undefined;
        throw error;
      } finally {
        this.release();
      }
    } finally {
      this.callActive = false;
    }
  }

  /** Waits for the turn to run an operation (first come, first served); false when `signal` aborted first. */
  private acquire(holder: "call" | "automatic", signal?: AbortSignal): Promise<boolean> {
    if (this.holder === undefined && this.queue.length === 0) {
      this.holder = holder;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const onAbort = () => {
        const index = this.queue.indexOf(entry);
        if (index >= 0) this.queue.splice(index, 1);
        resolve(false);
      };
      const entry = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          this.holder = holder;
          resolve(true);
        },
      };
      this.queue.push(entry);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Ends the running operation: the next in line runs, waiters re-check their conditions. */
  private release(): void {
    this.holder = undefined;
    this.queue.shift()?.grant();
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
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
