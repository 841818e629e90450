/**
 * The client's HTTP transport: one fetch-based call per protocol endpoint (protocol-latest §1),
 * with the identity headers, bounded bodies, time limits and response decoding of §0. It makes one
 * attempt per call; the engine wraps whole operations in the retry helpers of `retry-policy.ts`.
 */
import {
  BODY_LIMITS,
  DEFAULT_BUNDLE_LIMITS,
  type CapabilitiesResponse,
  type CommittedBundleIdentity,
  type CommittedRowsResponse,
  type ConnectResponse,
  ENDPOINTS,
  type EndpointContract,
  type PullResponse,
  type PushChunkResponse,
  type PushCommitResponse,
  type PushCreateResponse,
  type RowOp,
  SOURCE_ID_HEADER,
  type SnapshotChunk,
  type SnapshotChunkContext,
  type SnapshotSession,
  type WireKey,
  fillPath,
  isValidSourceId,
  snapshotChunkBodyLimit,
} from "@oversync/protocol";
import { RequestDeadline } from "./request-deadline.js";
import {
  discardBody,
  errorFromResponse,
  hasMediaType,
  parseJsonBody,
  readBoundedBody,
  requireAllowedEncoding,
  utf8Text,
} from "./response-body.js";
import { TransportError } from "./transport-errors.js";
import { type WatchStream, createWatchStream } from "./watch-stream.js";

/** Time limits, in milliseconds. `Infinity` disables one. */
export interface TransportTimeouts {
  /** Whole exchange (headers and body) of every call except watch and snapshot delete. */
  readonly requestMillis: number;
  /** Snapshot delete, a best-effort cleanup after every rebuild (§1.11: 5 s). */
  readonly snapshotDeleteMillis: number;
  /** Watch: until the response headers arrive. */
  readonly watchConnectMillis: number;
  /** Watch: the longest silence on an open stream; the server sends a heartbeat every 25 s. */
  readonly watchIdleMillis: number;
}

/**
 * Defaults: 120 s per request (the Go client's limit, ample for a 16 MiB snapshot chunk on a slow
 * link), 5 s for snapshot delete, 30 s to open a watch, and 90 s of watch silence (three and a
 * half heartbeat intervals) before a stream counts as dead.
 */
export const DEFAULT_TRANSPORT_TIMEOUTS: TransportTimeouts = {
  requestMillis: 120_000,
  snapshotDeleteMillis: 5_000,
  watchConnectMillis: 30_000,
  watchIdleMillis: 90_000,
};

/**
 * Body limits for the success bodies the protocol leaves unbounded. Error bodies (64 KiB),
 * capabilities (4 MiB), snapshot sessions (64 KiB) and snapshot chunks (max_bytes + max_rows +
 * 65536) use the protocol's limits.
 */
export interface TransportBodyLimits {
  /** Connect and push create/chunk/commit answers: a few fixed members each. */
  readonly controlBodyBytes: number;
  /** Committed-rows and pull pages: sized by the rows the server chose to send. */
  readonly rowPageBodyBytes: number;
}

/**
 * Defaults: 64 KiB for fixed-shape answers (the protocol's limit for snapshot sessions, which are
 * the same kind of body), and 128 MiB for row pages: a pull page of 1000 bundles can be large, and
 * a page past this limit means the engine should ask for fewer bundles or rows.
 */
export const DEFAULT_TRANSPORT_BODY_LIMITS: TransportBodyLimits = {
  controlBodyBytes: 65_536,
  rowPageBodyBytes: 128 * 1024 * 1024,
};

/** How to reach and authenticate against a sync server. */
export interface SyncTransportOptions {
  /** Base URL; `sync/...` resolves below it and its path is kept (`https://host/api/v1/`). */
  readonly baseUrl: string | URL;
  /** The bearer token for each call, capabilities and watch included. */
  readonly tokenProvider: () => string | Promise<string>;
  /** The current source id, read per call (it changes when the source rotates). */
  readonly sourceId: () => string;
  /** A fetch implementation; defaults to the global one. */
  readonly fetch?: typeof globalThis.fetch;
  readonly timeouts?: Partial<TransportTimeouts>;
  readonly limits?: Partial<TransportBodyLimits>;
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call; the call then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Overrides the call's time limit (for watch: the time to open). */
  readonly timeoutMillis?: number;
}

