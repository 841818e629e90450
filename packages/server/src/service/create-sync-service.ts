/**
 * createSyncService: the runtime behind the SyncService interface. It owns the lifecycle (running,
 * draining, closed), checks out one pool client per call and runs the call's transaction on it, and
 * turns unexpected faults into the endpoint's 5xx code after logging them.
 */
import {
  type CapabilitiesResponse,
  ENDPOINTS,
  type ErrorCode,
  OversyncError,
  PROTOCOL_VERSION,
  scopeIdProblem,
  serverFeatures,
  sourceIdProblem,
  userIdProblem,
} from "@oversync/protocol";
import {
  type BundleCommittedHook,
  type BundleTransaction,
  type ScopeManager,
  type ServerWriteBundle,
  type SyncBundleResult,
  type SyncBundleSource,
  execScopeWrite,
  writeWithinSyncBundle,
} from "../bundle/server-writes.js";
import { DatabaseUnavailableError } from "../db/database-unavailable.js";
import { namedStatements } from "../db/named-statements.js";
import { guardConnections, inTransaction, oneShotQueries, timeCheckouts, withClient } from "../db/session.js";
import type { SqlClient, SqlPool, SqlQueryable } from "../db/sql-pool.js";
import { readCommittedRows } from "../history/committed-rows.js";
import { readPullPage } from "../history/pull.js";
import {
  type ResolvedRetention,
  applyRetention,
  countHistoryPruned,
  moveRetainedFloor,
  resolveRetention,
} from "../history/retention.js";
import { commitPushSession } from "../push/push-commit.js";
import { validatePushRows } from "../push/push-rows.js";
import { createPushSession, deletePushSession, uploadPushChunk } from "../push/push-session.js";
import { bootstrapSyncSchema } from "../schema/bootstrap.js";
import type { LayoutOutcome } from "../schema/sync-layout.js";
import type { TableDirectory } from "../schema/table-catalog.js";
import { resolveConnect } from "../scope/connect.js";
import { checkUploadedRowSizes } from "../snapshot/snapshot-row-size.js";
import {
  createSnapshotSession,
  deleteSnapshotSession,
  readSnapshotChunk,
  touchSnapshotSession,
} from "../snapshot/snapshot-sessions.js";
import {
  BundleWatchHub,
  type CommittedBundleHeader,
  type ResolvedWatchOptions,
  notifyBundleCommitted,
  resolveWatchOptions,
} from "../watch/bundle-watch.js";
import { type SyncLogger, consoleLogger } from "../telemetry/sync-logger.js";
import { SYNC_METRICS } from "../telemetry/sync-metrics.js";
import {
  NO_TELEMETRY,
  type TelemetryRecorder,
  guardRecorder,
  traced,
} from "../telemetry/telemetry-recorder.js";
import {
  DEFAULT_PULL_PAGE_ROW_BUDGET,
  type ResolvedLimits,
  type SyncServiceOptions,
  resolveLimits,
} from "./service-options.js";
import { SWEEP_INTERVAL_MILLIS, type SweepResult, sweep as sweepChurn } from "./housekeeping.js";
import { type ServiceCounters, readServiceCounters } from "./service-status.js";
import type { Actor, BundleWatch, ServiceLifecycle, ServiceStatus, SyncService } from "./sync-service.js";

/** How old the counters in a health (or recent status) answer may be. */
const HEALTH_COUNTERS_MAX_AGE_MILLIS = 10_000;

