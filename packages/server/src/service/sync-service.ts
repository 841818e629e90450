/**
 * The service surface the HTTP layer calls. Every method takes an already authenticated Actor and a
 * request object that the protocol decoders have validated, and returns the response body exactly
 * as it goes on the wire. Every failure is thrown as an OversyncError carrying its wire code, status
 * and extras; unexpected faults become the endpoint's 5xx code, never a stack trace.
 */
import type {
  BundleChangeEvent,
  CapabilitiesResponse,
  CommittedRowsQuery,
  CommittedRowsResponse,
  ConnectRequest,
  ConnectResponse,
  FeatureName,
  PullQuery,
  PullResponse,
  PushChunkRequest,
  PushChunkResponse,
  PushCommitResponse,
  PushCreateRequest,
  PushCreateResponse,
  SnapshotCreateRequest,
  SnapshotRowText,
  SnapshotSession,
  WatchQuery,
} from "@oversync/protocol";
import type { ServiceCounters } from "./service-status.js";

/** Who is calling: the trusted user id from the host's auth and the `Oversync-Source-ID` header. */
export interface Actor {
  readonly userId: string;
  readonly sourceId: string;
}

/** `POST /sync/push-sessions` body; `initialization_id` may be left out. */
export type PushCreateInput = Omit<PushCreateRequest, "initialization_id"> & {
  readonly initialization_id?: string | undefined;
};

/** `GET /sync/pull` query; `max_bundles` and `target_bundle_seq` may be left out. */
export type PullInput = Omit<PullQuery, "target_bundle_seq" | "max_bundles"> & {
  readonly target_bundle_seq?: number | undefined;
  readonly max_bundles?: number | undefined;
};

/** `GET /sync/committed-bundles/{bundle_seq}/rows`: the path's bundle_seq plus the query. */
export type CommittedRowsRequest = CommittedRowsQuery & { readonly bundle_seq: number };

/**
 * `GET /sync/snapshot-sessions/{snapshot_id}`: the raw path segment plus the query; absent limits
 * take the server defaults.
 */
export interface SnapshotChunkInput {
  readonly snapshot_id: string;
  readonly after_row_ordinal?: number | undefined;
  readonly max_rows?: number | undefined;
  readonly max_bytes?: number | undefined;
}

/**
 * A snapshot chunk with each row as the exact JSON text stored at create; the HTTP layer writes it
 * with formatSnapshotChunkBody, so `byte_count` is the byte length of the row texts in the body.
 */
export interface SnapshotChunkPage {
  readonly snapshot_id: string;
  readonly snapshot_bundle_seq: number;
  readonly rows: readonly SnapshotRowText[];
  readonly next_row_ordinal: number;
  readonly has_more: boolean;
  readonly byte_count: number;
}

/**
 * One open `/sync/watch` stream as the HTTP layer consumes it: call next() one call at a time and
 * frame what it yields; close() when the client goes away.
 */
export interface BundleWatch {
  /** A stream idle this long gets a `: heartbeat` comment. */
  readonly heartbeatIntervalMs: number;
  /**
   * The next event to send (the newest pending one), or "idle" when none came within `timeoutMs`,
   * or "closed" once the watch has ended (closed by either side, or the service closing).
   */
  next(timeoutMs: number): Promise<BundleChangeEvent | "idle" | "closed">;
  /** Ends the watch and unsubscribes it; idempotent. */
  close(): void;
}

/** Where the service is in its life: serving, draining in-flight calls, or closed. */
export type ServiceLifecycle = "running" | "shutting_down" | "closed";

/** The `/syncx/status` and `/syncx/health` body (June's fields, protocol-latest §1.13). */
export interface ServiceStatus extends ServiceCounters {
  readonly status: "healthy" | "unhealthy";
  readonly version: string;
  readonly app_name: string;
  readonly lifecycle: ServiceLifecycle;
  readonly accepting_operations: boolean;
  readonly inflight_operations: number;
  readonly registered_tables: string[];
  readonly features: Record<FeatureName, boolean>;
}

/**
 * The sync runtime as the HTTP layer sees it. Every method except health and status answers 503
 * service_unavailable before bootstrap and once close() has begun, and every one when the database
 * cannot be reached or a call's connection drops under it (clients retry it); a source id that breaks the
 * identity rules (protocol identity.ts: visible ASCII, at most MAX_IDENTITY_BYTES) is 400
 * invalid_request, a user id that does (empty, NUL, lone surrogate, too long) 401
 * authentication_failed.
 */