/** `POST /sync/push-sessions` arguments. */
export interface PushSessionCreateArgs {
  readonly sourceBundleId: number;
  readonly plannedRowCount: number;
  /** 64 lowercase hex characters (§3.2). */
  readonly canonicalRequestHash: string;
  /** The pending initialization lease, omitted when absent or "". */
  readonly initializationId?: string | undefined;
}

/** One uploaded row; DELETE carries no payload, INSERT/UPDATE every column as wire strings. */
export interface PushRowInput {
  readonly schema: string;
  readonly table: string;
  readonly key: WireKey;
  readonly op: RowOp;
  readonly base_row_version: number;
  readonly payload?: Readonly<Record<string, string | null>> | null;
}

/** `POST /sync/push-sessions/{push_id}/chunks` arguments. */
export interface PushChunkArgs {
  readonly pushId: string;
  readonly startRowOrdinal: number;
  readonly rows: readonly PushRowInput[];
}

/** `POST /sync/push-sessions/{push_id}/commit` arguments; the source bundle id checks the answer. */
export interface PushCommitArgs {
  readonly pushId: string;
  readonly sourceBundleId: number;
}

/** `GET /sync/committed-bundles/{seq}/rows` arguments. */
export interface CommittedRowsArgs {
  /** The bundle as the commit or already_committed answer named it; the page must match it. */
  readonly committed: CommittedBundleIdentity;
  /** The last ordinal received; omitted on the first page. */
  readonly afterRowOrdinal?: number | undefined;
  readonly maxRows: number;
}

/** `GET /sync/pull` arguments. */
export interface PullArgs {
  readonly afterBundleSeq: number;
  readonly maxBundles: number;
  /** The first page's stable seq; sent only when > 0. */
  readonly targetBundleSeq?: number | undefined;
}

/** The body of a source-replacing snapshot create (§1.9). */
export interface SourceReplacement {
  readonly previousSourceId: string;
  readonly newSourceId: string;
  readonly reason:
    | "history_pruned"
    | "source_sequence_out_of_order"
    | "source_sequence_changed"
    | "source_retired";
}

/** `POST /sync/snapshot-sessions` arguments; without a replacement no body is sent. */
export interface SnapshotSessionArgs {
  readonly sourceReplacement?: SourceReplacement | undefined;
}

/** `GET /sync/watch` arguments. */
export interface WatchArgs {
  readonly afterBundleSeq: number;
}

/**
 * The protocol endpoints. Every call rejects with: OversyncError (a known error code, with its
 * extras; SnapshotCapacityError for the 429 capacity codes), HttpStatusError (any other non-2xx),
 * ProtocolViolationError (a success body that breaks the protocol), TransportError (network,
 * timeout, size, content type or encoding), or the caller's abort reason.
 */
