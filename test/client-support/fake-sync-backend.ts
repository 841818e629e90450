/**
 * A stateful mini sync server on top of the fake HTTP server: the default behaviour of every
 * endpoint, coherent enough for whole client flows, with each route replaceable.
 *
 *   const backend = new FakeSyncBackend(server, { tables: [{ schema: "main", table: "users", keyColumn: "id" }] });
 *
 * - capabilities: v1, the tables, June's features (watch per option), DEFAULT_BUNDLE_LIMITS;
 *   `protocolVersions` scripts the version per call (the last repeats).
 * - connect: `connectResolution` (default initialize_empty).
 * - push: create → staging with a fresh UUID (or already_committed when the log holds the
 *   (source, source_bundle_id)); chunks must arrive in order; commit checks the staged rows against
 *   the request hash, appends a bundle (row_version = bundle_seq, seq from `nextBundleSeq`,
 *   `bundleHashOf` over the committed rows) and wakes watchers.
 * - committed rows: pages of a logged bundle (404 committed_bundle_not_found when unknown).
 * - pull: bundles above after, up to max_bundles, stable = target or the latest seq; 409
 *   checkpoint_ahead when after is past the latest. `beforePull` runs before each answer.
 * - snapshots: create serves the queued FakeSnapshotScripts (the last one repeats) or, with none
 *   queued, the live rows of the log; chunks honour max_rows, max_bytes (400
 *   snapshot_chunk_too_small when one row does not fit), `rowsPerChunk`, and fail with 500 at
 *   `failAfterRowOrdinal`; row text comes from snapshotRowJson and bodies from
 *   formatSnapshotChunkBody, so byte_count is exact.
 * - watch: queued replies first (enqueueWatchReply), else a live stream held open that gets one
 *   event at once when latest > after and one per appended bundle.
 *
 * Requests are checked with the endpoint table's request decoders, so a malformed client request
 * gets the error a strict server would send. Replace a route with `backend.override(name, next =>
 * …)`, where `name` is a sync endpoint of ENDPOINTS and `next` is the default handler.
 */
import { randomUUID } from "node:crypto";
import {
  type BundleLimits,
  type CommittedRowsQuery,
  type ConnectResponse,
  DEFAULT_BUNDLE_LIMITS,
  ENDPOINTS,
  OversyncError,
  PROTOCOL_VERSION,
  type PushRow,
  type SnapshotRowInput,
  type SnapshotRowText,
  bundleHash,
  type PushCreateRequest,
  SYNC_ENDPOINT_NAMES,
  type SyncEndpointName,
  canonicalRequestHash,
  formatBundleChangeEvent,
  formatSnapshotChunkBody,
  serverFeatures,
  snapshotRowJson,
} from "@oversync/protocol";
import type {
  FakeHandler,
  FakeReply,
  FakeStream,
  FakeSyncServer,
  RecordedRequest,
} from "./fake-sync-server.js";
import { errorReply, jsonReply, noContentReply } from "./scripted-replies.js";

/** A registered table. */
export interface FakeTableSpec {
  readonly schema: string;
  readonly table: string;
  readonly keyColumn: string;
}

/** A committed row as the backend serves it. */
export interface FakeBundleRow {
  readonly schema: string;
  readonly table: string;
  readonly key: Readonly<Record<string, string>>;
  readonly op: "INSERT" | "UPDATE" | "DELETE";
  readonly row_version: number;
  readonly payload?: Readonly<Record<string, unknown>> | null;
}

/** A bundle in the backend's log. */
export interface FakeBundle {
  readonly bundle_seq: number;
  readonly source_id: string;
  readonly source_bundle_id: number;
  readonly rows: readonly FakeBundleRow[];
  readonly bundle_hash: string;
  readonly canonical_request_hash: string;
}

/** A scripted snapshot session. */
export interface FakeSnapshotScript {
  readonly id: string;
  readonly bundleSeq: number;
  readonly rows: readonly SnapshotRowInput[];
  /** At most this many rows per chunk. */
  readonly rowsPerChunk?: number;
  /** A chunk request with this after_row_ordinal gets 500 snapshot_failed. */
  readonly failAfterRowOrdinal?: number;
}

/** A staged push session. */
export interface FakePushSession {
  readonly pushId: string;
  readonly sourceId: string;
  readonly request: PushCreateRequest;
  readonly rows: PushRow[];
}