/** A SyncService that still has to be bootstrapped before it serves calls. */
export interface SyncRuntime extends SyncService {
  /**
   * Validates the registered tables, installs, verifies or upgrades the `sync` layout (an upgrade
   * needs every process of the older build stopped first, see docs/scaling.md) and the capture
   * triggers. Throws UnsupportedSchemaError or SyncLayoutError; until it succeeds every call is
   * answered 503.
   */
  bootstrap(): Promise<{ layout: LayoutOutcome }>;
  /** Server-originated writes with automatic source sequencing and scope initialization (server-writes.ts). */
  readonly scopeManager: ScopeManager;
  /**
   * Runs `write` in one transaction and commits what it changed to registered tables as one bundle
   * from `source`, which must be that source's next expected tuple; the scope must be initialized.
   * Nothing changed, no bundle. Errors: ServerWriteError `invalid_server_write`,
   * `snapshot_row_too_large`; OversyncError `scope_uninitialized`, `scope_initializing`,
   * `history_pruned` (a tuple below the next one), `source_sequence_out_of_order`, `source_retired`,
   * `service_unavailable`; DatabaseUnavailableError when no session can be had or its connection
   * drops; whatever `write` throws.
   */
  withinSyncBundle<T>(
    actor: Pick<Actor, "scopeId">,
    source: SyncBundleSource,
    write: (tx: BundleTransaction) => Promise<T>,
  ): Promise<SyncBundleResult<T>>;
  /**
   * Moves `scopeId`'s retained bundle floor up to `floor` and deletes the history at or below it
   * (what the retention policy does, on demand; `POST /test/retention-floor` calls it with its
   * `user_id`, which names a user's own scope). `floor` must lie between the current floor and the
   * latest bundle (400 invalid_request otherwise). Errors: OversyncError with the codes of
   * `ENDPOINTS.retentionFloor`.
   */
  setRetainedFloor(scopeId: string, floor: number): Promise<void>;
  /**
   * Deletes every expired push and snapshot session with its rows and vacuums the tables of work in
   * progress (housekeeping.ts). The service does this by itself every 10 seconds once
   * bootstrapped, off the request path; call it to sweep at another moment. Errors:
   * DatabaseUnavailableError, or the database's error.
   */
  sweep(): Promise<SweepResult>;
}

/** Builds the sync runtime over `options.pool`. Call `bootstrap()` before serving. */
export function createSyncService(options: SyncServiceOptions): SyncRuntime {
  return new Runtime(options);
}

/** Attempts for write transactions that hit a serialization failure or deadlock. */
const WRITE_ATTEMPTS = 3;

class Runtime implements SyncRuntime {
  private readonly limits: ResolvedLimits;
  private readonly logger: SyncLogger;
  private readonly telemetry: TelemetryRecorder;
  /** The host's pool with its checkouts timed (the pool-wait figure). */
  private readonly pool: SqlPool;
  private readonly rowBudget: number;
  private readonly watch: ResolvedWatchOptions | undefined;
  private readonly watchHub: BundleWatchHub | undefined;
  private readonly retention: ResolvedRetention | undefined;
  /** Statements outside any call's session (status counters, watch reads), each on its own session. */
  private readonly oneShot: SqlQueryable;
  private directory: TableDirectory | undefined;
  private lifecycle: ServiceLifecycle = "running";
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private sweeping: Promise<SweepResult> | undefined;
  private lastCounters: { readonly value: ServiceCounters; readonly readAt: number } | undefined;
  private countersRead: Promise<ServiceCounters> | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;
  readonly scopeManager: ScopeManager = {
    execWrite: (scopeId, options, write) =>
      this.committing(
        "server",
        scopeId,
        options.writerId,
        () =>
          this.serverWrite((client, directory) =>
            execScopeWrite(
              client,
              directory,
              this.committedHook,
              this.limits.max_bytes_per_snapshot_row,
              scopeId,
              options,
              write,
            ),
          ),
        (result) => result.bundle,
      ),
  };

  constructor(private readonly options: SyncServiceOptions) {
    guardConnections(options.pool);
    this.limits = resolveLimits(options.limits);
    this.logger = options.logger ?? consoleLogger;
    this.telemetry = guardRecorder(options.telemetry ?? NO_TELEMETRY, this.logger);
    const pool = options.preparedStatements === false ? options.pool : namedStatements(options.pool);
    this.pool = timeCheckouts(pool, (seconds) => this.telemetry.record(SYNC_METRICS.poolWait, seconds, {}));
    this.rowBudget = options.pullPageRowBudget ?? DEFAULT_PULL_PAGE_ROW_BUDGET;
    this.retention = resolveRetention(options.retention);
    this.watch = options.watch === undefined ? undefined : resolveWatchOptions(options.watch);
    this.oneShot = oneShotQueries(this.pool);
    this.watchHub =
      this.watch === undefined
        ? undefined
        : new BundleWatchHub(this.oneShot, this.watch, this.logger, this.telemetry);
  }