export interface SyncTransport {
  /** The normalized base URL (its path ends with "/"). */
  readonly baseUrl: URL;
  /** `GET /sync/capabilities`; a protocol_version other than "v1" is protocol_version_mismatch. */
  capabilities(options?: CallOptions): Promise<CapabilitiesResponse>;
  /** `POST /sync/connect`. */
  connect(args: { readonly hasLocalPendingRows: boolean }, options?: CallOptions): Promise<ConnectResponse>;
  /** `POST /sync/push-sessions`; a differing request hash is source_sequence_mismatch. */
  createPushSession(args: PushSessionCreateArgs, options?: CallOptions): Promise<PushCreateResponse>;
  /** `POST /sync/push-sessions/{push_id}/chunks`. */
  uploadPushChunk(args: PushChunkArgs, options?: CallOptions): Promise<PushChunkResponse>;
  /** `POST /sync/push-sessions/{push_id}/commit`, without a body. */
  commitPushSession(args: PushCommitArgs, options?: CallOptions): Promise<PushCommitResponse>;
  /** `DELETE /sync/push-sessions/{push_id}`; best-effort, callers ignore failures. */
  deletePushSession(pushId: string, options?: CallOptions): Promise<void>;
  /** `GET /sync/committed-bundles/{seq}/rows`, one page. */
  fetchCommittedRows(args: CommittedRowsArgs, options?: CallOptions): Promise<CommittedRowsResponse>;
  /** `GET /sync/pull`, one page. */
  pull(args: PullArgs, options?: CallOptions): Promise<PullResponse>;
  /** `POST /sync/snapshot-sessions`. */
  createSnapshotSession(args?: SnapshotSessionArgs, options?: CallOptions): Promise<SnapshotSession>;
  /** `GET /sync/snapshot-sessions/{id}`, one chunk, byte_count checked against the bytes received. */
  fetchSnapshotChunk(args: SnapshotChunkContext, options?: CallOptions): Promise<SnapshotChunk>;
  /** `DELETE /sync/snapshot-sessions/{id}`; best-effort, 5 s limit by default. */
  deleteSnapshotSession(snapshotId: string, options?: CallOptions): Promise<void>;
  /** `GET /sync/watch`: resolves once the stream is open (200, text/event-stream). */
  watch(args: WatchArgs, options?: CallOptions): Promise<WatchStream>;
}

type Query = Readonly<Record<string, string>>;

interface Exchange<T> {
  readonly operation: string;
  /** Its method and path come from the endpoint table. */
  readonly endpoint: EndpointContract;
  /** Path parameters by name, checked with pathParam. */
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Query;
  /** A JSON body; undefined sends none (and no Content-Type). */
  readonly json?: unknown;
  readonly timeoutMillis: number;
  /** Reads a 2xx response; `sourceId` is the header value the request carried. */
  readonly read: (response: Response, sourceId: string) => Promise<T>;
  /** The largest error body read; the protocol's 64 KiB when absent. */
  readonly errorBodyLimit?: number;
}

/**
 * Push commit errors may be larger than the protocol's 64 KiB: a `push_conflict` carries the
 * server's whole row, and a row with a large BLOB exceeds 64 KiB. A client that cannot read that
 * body cannot resolve the conflict and would retry the same push forever, so commit errors are read
 * up to the largest snapshot chunk a server advertises by default, which bounds any row it serves.
 */
const COMMIT_ERROR_BODY_LIMIT = BODY_LIMITS.error + DEFAULT_BUNDLE_LIMITS.max_bytes_per_snapshot_chunk;