interface SnapshotState {
  readonly script: FakeSnapshotScript;
  readonly texts: readonly SnapshotRowText[];
}

/** Options of the backend; all of them can also be changed later through the public fields. */
export interface FakeSyncBackendOptions {
  readonly tables?: readonly FakeTableSpec[];
  readonly bundleChangeWatch?: boolean;
  readonly bundleLimits?: Partial<BundleLimits>;
  readonly protocolVersions?: readonly string[];
  readonly connectResolution?: ConnectResponse["resolution"];
}

/** The default snapshot expiry: far in the future. */
export const FAKE_EXPIRES_AT = "2099-01-01T00:00:00Z";

/** The initialization id the backend hands out with initialize_local. */
export const FAKE_INITIALIZATION_ID = "22222222-2222-4222-8222-222222222222";

/** The stateful fake; see the file comment. */
export class FakeSyncBackend {
  readonly server: FakeSyncServer;
  tables: readonly FakeTableSpec[];
  features: Record<string, boolean>;
  bundleLimits: BundleLimits;
  protocolVersions: readonly string[];
  connectResolution: ConnectResponse["resolution"];
  /** The seq the next committed or appended bundle gets. */
  nextBundleSeq = 1;
  /** Computes bundle_hash at commit; replace it to serve a wrong hash. */
  bundleHashOf: (rows: readonly FakeBundleRow[]) => string = (rows) => bundleHash(rows);
  /** Runs before each pull answer with the 0-based pull index. */
  beforePull: ((index: number, request: RecordedRequest) => void | Promise<void>) | undefined;
  readonly bundles: FakeBundle[] = [];
  readonly pushSessions = new Map<string, FakePushSession>();
  readonly snapshotSessions = new Map<string, SnapshotState>();
  /** Every push create request body, decoded. */
  readonly pushCreateRequests: PushCreateRequest[] = [];
  /** Every row uploaded in a chunk, in arrival order. */
  readonly uploadedRows: PushRow[] = [];
  /** The default handler of each route. */
  readonly handlers: Readonly<Record<SyncEndpointName, FakeHandler>>;
  private readonly snapshotScripts: FakeSnapshotScript[] = [];
  private readonly watchReplies: FakeReply[] = [];
  private readonly liveWatches: FakeStream[] = [];
  private capabilityCalls = 0;
  private pullCalls = 0;

  constructor(server: FakeSyncServer, options?: FakeSyncBackendOptions) {
    this.server = server;
    this.tables = options?.tables ?? [{ schema: "main", table: "users", keyColumn: "id" }];
    this.features = serverFeatures({ bundleChangeWatch: options?.bundleChangeWatch ?? true });
    this.bundleLimits = { ...DEFAULT_BUNDLE_LIMITS, ...options?.bundleLimits };
    this.protocolVersions = options?.protocolVersions ?? [PROTOCOL_VERSION];
    this.connectResolution = options?.connectResolution ?? "initialize_empty";
    this.handlers = {
      capabilities: () => this.capabilities(),
      connect: (request) => this.connect(request),
      pushCreate: (request) => this.pushCreate(request),
      pushChunk: (request, params) => this.pushChunk(request, params.push_id!),
      pushCommit: (request, params) => this.pushCommit(request, params.push_id!),
      pushDelete: (_request, params) => {
        this.pushSessions.delete(params.push_id!);
        return noContentReply();
      },
      committedRows: (request, params) => this.committedRows(request, params.bundle_seq!),
      pull: (request) => this.pull(request),
      snapshotCreate: (request) => this.snapshotCreate(request),
      snapshotChunk: (request, params) => this.snapshotChunk(request, params.snapshot_id!),
      snapshotDelete: (_request, params) => {
        this.snapshotSessions.delete(params.snapshot_id!);
        return noContentReply();
      },
      watch: (request) => this.watch(request),
    };
    for (const name of SYNC_ENDPOINT_NAMES) this.override(name, (next) => next);
  }

  /** Replaces a route: `wrap` gets the default handler and returns the one to install. */
  override(name: SyncEndpointName, wrap: (next: FakeHandler) => FakeHandler): void {
    const handler = wrap(this.handlers[name]);
    this.server.route(name, async (request, params) => {
      try {
        return await handler(request, params);
      } catch (error) {
        if (error instanceof OversyncError) return jsonReply(error.toErrorBody(), error.status);
        throw error;
      }
    });
  }