export interface SyncService {
  /** `GET /sync/capabilities`. The actor is optional: capabilities work without one. */
  capabilities(actor?: Actor): Promise<CapabilitiesResponse>;
  /** `POST /sync/connect`: resolves how this source attaches to the user's scope. Errors: 500 connect_failed. */
  connect(actor: Actor, request: ConnectRequest): Promise<ConnectResponse>;
  /**
   * `POST /sync/push-sessions`: opens a staging session or reports the tuple already committed.
   * Errors: 400 push_session_invalid; 409 scope_uninitialized, scope_initializing,
   * initialization_stale, history_pruned, source_sequence_out_of_order, source_retired;
   * 410 initialization_expired; 500 push_session_create_failed.
   */
  createPushSession(actor: Actor, request: PushCreateInput): Promise<PushCreateResponse>;
  /**
   * `POST /sync/push-sessions/{push_id}/chunks`. `pushId` is the raw path segment. Errors: 400
   * push_chunk_invalid (rows are validated before any lookup, their snapshot size against
   * max_bytes_per_snapshot_row included); 403 push_session_forbidden; 404
   * push_session_not_found; 409 push_chunk_out_of_order, initialization_stale; 410
   * push_session_expired, initialization_expired; 500 push_chunk_failed.
   */
  uploadPushChunk(actor: Actor, pushId: string, request: PushChunkRequest): Promise<PushChunkResponse>;
  /**
   * `POST /sync/push-sessions/{push_id}/commit`: applies the staged rows as one bundle. Errors: 400
   * push_commit_invalid (incomplete or tampered staging, rows that break a business-schema rule, or
   * a row whose stored form is above max_bytes_per_snapshot_row);
   * 403; 404; 409 push_conflict (with `conflict`), source_sequence_changed, source_retired,
   * initialization_stale; 410 push_session_expired, initialization_expired; 500
   * push_session_commit_failed.
   */
  commitPushSession(actor: Actor, pushId: string): Promise<PushCommitResponse>;
  /** `DELETE /sync/push-sessions/{push_id}` (answered 204). Errors: 403, 404, 410, 500 push_session_delete_failed. */
  deletePushSession(actor: Actor, pushId: string): Promise<void>;
  /**
   * `GET /sync/committed-bundles/{bundle_seq}/rows`: one page of a committed bundle (`max_rows` is
   * clamped). Errors: 404 committed_bundle_not_found; 409 history_pruned; 500
   * committed_bundle_rows_failed.
   */
  getCommittedBundleRows(actor: Actor, request: CommittedRowsRequest): Promise<CommittedRowsResponse>;
  /**
   * `GET /sync/pull`: complete bundles after a checkpoint, up to a frozen stable seq (`max_bundles`
   * is clamped). Errors: 409 scope_uninitialized, scope_initializing, checkpoint_ahead,
   * history_pruned; 500 pull_failed.
   */
  pull(actor: Actor, request: PullInput): Promise<PullResponse>;
  /**
   * `POST /sync/snapshot-sessions`: freezes the scope's live rows at the latest bundle seq as a
   * session read in chunks; with `source_replacement`, retires the header source and reserves the
   * new one in the same transaction. Errors: 409 scope_uninitialized, scope_initializing,
   * source_retired (with `source_id`, `replaced_by_source_id`), source_replacement_invalid,
   * snapshot_session_limit_exceeded (with `dimension`, `actual`, `limit`); 429
   * snapshot_build_capacity (SnapshotCapacityError, sent with `Retry-After`); 500
   * snapshot_session_create_failed.
   */
  createSnapshotSession(actor: Actor, request: SnapshotCreateRequest): Promise<SnapshotSession>;
  /**
   * `GET /sync/snapshot-sessions/{snapshot_id}`: the rows after `after_row_ordinal` within
   * `max_rows` and `max_bytes` (both clamped). Errors: 400 snapshot_chunk_invalid,
   * snapshot_chunk_too_small (with `required_byte_count`); 403 snapshot_session_forbidden; 404
   * snapshot_session_not_found; 410 snapshot_session_expired; 429 snapshot_chunk_capacity
   * (SnapshotCapacityError, sent with `Retry-After`); 500 snapshot_chunk_failed.
   */
  getSnapshotChunk(actor: Actor, request: SnapshotChunkInput): Promise<SnapshotChunkPage>;
  /**
   * `DELETE /sync/snapshot-sessions/{snapshot_id}` (answered 204), expired or not. Errors: 403
   * snapshot_session_forbidden; 404 snapshot_session_not_found; 500 snapshot_session_delete_failed.
   */
  deleteSnapshotSession(actor: Actor, snapshotId: string): Promise<void>;
  /**
   * `GET /sync/watch`: subscribes to wake-ups for the actor's bundles. When `after_bundle_seq` is
   * below the latest bundle, the first event (the latest seq, no source fields) is ready at once.
   * Errors: 503 bundle_change_watch_disabled; 403 bundle_change_watch_forbidden (the host's hook);
   * 409 scope_uninitialized, scope_initializing; 429 bundle_change_watch_limit_exceeded (the user
   * holds `watch.maxStreamsPerUser` streams in this process); 500 bundle_change_watch_failed.
   */
  openBundleWatch(actor: Actor, query: WatchQuery): Promise<BundleWatch>;
  /** Open watch streams of `userId` in this process (for `/test/watch-subscribers`). */
  watchSubscriberCount(userId: string): number;
  /** `GET /syncx/health`: answered 200 when `status` is healthy, otherwise 503. Errors: 500 health_failed. */
  health(): Promise<ServiceStatus>;
  /** `GET /syncx/status`: answered 200. Errors: 500 status_failed. */
  status(): Promise<ServiceStatus>;
  /** Stops accepting calls (they get 503 service_unavailable), waits for in-flight ones, then closes. */
  close(): Promise<void>;
}