/** Creates a transport for one server. Throws TransportError(request_invalid) for a bad base URL. */
export function createSyncTransport(options: SyncTransportOptions): SyncTransport {
  const baseUrl = normalizeBaseUrl(options.baseUrl);
  const timeouts = { ...DEFAULT_TRANSPORT_TIMEOUTS, ...options.timeouts };
  const limits = { ...DEFAULT_TRANSPORT_BODY_LIMITS, ...options.limits };
  const fetchImpl = options.fetch ?? globalThis.fetch;

  async function requestHeaders(
    operation: string,
    accept: string,
  ): Promise<{ headers: Headers; sourceId: string }> {
    const sourceId = options.sourceId();
    if (!isValidSourceId(sourceId)) {
      throw new TransportError(
        "request_invalid",
        operation,
        `source id ${JSON.stringify(sourceId)} must be 1+ visible ASCII characters (0x21–0x7E)`,
      );
    }
    const token = await options.tokenProvider();
    const headers = new Headers({
      Authorization: `Bearer ${token}`,
      [SOURCE_ID_HEADER]: sourceId,
      Accept: accept,
      "Accept-Encoding": "gzip, identity",
    });
    return { headers, sourceId };
  }

  async function perform<T>(exchange: Exchange<T>, call: CallOptions | undefined): Promise<T> {
    const { operation } = exchange;
    const url = endpointUrl(baseUrl, exchange.endpoint, exchange.params, exchange.query);
    const { headers, sourceId } = await requestHeaders(operation, "application/json");
    let body: string | undefined;
    if (exchange.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(exchange.json);
    }
    const limit = call?.timeoutMillis ?? exchange.timeoutMillis;
    const deadline = new RequestDeadline(call?.signal);
    deadline.arm(limit);
    try {
      const response = await fetchImpl(url, {
        method: exchange.endpoint.method,
        headers,
        body,
        signal: deadline.signal,
      });
      await requireAllowedEncoding(response, operation);
      if (!response.ok) throw await errorFromResponse(response, operation, sourceId, exchange.errorBodyLimit);
      return await exchange.read(response, sourceId);
    } catch (error) {
      throw deadline.translate(error, operation, limit);
    } finally {
      deadline.dispose();
    }
  }

  /** Reads a 2xx JSON body under `bodyLimit` bytes. */
  async function jsonBytes(response: Response, operation: string, bodyLimit: number): Promise<Uint8Array> {
    if (!hasMediaType(response, "application/json")) {
      await discardBody(response);
      throw new TransportError(
        "invalid_content_type",
        operation,
        `success response has Content-Type ${JSON.stringify(response.headers.get("content-type"))}; the protocol requires application/json`,
        { status: response.status },
      );
    }
    return readBoundedBody(response, bodyLimit, operation);
  }

  function jsonReader<T>(
    operation: string,
    bodyLimit: number,
    decode: (json: unknown, sourceId: string) => T,
  ) {
    return async (response: Response, sourceId: string) =>
      decode(parseJsonBody(await jsonBytes(response, operation, bodyLimit), operation), sourceId);
  }

  const noContent = async (response: Response) => discardBody(response);

  return {
    baseUrl,

    async capabilities(call) {
      const operation = "capabilities";
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.capabilities,
          timeoutMillis: timeouts.requestMillis,
          read: async (response) =>
            ENDPOINTS.capabilities.response.decode(
              utf8Text(await jsonBytes(response, operation, BODY_LIMITS.capabilities), operation),
            ),
        },
        call,
      );
    },

    async connect(args, call) {
      const operation = "connect";
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.connect,
          json: { has_local_pending_rows: args.hasLocalPendingRows },
          timeoutMillis: timeouts.requestMillis,
          read: jsonReader(operation, limits.controlBodyBytes, ENDPOINTS.connect.response.decode),
        },
        call,
      );
    },

    async createPushSession(args, call) {
      const operation = "push session create";
      const request = {
        source_bundle_id: wireInt(operation, "source_bundle_id", args.sourceBundleId, 1),
        planned_row_count: wireInt(operation, "planned_row_count", args.plannedRowCount, 1),
        canonical_request_hash: args.canonicalRequestHash,
      };
      const json =
        args.initializationId === undefined || args.initializationId === ""
          ? request
          : { ...request, initialization_id: args.initializationId };
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.pushCreate,
          json,
          timeoutMillis: timeouts.requestMillis,
          read: jsonReader(operation, limits.controlBodyBytes, (body, sourceId) =>
            ENDPOINTS.pushCreate.response.decode(body, request, sourceId),
          ),
        },
        call,
      );
    },

    async uploadPushChunk(args, call) {
      const operation = "push chunk upload";
      const startRowOrdinal = wireInt(operation, "start_row_ordinal", args.startRowOrdinal, 0);
      const rows = args.rows.map((row, index) => pushRowJson(operation, row, index));
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.pushChunk,
          params: { push_id: pathParam(operation, "push_id", args.pushId) },
          json: { start_row_ordinal: startRowOrdinal, rows },
          timeoutMillis: timeouts.requestMillis,
          read: jsonReader(operation, limits.controlBodyBytes, (body) =>
            ENDPOINTS.pushChunk.response.decode(body, {
              pushId: args.pushId,
              startRowOrdinal,
              rowCount: rows.length,
            }),
          ),
        },
        call,
      );
    },

    async commitPushSession(args, call) {
      const operation = "push commit";
      const sourceBundleId = wireInt(operation, "source_bundle_id", args.sourceBundleId, 1);
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.pushCommit,
          params: { push_id: pathParam(operation, "push_id", args.pushId) },
          timeoutMillis: timeouts.requestMillis,
          read: jsonReader(operation, limits.controlBodyBytes, (body, sourceId) =>
            ENDPOINTS.pushCommit.response.decode(body, { sourceId, sourceBundleId }),
          ),
          errorBodyLimit: COMMIT_ERROR_BODY_LIMIT,
        },
        call,
      );
    },

    async deletePushSession(pushId, call) {
      const operation = "push session delete";
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.pushDelete,
          params: { push_id: pathParam(operation, "push_id", pushId) },
          timeoutMillis: timeouts.requestMillis,
          read: noContent,
        },
        call,
      );
    },

    async fetchCommittedRows(args, call) {
      const operation = "committed rows";
      const bundleSeq = wireInt(operation, "bundle_seq", args.committed.bundle_seq, 1);
      const query: Record<string, string> = {};
      if (args.afterRowOrdinal !== undefined) {
        query.after_row_ordinal = String(wireInt(operation, "after_row_ordinal", args.afterRowOrdinal, 0));
      }
      query.max_rows = String(wireInt(operation, "max_rows", args.maxRows, 1));
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.committedRows,
          params: { bundle_seq: String(bundleSeq) },
          query,
          timeoutMillis: timeouts.requestMillis,
          read: jsonReader(operation, limits.rowPageBodyBytes, (body) =>
            ENDPOINTS.committedRows.response.decode(body, {
              committed: args.committed,
              afterRowOrdinal: args.afterRowOrdinal,
            }),
          ),
        },
        call,
      );
    },

    async pull(args, call) {
      const operation = "pull";
      const afterBundleSeq = wireInt(operation, "after_bundle_seq", args.afterBundleSeq, 0);
      const query: Record<string, string> = {
        after_bundle_seq: String(afterBundleSeq),
        max_bundles: String(wireInt(operation, "max_bundles", args.maxBundles, 1)),
      };
      const target = args.targetBundleSeq;
      if (target !== undefined && wireInt(operation, "target_bundle_seq", target, 0) > 0) {
        query.target_bundle_seq = String(target);
      }
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.pull,
          query,
          timeoutMillis: timeouts.requestMillis,
          read: jsonReader(operation, limits.rowPageBodyBytes, (body) =>
            ENDPOINTS.pull.response.decode(body, { afterBundleSeq, targetBundleSeq: target }),
          ),
        },
        call,
      );
    },

    async createSnapshotSession(args, call) {
      const operation = "snapshot session create";
      const replacement = args?.sourceReplacement;
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.snapshotCreate,
          json:
            replacement === undefined
              ? undefined
              : {
                  source_replacement: {
                    previous_source_id: replacement.previousSourceId,
                    new_source_id: replacement.newSourceId,
                    reason: replacement.reason,
                  },
                },
          timeoutMillis: timeouts.requestMillis,
          read: async (response) =>
            ENDPOINTS.snapshotCreate.response.decode(
              await jsonBytes(response, operation, BODY_LIMITS.snapshotSession),
            ),
        },
        call,
      );
    },

    async fetchSnapshotChunk(args, call) {
      const operation = "snapshot chunk";
      const maxRows = wireInt(operation, "max_rows", args.maxRows, 1);
      const maxBytes = wireInt(operation, "max_bytes", args.maxBytes, 1);
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.snapshotChunk,
          params: { snapshot_id: pathParam(operation, "snapshot_id", args.session.snapshot_id) },
          query: {
            after_row_ordinal: String(wireInt(operation, "after_row_ordinal", args.afterRowOrdinal, 0)),
            max_rows: String(maxRows),
            max_bytes: String(maxBytes),
          },
          timeoutMillis: timeouts.requestMillis,
          // The raw bytes go to the decoder, which measures each row object as received.
          read: async (response) =>
            ENDPOINTS.snapshotChunk.response.decode(
              await jsonBytes(response, operation, snapshotChunkBodyLimit(maxBytes, maxRows)),
              args,
            ),
        },
        call,
      );
    },

    async deleteSnapshotSession(snapshotId, call) {
      const operation = "snapshot session delete";
      return perform(
        {
          operation,
          endpoint: ENDPOINTS.snapshotDelete,
          params: { snapshot_id: pathParam(operation, "snapshot_id", snapshotId) },
          timeoutMillis: timeouts.snapshotDeleteMillis,
          read: noContent,
        },
        call,
      );
    },

    async watch(args, call) {
      const operation = "watch";
      const url = endpointUrl(
        baseUrl,
        ENDPOINTS.watch,
        {},
        {
          after_bundle_seq: String(wireInt(operation, "after_bundle_seq", args.afterBundleSeq, 0)),
        },
      );
      const { headers, sourceId } = await requestHeaders(operation, "text/event-stream");
      const limit = call?.timeoutMillis ?? timeouts.watchConnectMillis;
      const deadline = new RequestDeadline(call?.signal);
      deadline.arm(limit);
      try {
        const response = await fetchImpl(url, {
          method: ENDPOINTS.watch.method,
          headers,
          signal: deadline.signal,
        });
        await requireAllowedEncoding(response, operation);
        if (response.status !== 200) throw await errorFromResponse(response, operation, sourceId);
        if (!hasMediaType(response, "text/event-stream")) {
          await discardBody(response);
          throw new TransportError(
            "invalid_content_type",
            operation,
            `watch response has Content-Type ${JSON.stringify(response.headers.get("content-type"))}; the protocol requires text/event-stream`,
            { status: 200 },
          );
        }
        deadline.disarm();
        return createWatchStream(response, deadline, { operation, idleMillis: timeouts.watchIdleMillis });
      } catch (error) {
        deadline.dispose();
        throw deadline.translate(error, operation, limit);
      }
    },
  };
}