  /** The latest bundle seq in the log, 0 when empty. */
  latestBundleSeq(): number {
    return this.bundles.at(-1)?.bundle_seq ?? 0;
  }

  /** The capabilities body for `protocolVersion`. */
  capabilitiesBody(protocolVersion: string = PROTOCOL_VERSION): Record<string, unknown> {
    return {
      protocol_version: protocolVersion,
      schema_version: 1,
      app_name: "oversync-fake",
      registered_tables: this.tables.map((table) => `${table.schema}.${table.table}`),
      registered_table_specs: this.tables.map((table) => ({
        schema: table.schema,
        table: table.table,
        sync_key_columns: [table.keyColumn],
      })),
      features: this.features,
      bundle_limits: this.bundleLimits,
    };
  }

  /**
   * Appends a committed bundle (a remote device's or server-originated write) and wakes the live
   * watch streams. Row versions default to the bundle seq.
   */
  appendBundle(input: {
    readonly rows: readonly (Omit<FakeBundleRow, "row_version"> & { readonly row_version?: number })[];
    readonly sourceId?: string;
    readonly sourceBundleId?: number;
    readonly canonicalRequestHash?: string;
    readonly bundleSeq?: number;
  }): FakeBundle {
    const bundleSeq = input.bundleSeq ?? this.nextBundleSeq;
    this.nextBundleSeq = Math.max(this.nextBundleSeq, bundleSeq + 1);
    const rows = input.rows.map((row) => ({ ...row, row_version: row.row_version ?? bundleSeq }));
    const bundle: FakeBundle = {
      bundle_seq: bundleSeq,
      source_id: input.sourceId ?? "remote-source",
      source_bundle_id: input.sourceBundleId ?? bundleSeq,
      rows,
      bundle_hash: this.bundleHashOf(rows),
      canonical_request_hash: input.canonicalRequestHash ?? "",
    };
    this.bundles.push(bundle);
    this.bundles.sort((a, b) => a.bundle_seq - b.bundle_seq);
    for (const stream of this.liveWatches) {
      if (stream.isClosed) continue;
      stream.write(
        formatBundleChangeEvent({
          bundle_seq: bundle.bundle_seq,
          source_id: bundle.source_id,
          source_bundle_id: bundle.source_bundle_id,
        }),
      );
    }
    return bundle;
  }

  /** Queues a snapshot session for the next create; the last queued one repeats. */
  enqueueSnapshot(script: FakeSnapshotScript): void {
    this.snapshotScripts.push(script);
  }

  /** Queues the answer of the next watch request (used once). */
  enqueueWatchReply(reply: FakeReply): void {
    this.watchReplies.push(reply);
  }

  private capabilities(): FakeReply {
    const versions = this.protocolVersions;
    const version = versions[Math.min(this.capabilityCalls++, versions.length - 1)] ?? PROTOCOL_VERSION;
    return jsonReply(this.capabilitiesBody(version));
  }

  private connect(request: RecordedRequest): FakeReply {
    ENDPOINTS.connect.request.decode(request.bodyText);
    const resolution = this.connectResolution;
    if (resolution === "initialize_local") {
      return jsonReply({
        resolution,
        initialization_id: FAKE_INITIALIZATION_ID,
        lease_expires_at: FAKE_EXPIRES_AT,
      });
    }
    if (resolution === "retry_later") return jsonReply({ resolution, retry_after_seconds: 1 });
    return jsonReply({ resolution });
  }

  private pushCreate(request: RecordedRequest): FakeReply {
    const body = ENDPOINTS.pushCreate.request.decode(request.bodyText);
    const sourceId = request.sourceId ?? "";
    this.pushCreateRequests.push(body);
    const committed = this.bundles.find(
      (bundle) => bundle.source_id === sourceId && bundle.source_bundle_id === body.source_bundle_id,
    );
    if (committed) {
      return jsonReply({
        status: "already_committed",
        bundle_seq: committed.bundle_seq,
        source_id: committed.source_id,
        source_bundle_id: committed.source_bundle_id,
        row_count: committed.rows.length,
        bundle_hash: committed.bundle_hash,
        canonical_request_hash: committed.canonical_request_hash,
      });
    }
    const pushId = randomUUID();
    this.pushSessions.set(pushId, { pushId, sourceId, request: body, rows: [] });
    return jsonReply({
      status: "staging",
      push_id: pushId,
      planned_row_count: body.planned_row_count,
      next_expected_row_ordinal: 0,
      canonical_request_hash: body.canonical_request_hash,
    });
  }