  async bootstrap(): Promise<{ layout: LayoutOutcome }> {
    const result = await withClient(this.pool, (client) =>
      bootstrapSyncSchema(client, this.options.registeredTables),
    );
    this.directory = result.directory;
    // Health answers from this reading (refreshed in the background), so none of its calls scans.
    await this.readCounters().catch((error) => this.logger.warn?.("status counters read failed", { error }));
    if (this.sweepTimer === undefined && this.lifecycle === "running") {
      this.sweepTimer = setInterval(() => void this.sweepInBackground(), SWEEP_INTERVAL_MILLIS);
      // A host process may end while the service is idle (Node's timers would hold it open).
      (this.sweepTimer as { unref?: () => void }).unref?.();
    }
    return { layout: result.layout };
  }

  sweep(): Promise<SweepResult> {
    this.ready();
    this.sweeping ??= sweepChurn(this.oneShot).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** The timer's sweep: a failure is logged and the next tick tries again. */
  private async sweepInBackground(): Promise<void> {
    try {
      await this.sweep();
    } catch (error) {
      if (error instanceof DatabaseUnavailableError)
        this.logger.warn?.("housekeeping lost the database", { error });
      else if (!(error instanceof OversyncError)) this.logger.error("housekeeping sweep failed", { error });
    }
  }

  async capabilities(actor?: Actor): Promise<CapabilitiesResponse> {
    const tables = this.ready().tables;
    const watch = this.watch !== undefined && (actor === undefined || (await this.watchAllowed(actor)));
    return {
      protocol_version: PROTOCOL_VERSION,
      schema_version: this.options.maxSupportedSchemaVersion,
      app_name: this.options.appName,
      registered_tables: tables.map((table) => `${table.schema}.${table.table}`),
      registered_table_specs: tables.map((table) => ({
        schema: table.schema,
        table: table.table,
        sync_key_columns: [table.keyColumn],
      })),
      features: serverFeatures({ bundleChangeWatch: watch }),
      bundle_limits: { ...this.limits },
    };
  }

  connect(actor: Actor, request: Parameters<SyncService["connect"]>[1]) {
    return this.write("connect", ENDPOINTS.connect.failureCode, actor, (client) =>
      resolveConnect(client, actor, request, this.limits.initialization_lease_ttl_seconds),
    );
  }

  createPushSession(actor: Actor, request: Parameters<SyncService["createPushSession"]>[1]) {
    return this.write("push session create", ENDPOINTS.pushCreate.failureCode, actor, (client) =>
      createPushSession(client, actor, request, this.limits),
    );
  }

  uploadPushChunk(actor: Actor, pushId: string, request: Parameters<SyncService["uploadPushChunk"]>[2]) {
    return this.call("push chunk", ENDPOINTS.pushChunk.failureCode, actor, async (directory) => {
      if (request.rows.length > this.limits.max_rows_per_push_chunk) {
        throw new OversyncError(
          "push_chunk_invalid",
          `rows length ${request.rows.length} exceeds max_rows_per_push_chunk ${this.limits.max_rows_per_push_chunk}`,
        );
      }
      const rows = validatePushRows(directory, request.rows);
      checkUploadedRowSizes(rows, this.limits.max_bytes_per_snapshot_row);
      return withClient(this.pool, (client) =>
        inTransaction(client, { attempts: WRITE_ATTEMPTS }, () =>
          uploadPushChunk(client, actor, pushId, request, rows, this.limits),
        ),
      );
    });
  }

  commitPushSession(actor: Actor, pushId: string) {
    return this.committing(
      "push",
      actor.scopeId,
      actor.sourceId,
      () =>
        this.write("push commit", ENDPOINTS.pushCommit.failureCode, actor, async (client, directory) => {
          const committed = await commitPushSession(client, directory, actor, pushId, this.limits);
          await this.bundleCommitted(client, actor.scopeId, committed);
          return committed;
        }),
      (committed) => committed,
    );
  }

  deletePushSession(actor: Actor, pushId: string) {
    return this.write("push session delete", ENDPOINTS.pushDelete.failureCode, actor, (client) =>
      deletePushSession(client, actor, pushId),
    );
  }

  getCommittedBundleRows(actor: Actor, request: Parameters<SyncService["getCommittedBundleRows"]>[1]) {
    return this.read("committed rows", ENDPOINTS.committedRows.failureCode, actor, (client, directory) =>
      readCommittedRows(client, directory, actor, request, this.limits),
    );
  }

  pull(actor: Actor, query: Parameters<SyncService["pull"]>[1]) {
    return this.read("pull", ENDPOINTS.pull.failureCode, actor, (client, directory) =>
      readPullPage(client, directory, actor, query, this.limits, this.rowBudget),
    );
  }

  async createSnapshotSession(actor: Actor, request: Parameters<SyncService["createSnapshotSession"]>[1]) {
    const session = await this.call(
      "snapshot session create",
      ENDPOINTS.snapshotCreate.failureCode,
      actor,
      (directory) =>
        withClient(this.pool, (client) =>
          inTransaction(client, { isolation: "repeatable read", attempts: WRITE_ATTEMPTS }, () =>
            createSnapshotSession(
              client,
              directory,
              actor,
              request,
              this.limits,
              this.options.snapshots ?? {},
            ),
          ),
        ),
    );
    this.telemetry.record(SYNC_METRICS.snapshotSessions, 1, {});
    return session;
  }

  getSnapshotChunk(actor: Actor, request: Parameters<SyncService["getSnapshotChunk"]>[1]) {
    return this.call("snapshot chunk", ENDPOINTS.snapshotChunk.failureCode, actor, () =>
      withClient(this.pool, async (client) => {
        await touchSnapshotSession(client, actor, request.snapshot_id);
        return inTransaction(client, { isolation: "repeatable read", readOnly: true }, () =>
          readSnapshotChunk(client, actor, request, this.limits),
        );
      }),
    );
  }

  deleteSnapshotSession(actor: Actor, snapshotId: string) {
    return this.write("snapshot session delete", ENDPOINTS.snapshotDelete.failureCode, actor, (client) =>
      deleteSnapshotSession(client, actor, snapshotId),
    );
  }

  openBundleWatch(actor: Actor, query: Parameters<SyncService["openBundleWatch"]>[1]): Promise<BundleWatch> {
    return this.call("watch", ENDPOINTS.watch.failureCode, actor, async () => {
      if (this.watchHub === undefined) {
        throw new OversyncError(
          "bundle_change_watch_disabled",
          "bundle change watch is disabled on this server; poll with pull instead",
        );
      }
      if (!(await this.watchAllowed(actor))) {
        throw new OversyncError(
          "bundle_change_watch_forbidden",
          "bundle change watch is forbidden for this actor; poll with pull instead",
        );
      }
      return this.watchHub.subscribe(actor, query.after_bundle_seq);
    });
  }

  withinSyncBundle<T>(
    actor: Pick<Actor, "scopeId">,
    source: SyncBundleSource,
    write: (tx: BundleTransaction) => Promise<T>,
  ): Promise<SyncBundleResult<T>> {
    return this.committing(
      "server",
      actor.scopeId,
      source.sourceId,
      () =>
        this.serverWrite((client, directory) =>
          writeWithinSyncBundle(
            client,
            directory,
            this.committedHook,
            this.limits.max_bytes_per_snapshot_row,
            actor.scopeId,
            source,
            write,
          ),
        ),
      (result) => result.bundle,
    );
  }

  /**
   * Runs a call that may commit a bundle (`work`, whose transaction has ended when it resolves) in
   * a `commit` span. A committed bundle is counted and logged only then, so a rolled-back one never
   * is; a push_conflict answer is counted as a conflict. Answers a client expects (a conflict, a
   * 4xx) leave the span unfailed; faults and 5xx answers fail it.
   */
  private async committing<T>(
    origin: "push" | "server",
    scopeId: string,
    sourceId: string,
    work: () => Promise<T>,
    bundleOf: (result: T) => ServerWriteBundle | undefined,
  ): Promise<T> {
    const start = {
      kind: "commit",
      name: "oversync commit",
      attributes: { "oversync.origin": origin, "oversync.scope_id": scopeId, "oversync.source_id": sourceId },
    } as const;
    // The outcome comes out of the span as a value, so an expected refusal does not fail it.
    const outcome = await traced(this.telemetry, start, async (span) => {
      try {
        const result = await work();
        const bundle = bundleOf(result);
        if (bundle !== undefined) {
          span.setAttributes({
            "oversync.bundle_seq": bundle.bundle_seq,
            "oversync.source_bundle_id": bundle.source_bundle_id,
            "oversync.row_count": bundle.row_count,
          });
        }
        return { result, bundle };
      } catch (error) {
        if (error instanceof OversyncError) span.setAttributes({ "oversync.error_code": error.code });
        if (!(error instanceof OversyncError) || error.status >= 500) span.fail(error);
        return { error };
      }
    });
    if ("error" in outcome) {
      if (outcome.error instanceof OversyncError && outcome.error.code === "push_conflict") {
        this.telemetry.record(SYNC_METRICS.pushConflicts, 1, {});
      }
      throw outcome.error;
    }
    const { result, bundle } = outcome;
    if (bundle !== undefined) {
      this.telemetry.record(SYNC_METRICS.bundlesCommitted, 1, { origin });
      this.logger.info?.("bundle committed", {
        origin,
        bundleSeq: bundle.bundle_seq,
        rows: bundle.row_count,
        scopeId,
        sourceId: bundle.source_id,
        sourceBundleId: bundle.source_bundle_id,
      });
    }
    return result;
  }

  /**
   * A server-originated write: one client, one READ COMMITTED transaction, never retried (the
   * callback may have effects outside the database), counted in flight. Its errors reach the host
   * as they are.
   */
  private async serverWrite<T>(
    work: (client: SqlClient, directory: TableDirectory) => Promise<T>,
  ): Promise<T> {
    const directory = this.ready();
    this.inflight++;
    try {
      return await withClient(this.pool, (client) =>
        inTransaction(client, {}, () => work(client, directory)),
      );
    } finally {
      this.inflight--;
      if (this.inflight === 0 && this.drained !== undefined) this.drained();
    }
  }

  setRetainedFloor(scopeId: string, floor: number): Promise<void> {
    return this.track("retained floor update", ENDPOINTS.retentionFloor.failureCode, { scopeId }, () => {
      const problem = scopeIdProblem(scopeId);
      if (problem !== undefined) throw new OversyncError("invalid_request", `scope id ${problem}`);
      return withClient(this.pool, (client) =>
        inTransaction(client, { attempts: WRITE_ATTEMPTS }, () => moveRetainedFloor(client, scopeId, floor)),
      );
    });
  }

  /**
   * Runs a client-facing transaction on `client` and counts a `history_pruned` answer in the status
   * counter once that transaction has ended (a read-only one cannot advance the sequence).
   */
  private async countPruned<T>(client: SqlClient, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof OversyncError && error.code === "history_pruned") {
        // The answer matters more than the counter: a failed count is logged, not returned.
        await countHistoryPruned(client).catch((fault: unknown) =>
          this.logger.warn?.("counting a history_pruned answer failed", { error: fault }),
        );
      }
      throw error;
    }
  }

  private readonly committedHook: BundleCommittedHook = (client, scopeId, bundle) =>
    this.bundleCommitted(client, scopeId, bundle);

  watchSubscriberCount(scopeId: string): number {
    return this.watchHub?.subscriberCount(scopeId) ?? 0;
  }

  /** The host's watch hook; everyone may watch when it sets none. */
  private async watchAllowed(actor: Actor): Promise<boolean> {
    return this.watch?.allow === undefined || (await this.watch.allow(actor)) === true;
  }

  /**
   * Work every committed bundle does inside its own transaction, whatever produced it (push commit,
   * execWrite, withinSyncBundle): the retention policy, then the watch NOTIFY (delivered only if the
   * transaction commits).
   */
  private async bundleCommitted(
    client: SqlQueryable,
    scopeId: string,
    bundle: CommittedBundleHeader,
  ): Promise<void> {
    if (this.retention !== undefined) await applyRetention(client, scopeId, this.retention);
    if (this.watch !== undefined) await notifyBundleCommitted(client, this.watch.channel, scopeId, bundle);
  }

  health(): Promise<ServiceStatus> {
    return this.report(ENDPOINTS.health.failureCode, "recent");
  }

  status(counters: "recent" | "current" = "current"): Promise<ServiceStatus> {
    return this.report(ENDPOINTS.status.failureCode, counters);
  }

  /**
   * The counters for a report. Reading them aggregates over every scope and bundle, so health and
   * the HTTP status, which load balancers and anyone may call every few seconds, reuse the last
   * reading (taken at bootstrap, refreshed in the background once older than
   * HEALTH_COUNTERS_MAX_AGE_MILLIS) and prove the database answers with a probe that costs the same
   * at any size; a "current" status reads them afresh.
   */
  private async counters(freshness: "recent" | "current"): Promise<ServiceCounters> {
    const last = this.lastCounters;
    if (freshness === "recent" && last !== undefined) {
      // Plans against the sync layout without reading a row: the database answers and the
      // layout is there.
      await this.oneShot.query("SELECT FROM sync.user_state LIMIT 0");
      if (Date.now() - last.readAt > HEALTH_COUNTERS_MAX_AGE_MILLIS) {
        this.readCounters().catch((error) => this.logger.warn?.("status counters refresh failed", { error }));
      }
      return last.value;
    }
    return this.readCounters();
  }

  private readCounters(): Promise<ServiceCounters> {
    this.countersRead ??= readServiceCounters(this.oneShot)
      .then((value) => {
        this.lastCounters = { value, readAt: Date.now() };
        this.telemetry.record(SYNC_METRICS.retainedFloorLag, value.retained_bundle_window_min, {
          aggregate: "min",
        });
        this.telemetry.record(SYNC_METRICS.retainedFloorLag, value.retained_bundle_window_max, {
          aggregate: "max",
        });
        this.telemetry.record(
          SYNC_METRICS.retainedFloorAhead,
          value.user_state_retention_floor_ahead_count,
          {},
        );
        return value;
      })
      .finally(() => (this.countersRead = undefined));
    return this.countersRead;
  }

  private async report(failureCode: ErrorCode, freshness: "recent" | "current"): Promise<ServiceStatus> {
    const accepting = this.lifecycle === "running" && this.directory !== undefined;
    let counters: ServiceCounters | undefined;
    if (this.directory !== undefined) {
      try {
        counters = await this.counters(freshness);
      } catch (error) {
        if (error instanceof DatabaseUnavailableError) throw this.unavailable("status query", error, {});
        this.logger.error("status query failed", { error });
        throw new OversyncError(failureCode, "reading the service status failed; retry later");
      }
    }
    const floorAhead = counters?.user_state_retention_floor_ahead_count ?? 0;
    return {
      status: accepting && floorAhead === 0 ? "healthy" : "unhealthy",
      version: PROTOCOL_VERSION,
      app_name: this.options.appName,
      lifecycle: this.lifecycle,
      accepting_operations: accepting,
      inflight_operations: this.inflight,
      registered_tables: (this.directory?.tables ?? []).map((table) => `${table.schema}.${table.table}`),
      features: serverFeatures({ bundleChangeWatch: this.watch !== undefined }),
      user_state_retention_floor_ahead_count: floorAhead,
      latest_bundle_seq_max: counters?.latest_bundle_seq_max ?? 0,
      retained_bundle_floor_min: counters?.retained_bundle_floor_min ?? 0,
      retained_bundle_floor_max: counters?.retained_bundle_floor_max ?? 0,
      retained_bundle_window_min: counters?.retained_bundle_window_min ?? 0,
      retained_bundle_window_max: counters?.retained_bundle_window_max ?? 0,
      history_pruned_error_count: counters?.history_pruned_error_count ?? 0,
      accepted_push_replay_count: counters?.accepted_push_replay_count ?? 0,
      rejected_registered_write_count: counters?.rejected_registered_write_count ?? 0,
      committed_bundle_count: counters?.committed_bundle_count ?? 0,
      committed_bundle_bytes: counters?.committed_bundle_bytes ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.lifecycle === "closed") return;
    this.lifecycle = "shutting_down";
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
    // Watch streams are not in-flight calls: they end now, so their HTTP responses can finish.
    await this.watchHub?.close();
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.lifecycle = "closed";
  }

  /** A write call: its own client and a READ COMMITTED transaction retried on transient failures. */
  private write<T>(
    operation: string,
    failureCode: ErrorCode,
    actor: Actor,
    work: (client: SqlClient, directory: TableDirectory) => Promise<T>,
  ): Promise<T> {
    return this.call(operation, failureCode, actor, (directory) =>
      withClient(this.pool, (client) =>
        this.countPruned(client, () =>
          inTransaction(client, { attempts: WRITE_ATTEMPTS }, () => work(client, directory)),
        ),
      ),
    );
  }

  /** A call whose work is one read-only REPEATABLE READ transaction (one consistent view). */
  private read<T>(
    operation: string,
    failureCode: ErrorCode,
    actor: Actor,
    work: (client: SqlClient, directory: TableDirectory) => Promise<T>,
  ): Promise<T> {
    return this.call(operation, failureCode, actor, (directory) =>
      withClient(this.pool, (client) =>
        this.countPruned(client, () =>
          inTransaction(client, { isolation: "repeatable read", readOnly: true }, () =>
            work(client, directory),
          ),
        ),
      ),
    );
  }

  /** The registered tables, or 503 unless the service is bootstrapped and running. */
  private ready(): TableDirectory {
    if (this.lifecycle !== "running") {
      throw new OversyncError(
        "service_unavailable",
        "the sync service is shutting down; retry against another instance",
      );
    }
    if (this.directory === undefined) {
      throw new OversyncError(
        "service_unavailable",
        "the sync service is not bootstrapped yet; retry shortly",
      );
    }
    return this.directory;
  }

  /**
   * Runs one service call: refuses it with 503 unless the service is bootstrapped and running,
   * checks the actor, counts it in flight, and maps faults that are not protocol errors to
   * `failureCode` (logged with their cause and the actor's scope, user and source, never sent over
   * the wire).
   */
  private call<T>(
    operation: string,
    failureCode: ErrorCode,
    actor: Actor,
    work: (directory: TableDirectory) => Promise<T>,
  ): Promise<T> {
    return this.track(
      operation,
      failureCode,
      { scopeId: actor.scopeId, userId: actor.userId, sourceId: actor.sourceId },
      (directory) => {
        checkActor(actor);
        return work(directory);
      },
    );
  }

  /**
   * The answer to a call that lost the database: 503 `service_unavailable`, which clients retry,
   * with a message that names no driver detail. It is logged as a warning: an outage or a restart
   * of PostgreSQL, not a fault of this server, and the pool reconnects by itself.
   */
  private unavailable(
    operation: string,
    error: DatabaseUnavailableError,
    context: Readonly<Record<string, string>>,
  ): OversyncError {
    this.logger.warn?.(`${operation} lost the database`, { error, ...context });
    return new OversyncError("service_unavailable", "the database is unavailable; retry shortly", {
      cause: error,
    });
  }

  /** Counts the refusals operators watch: history_pruned answers and snapshot capacity waits. */
  private countAnswer(error: OversyncError): void {
    if (error.code === "history_pruned") this.telemetry.record(SYNC_METRICS.historyPruned, 1, {});
    else if (error.code === "snapshot_build_capacity") {
      this.telemetry.record(SYNC_METRICS.snapshotCapacityWaits, 1, { slot: "build" });
    } else if (error.code === "snapshot_chunk_capacity") {
      this.telemetry.record(SYNC_METRICS.snapshotCapacityWaits, 1, { slot: "chunk" });
    }
  }

  /** `call` without an actor (`context` goes into the fault log): the service-side operations. */
  private async track<T>(
    operation: string,
    failureCode: ErrorCode,
    context: Readonly<Record<string, string>>,
    work: (directory: TableDirectory) => Promise<T>,
  ): Promise<T> {
    const directory = this.ready();
    this.inflight++;
    try {
      return await work(directory);
    } catch (error) {
      if (error instanceof OversyncError) {
        this.countAnswer(error);
        throw error;
      }
      if (error instanceof DatabaseUnavailableError) throw this.unavailable(operation, error, context);
      this.logger.error(`${operation} failed`, { error, ...context });
      throw new OversyncError(failureCode, `${operation} failed on the server; retry later`, {
        cause: error,
      });
    } finally {
      this.inflight--;
      if (this.inflight === 0 && this.drained !== undefined) this.drained();
    }
  }
}

/** The identity rules (identity.ts in the protocol) for hosts that call the service directly. */
function checkActor(actor: Actor): void {
  if (typeof actor.userId !== "string" || actor.userId.length === 0) {
    throw new OversyncError("authentication_failed", "the request carries no authenticated user");
  }
  const userProblem = userIdProblem(actor.userId);
  if (userProblem !== undefined) {
    throw new OversyncError("authentication_failed", `the authenticated user id ${userProblem}`);
  }
  const scopeProblem = scopeIdProblem(actor.scopeId);
  if (scopeProblem !== undefined) {
    throw new OversyncError("authentication_failed", `the authenticated scope id ${scopeProblem}`);
  }
  const sourceProblem = sourceIdProblem(actor.sourceId);
  if (sourceProblem !== undefined) {
    throw new OversyncError("invalid_request", `Oversync-Source-ID ${sourceProblem}`);
  }
}