/** Parses the base URL and makes its path end with "/" so `sync/...` resolves below it. */
function normalizeBaseUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch (error) {
    throw new TransportError("request_invalid", "configuration", `base URL ${String(input)} is not a URL`, {
      cause: error,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TransportError(
      "request_invalid",
      "configuration",
      `base URL must be http or https, got ${url.protocol}`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new TransportError(
      "request_invalid",
      "configuration",
      "base URL must not carry a query or fragment",
    );
  }
  if (!url.pathname.endsWith("/")) url.pathname = `${url.pathname}/`;
  return url;
}

/**
 * The endpoint's URL below `base`. The table's paths start with "/", which would replace the base
 * URL's path, so they resolve without it.
 */
function endpointUrl(
  base: URL,
  endpoint: EndpointContract,
  params: Readonly<Record<string, string>> | undefined,
  query: Query | undefined,
): URL {
  const url = new URL(fillPath(endpoint.path, params).slice(1), base);
  for (const [name, value] of Object.entries(query ?? {})) url.searchParams.append(name, value);
  return url;
}

/** A path parameter: never empty or a dot segment (which URL resolution would eat). */
function pathParam(operation: string, name: string, value: string): string {
  if (value === "" || value === "." || value === "..") {
    throw new TransportError(
      "request_invalid",
      operation,
      `${name} ${JSON.stringify(value)} cannot name a resource`,
    );
  }
  return value;
}

/** An envelope integer for the wire: a safe integer ≥ `min` (§0 "Envelope integers"). */
function wireInt(operation: string, name: string, value: number, min: 0 | 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    const rule = min === 1 ? "a positive" : "a non-negative";
    throw new TransportError("request_invalid", operation, `${name} ${value} must be ${rule} safe integer`);
  }
  return value;
}

/** A push row in KMP's member order; DELETE rows omit payload, INSERT/UPDATE must carry one. */
function pushRowJson(operation: string, row: PushRowInput, index: number): Record<string, unknown> {
  const json: Record<string, unknown> = {
    schema: row.schema,
    table: row.table,
    key: row.key,
    op: row.op,
    base_row_version: wireInt(operation, `rows[${index}].base_row_version`, row.base_row_version, 0),
  };
  if (row.op === "DELETE") return json;
  if (row.payload === undefined || row.payload === null) {
    throw new TransportError(
      "request_invalid",
      operation,
      `rows[${index}] is an ${row.op} without a payload`,
    );
  }
  json.payload = row.payload;
  return json;
}