  private session(pushId: string, sourceId: string | undefined): FakePushSession {
    const session = this.pushSessions.get(pushId);
    if (!session) throw new OversyncError("push_session_not_found", `push session ${pushId} does not exist`);
    if (session.sourceId !== sourceId) {
      throw new OversyncError("push_session_forbidden", `push session ${pushId} belongs to another source`);
    }
    return session;
  }

  private pushChunk(request: RecordedRequest, pushId: string): FakeReply {
    const body = ENDPOINTS.pushChunk.request.decode(request.bodyText);
    const session = this.session(pushId, request.sourceId);
    if (body.start_row_ordinal !== session.rows.length) {
      throw new OversyncError(
        "push_chunk_out_of_order",
        `expected start_row_ordinal ${session.rows.length}, got ${body.start_row_ordinal}`,
      );
    }
    if (session.rows.length + body.rows.length > session.request.planned_row_count) {
      throw new OversyncError("push_chunk_invalid", "chunk runs past planned_row_count");
    }
    session.rows.push(...body.rows);
    this.uploadedRows.push(...body.rows);
    return jsonReply({ push_id: pushId, next_expected_row_ordinal: session.rows.length });
  }

  private pushCommit(request: RecordedRequest, pushId: string): FakeReply {
    const session = this.session(pushId, request.sourceId);
    const { request: create, rows } = session;
    if (rows.length !== create.planned_row_count) {
      throw new OversyncError(
        "push_commit_invalid",
        `staged ${rows.length} of ${create.planned_row_count} planned rows`,
      );
    }
    if (canonicalRequestHash(rows) !== create.canonical_request_hash) {
      throw new OversyncError("push_commit_invalid", "staged rows do not match canonical_request_hash");
    }
    const bundleSeq = this.nextBundleSeq;
    const bundle = this.appendBundle({
      sourceId: session.sourceId,
      sourceBundleId: create.source_bundle_id,
      canonicalRequestHash: create.canonical_request_hash,
      bundleSeq,
      rows: rows.map((row) => ({
        schema: row.schema,
        table: row.table,
        key: row.key,
        op: row.op,
        ...(row.op === "DELETE" ? {} : { payload: row.payload }),
      })),
    });
    this.pushSessions.delete(pushId);
    return jsonReply({
      bundle_seq: bundle.bundle_seq,
      source_id: bundle.source_id,
      source_bundle_id: bundle.source_bundle_id,
      row_count: bundle.rows.length,
      bundle_hash: bundle.bundle_hash,
      canonical_request_hash: bundle.canonical_request_hash,
    });
  }

  private committedRows(request: RecordedRequest, bundleSeqSegment: string): FakeReply {
    const query: CommittedRowsQuery & { bundle_seq: number } = ENDPOINTS.committedRows.query.decode(
      bundleSeqSegment,
      request.searchParams,
    );
    const bundle = this.bundles.find((candidate) => candidate.bundle_seq === query.bundle_seq);
    if (!bundle) {
      throw new OversyncError("committed_bundle_not_found", `bundle ${query.bundle_seq} is not committed`);
    }
    const after = query.after_row_ordinal ?? -1;
    const rows = bundle.rows.slice(after + 1, after + 1 + (query.max_rows ?? 1000));
    const next = after + rows.length;
    return jsonReply({
      bundle_seq: bundle.bundle_seq,
      source_id: bundle.source_id,
      source_bundle_id: bundle.source_bundle_id,
      row_count: bundle.rows.length,
      bundle_hash: bundle.bundle_hash,
      canonical_request_hash: bundle.canonical_request_hash,
      rows,
      next_row_ordinal: next,
      has_more: next < bundle.rows.length - 1,
    });
  }

