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
  StatusResponse,
  WatchQuery,
} from "@oversync/protocol";

/**
 * Who is calling, and on whose data. The host's authentication yields the user and the scope (the
 * handler's `authenticate`; see AuthenticatedUser), the `Oversync-Source-ID` header the source.
 */
export interface Actor {
  /**
   * The scope whose rows the call reads and writes: what `_sync_scope_id` holds, and the key of
   * every bundle counter, lock, session and watch. A user's own scope has the user's id; a shared
   * one (a workspace) has an id the host picks that no user id can take.
   */
  readonly scopeId: string;
  /**
   * The person (or service) behind the call, as the host authenticated them. The runtime scopes
   * nothing by it: it is for the host's hooks and logs, and caps the watch streams one user holds.
   */
  readonly userId: string;
  /** The device or writer: the `Oversync-Source-ID` header. Unique within the scope. */
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
export type ServiceLifecycle = StatusResponse["lifecycle"];

/**
 * The `/syncx/status` body (June's fields, protocol-latest §1.13); `/syncx/health` answers its
 * `status` and `lifecycle` only.
 */
export type ServiceStatus = StatusResponse;

/**
 * The sync runtime as the HTTP layer sees it: one method per endpoint, answering the error codes of
 * that endpoint's entry in the protocol's endpoint table (ENDPOINTS) and nothing else. Every method
 * except health and status answers 503 service_unavailable before bootstrap and once close() has
 * begun, and every one when the database cannot be reached or a call's connection drops under it
 * (clients retry it); a source id that breaks the identity rules (protocol identity.ts: visible
 * ASCII, at most MAX_IDENTITY_BYTES) is 400 invalid_request, a user or scope id that does (empty,
 * NUL, lone surrogate, too long) 401 authentication_failed. An unexpected fault becomes the
 * endpoint's failure code.
 */
export interface SyncService {
  /** `GET /sync/capabilities`. The actor is optional: capabilities work without one. */
  capabilities(actor?: Actor): Promise<CapabilitiesResponse>;
  /** `POST /sync/connect`: resolves how this source attaches to the actor's scope. */
  connect(actor: Actor, request: ConnectRequest): Promise<ConnectResponse>;
  /** `POST /sync/push-sessions`: opens a staging session or reports the tuple already committed. */
  createPushSession(actor: Actor, request: PushCreateInput): Promise<PushCreateResponse>;
  /**
   * `POST /sync/push-sessions/{push_id}/chunks`. `pushId` is the raw path segment. Rows are
   * validated before any lookup (push_chunk_invalid), their snapshot size against
   * max_bytes_per_snapshot_row included, so a bad row never costs a session lock.
   */
  uploadPushChunk(actor: Actor, pushId: string, request: PushChunkRequest): Promise<PushChunkResponse>;
  /**
   * `POST /sync/push-sessions/{push_id}/commit`: applies the staged rows as one bundle. Incomplete
   * or tampered staging, rows that break a business-schema rule, and a row whose stored form is above
   * max_bytes_per_snapshot_row are push_commit_invalid; a conflict is push_conflict with `conflict`.
   */
  commitPushSession(actor: Actor, pushId: string): Promise<PushCommitResponse>;
  /** `DELETE /sync/push-sessions/{push_id}` (answered 204). */
  deletePushSession(actor: Actor, pushId: string): Promise<void>;
  /** `GET /sync/committed-bundles/{bundle_seq}/rows`: one page of a committed bundle (`max_rows` is clamped). */
  getCommittedBundleRows(actor: Actor, request: CommittedRowsRequest): Promise<CommittedRowsResponse>;
  /**
   * `GET /sync/pull`: complete bundles after a checkpoint, up to a frozen stable seq (`max_bundles`
   * is clamped).
   */
  pull(actor: Actor, request: PullInput): Promise<PullResponse>;
  /**
   * `POST /sync/snapshot-sessions`: freezes the scope's live rows at the latest bundle seq as a
   * session read in chunks; with `source_replacement`, retires the header source and reserves the
   * new one in the same transaction. snapshot_build_capacity is a SnapshotCapacityError, sent with
   * `Retry-After`.
   */
  createSnapshotSession(actor: Actor, request: SnapshotCreateRequest): Promise<SnapshotSession>;
  /**
   * `GET /sync/snapshot-sessions/{snapshot_id}`: the rows after `after_row_ordinal` within
   * `max_rows` and `max_bytes` (both clamped). snapshot_chunk_capacity is a SnapshotCapacityError,
   * sent with `Retry-After`.
   */
  getSnapshotChunk(actor: Actor, request: SnapshotChunkInput): Promise<SnapshotChunkPage>;
  /** `DELETE /sync/snapshot-sessions/{snapshot_id}` (answered 204), expired or not. */
  deleteSnapshotSession(actor: Actor, snapshotId: string): Promise<void>;
  /**
   * `GET /sync/watch`: subscribes to wake-ups for the bundles of the actor's scope, whoever commits
   * them. When `after_bundle_seq` is below the latest bundle, the first event (the latest seq, no
   * source fields) is ready at once. bundle_change_watch_forbidden comes from the host's hook;
   * bundle_change_watch_limit_exceeded means the actor's user holds `watch.maxStreamsPerUser`
   * streams in this process.
   */
  openBundleWatch(actor: Actor, query: WatchQuery): Promise<BundleWatch>;
  /**
   * Open watch streams on `scopeId` in this process, whichever users hold them (for
   * `/test/watch-subscribers`, whose `user_id` names a user's own scope).
   */
  watchSubscriberCount(scopeId: string): number;
  /**
   * The verdict behind `GET /syncx/health`: answered 200 when `status` is healthy, otherwise 503,
   * with `status` and `lifecycle` only (anyone may ask). Its cost does not grow with the data: it
   * probes the database with one trivial query and carries counters up to ten seconds old.
   */
  health(): Promise<ServiceStatus>;
  /**
   * The `/syncx/status` body. The counters aggregate over every scope and bundle: `"current"` (the
   * default, for a host's own admin paths) reads them now; `"recent"` carries them up to ten seconds
   * old like health, which is what `GET /syncx/status` answers admins, so its cost does not grow
   * with the data.
   */
  status(counters?: "recent" | "current"): Promise<ServiceStatus>;
  /** Stops accepting calls (they get 503 service_unavailable), waits for in-flight ones, then closes. */
  close(): Promise<void>;
}