  private async pull(request: RecordedRequest): Promise<FakeReply> {
    await this.beforePull?.(this.pullCalls++, request);
    const query = ENDPOINTS.pull.query.decode(request.searchParams);
    const latest = this.latestBundleSeq();
    if (query.after_bundle_seq > latest) {
      throw new OversyncError(
        "checkpoint_ahead",
        `requested checkpoint ${query.after_bundle_seq} is ahead of current committed bundle sequence ${latest}`,
      );
    }
    const stable = query.target_bundle_seq ?? latest;
    const bundles = this.bundles
      .filter((bundle) => bundle.bundle_seq > query.after_bundle_seq && bundle.bundle_seq <= stable)
      .slice(0, query.max_bundles ?? 1000);
    const reached = bundles.at(-1)?.bundle_seq ?? query.after_bundle_seq;
    return jsonReply({
      stable_bundle_seq: stable,
      bundles: bundles.map((bundle) => ({
        bundle_seq: bundle.bundle_seq,
        source_id: bundle.source_id,
        source_bundle_id: bundle.source_bundle_id,
        rows: bundle.rows,
      })),
      has_more: reached < stable,
    });
  }

  private snapshotCreate(request: RecordedRequest): FakeReply {
    ENDPOINTS.snapshotCreate.request.decode(request.bodyText);
    const script =
      (this.snapshotScripts.length > 1 ? this.snapshotScripts.shift() : this.snapshotScripts[0]) ??
      this.liveSnapshot();
    const texts = script.rows.map((row) => snapshotRowJson(row));
    this.snapshotSessions.set(script.id, { script, texts });
    return jsonReply({
      snapshot_id: script.id,
      snapshot_bundle_seq: script.bundleSeq,
      row_count: texts.length,
      byte_count: texts.reduce((sum, text) => sum + text.byteLength, 0),
      expires_at: FAKE_EXPIRES_AT,
    });
  }

  /** The live rows of the log: the last change per key, deletes dropped, in first-write order. */
  private liveSnapshot(): FakeSnapshotScript {
    const rows = new Map<string, SnapshotRowInput | null>();
    for (const bundle of this.bundles) {
      for (const row of bundle.rows) {
        const id = JSON.stringify([row.schema, row.table, row.key]);
        rows.set(
          id,
          row.op === "DELETE"
            ? null
            : {
                schema: row.schema,
                table: row.table,
                key: row.key,
                row_version: row.row_version,
                payload: row.payload ?? {},
              },
        );
      }
    }
    return {
      id: randomUUID(),
      bundleSeq: this.latestBundleSeq(),
      rows: [...rows.values()].filter((row): row is SnapshotRowInput => row !== null),
    };
  }

  private snapshotChunk(request: RecordedRequest, snapshotId: string): FakeReply {
    const state = this.snapshotSessions.get(snapshotId);
    if (!state)
      throw new OversyncError("snapshot_session_not_found", `snapshot ${snapshotId} does not exist`);
    const query = ENDPOINTS.snapshotChunk.query.decode(request.searchParams);
    const { script, texts } = state;
    const after = query.after_row_ordinal;
    if (script.failAfterRowOrdinal === after) {
      return jsonReply({ error: "snapshot_failed", message: "forced snapshot failure" }, 500);
    }
    const maxRows = Math.min(query.max_rows ?? 1000, script.rowsPerChunk ?? Number.POSITIVE_INFINITY);
    const maxBytes = query.max_bytes ?? this.bundleLimits.default_bytes_per_snapshot_chunk;
    const page: SnapshotRowText[] = [];
    let bytes = 0;
    for (const text of texts.slice(after)) {
      if (page.length >= maxRows || bytes + text.byteLength > maxBytes) break;
      page.push(text);
      bytes += text.byteLength;
    }
    const first = texts[after];
    if (page.length === 0 && first !== undefined) {
      return errorReply("snapshot_chunk_too_small", `the next row needs ${first.byteLength} bytes`, {
        required_byte_count: first.byteLength,
      });
    }
    const next = after + page.length;
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: formatSnapshotChunkBody({
        snapshot_id: script.id,
        snapshot_bundle_seq: script.bundleSeq,
        rows: page,
        next_row_ordinal: next,
        has_more: next < texts.length,
      }),
    };
  }

  private watch(request: RecordedRequest): FakeReply {
    const queued = this.watchReplies.shift();
    if (queued) return queued;
    const { after_bundle_seq: after } = ENDPOINTS.watch.query.decode(request.searchParams);
    return {
      status: 200,
      stream: (stream) => {
        this.liveWatches.push(stream);
        const latest = this.latestBundleSeq();
        if (latest > after) stream.write(formatBundleChangeEvent({ bundle_seq: latest }));
      },
    };
  }
}
