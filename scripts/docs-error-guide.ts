/**
 * What the docs site's Errors page says about each wire error code beyond its status: what it means
 * and what the person reading it should do. The codes and statuses come from ERROR_STATUS and what
 * our client does from its `wireReaction` switch (scripts/docs-reference.ts); the table is built
 * from all three, and the build fails when a code here is not in ERROR_STATUS or a code there is
 * missing here.
 */
import type { ErrorCode } from "@oversync/protocol";

export interface WireCodeGuide {
  /** What happened, in one sentence. */
  readonly meaning: string;
  /** What an app developer or operator does about it ("—" when the client handles it). */
  readonly action: string;
}

export const WIRE_CODE_GUIDE: Readonly<Record<ErrorCode, WireCodeGuide>> = {
  invalid_request: {
    meaning:
      "The request is malformed: a missing or bad `Oversync-Source-ID` header, a body that is not UTF-8 JSON, a bad query parameter.",
    action:
      "Fix the caller. Behind Express or another framework, check that no body parser read the body first ([Server guide](/server#express)).",
  },
  authentication_failed: {
    meaning: "The host's `authenticate` returned null, or an id it returned breaks the identity rules.",
    action:
      "Sign in again and send a valid bearer token; the client pauses automatic sync until a call succeeds.",
  },
  method_not_allowed: {
    meaning: "The path exists but not for this method (the `Allow` header lists the right ones).",
    action: "Fix the caller.",
  },
  not_found: {
    meaning: "No sync route at this path.",
    action:
      "Check the client's base URL and the handler's `basePath`; under a mount prefix see [Mounting under a path](/server#base-path).",
  },
  request_too_large: {
    meaning: "The request body is larger than the handler's `maxBodyBytes` (64 MiB by default).",
    action: "Lower the client's `uploadLimit` (rows per chunk) or raise `maxBodyBytes`.",
  },
  internal_error: {
    meaning: "An unexpected fault on a route without a code of its own; the server logged it.",
    action: "Read the server log (the handler's `logger`); the client retries.",
  },
  service_unavailable: {
    meaning: "The service is starting, draining, or has lost its database.",
    action: "Wait; the client retries. If it lasts, check PostgreSQL and `/syncx/health`.",
  },
  scope_uninitialized: {
    meaning:
      "The scope has never been initialized: no device connected to it and no `execWrite` wrote to it.",
    action:
      "Connect first (`attach()` does); a backend writes through `execWrite`, which initializes the scope.",
  },
  scope_initializing: {
    meaning: "Another device is seeding the scope with its local rows right now.",
    action: "Retry once that device has finished (or its lease has lapsed).",
  },
  connect_invalid: {
    meaning: "The connect body does not have the expected shape.",
    action: "Fix the caller.",
  },
  connect_failed: {
    meaning: "Connect failed on the server.",
    action: "Read the server log; the client retries.",
  },
  push_session_invalid: {
    meaning:
      "The push session request is inconsistent (a row count out of range, an initialization id where none is expected or missing).",
    action: "A client bug; report it with the message.",
  },
  push_session_create_failed: {
    meaning: "Creating a push session failed on the server.",
    action: "Read the server log; the client retries.",
  },
  initialization_stale: {
    meaning: "The seeding push belongs to an initialization that is no longer the scope's current one.",
    action: "The client drops the binding (`initialization_lease_invalid`): call `attach()` again.",
  },
  initialization_expired: {
    meaning: "The seeding lease ran out before the push finished.",
    action: "The client drops the binding (`initialization_lease_invalid`): call `attach()` again.",
  },
  history_pruned: {
    meaning:
      "Retention deleted history this request needs (this source's sequence, or the bundles a pull reads).",
    action: "The client recovers by itself: a rebuild from a snapshot, or source recovery then `rebuild()`.",
  },
  source_sequence_out_of_order: {
    meaning: "The push skips ahead of the next bundle id the server expects from this source.",
    action: "The client enters source recovery: call `rebuild()`.",
  },
  source_sequence_changed: {
    meaning:
      "This source already committed this bundle id with other contents (a restored backup, a copied database).",
    action: "The client enters source recovery: call `rebuild()`.",
  },
  source_retired: {
    meaning: "The server retired this source id (another device took over its stream).",
    action: "The client enters source recovery: call `rebuild()`.",
  },
  push_chunk_invalid: {
    meaning:
      "A pushed row is refused for good: a value its column cannot take, an unknown column, a bad key.",
    action:
      "The row waits in `client.rejectedChanges()`; write it again, or retry or discard it. After a breaking schema change see [Schema changes](/schema-changes).",
  },
  push_session_not_found: {
    meaning: "The push session does not exist (it was committed, deleted, or never created here).",
    action: "A client that deletes a finished session ignores it; otherwise push again.",
  },
  push_session_forbidden: {
    meaning: "The push session belongs to another scope.",
    action: "Fix the caller: a session id is only valid for the scope that created it.",
  },
  push_session_expired: {
    meaning: "The push session was left idle too long and was cleared.",
    action: "Push again.",
  },
  push_chunk_out_of_order: {
    meaning: "The chunk does not start at the row the session expects next.",
    action: "A client bug; report it with the message.",
  },
  push_chunk_failed: {
    meaning: "Staging a chunk failed on the server.",
    action: "Read the server log; the client retries.",
  },
  push_commit_invalid: {
    meaning:
      "The bundle cannot commit as staged: a unique, CHECK or foreign-key rule of the server's tables breaks.",
    action: "The offending change moves to `client.rejectedChanges()`; the rest of the bundle commits.",
  },
  push_conflict: {
    meaning: "A pushed row was based on an older version than the server holds.",
    action:
      "The client's resolver settles it (`serverWins` by default) and pushes again; `onConflict` tells the app.",
  },
  push_session_commit_failed: {
    meaning: "Committing the push failed on the server.",
    action: "Read the server log; the client retries (a commit is idempotent).",
  },
  push_session_delete_failed: {
    meaning: "Deleting a push session failed on the server.",
    action: "Read the server log; the client retries.",
  },
  committed_bundle_not_found: {
    meaning: "The committed bundle the client asked for is not readable (yet).",
    action: "The client fetches the page again.",
  },
  committed_bundle_chunk_invalid: {
    meaning: "The committed-rows query is malformed.",
    action: "Fix the caller.",
  },
  committed_bundle_rows_failed: {
    meaning: "Reading committed rows failed on the server.",
    action: "Read the server log; the client retries.",
  },
  checkpoint_ahead: {
    meaning:
      "The client's checkpoint is beyond anything the server has committed (the server's database was reset or restored).",
    action:
      "The client rebuilds from a snapshot. If many devices report it, check which database the server uses.",
  },
  pull_invalid: {
    meaning: "The pull query is malformed.",
    action: "Fix the caller.",
  },
  pull_failed: {
    meaning: "Pull failed on the server.",
    action: "Read the server log; the client retries.",
  },
  snapshot_build_capacity: {
    meaning: "The server is building as many snapshots as it allows at once (sent with `Retry-After`).",
    action: "The client waits and retries.",
  },
  snapshot_session_limit_exceeded: {
    meaning:
      "The scope is too large for one snapshot under the advertised limits (`dimension`: rows, bytes or one row's bytes).",
    action: "Raise the server's snapshot `limits`, or keep such data out of synced tables.",
  },
  source_replacement_invalid: {
    meaning: "The server refused the source replacement a recovery rebuild asked for.",
    action:
      "The client keeps the reserved replacement (`source_replacement_refused`); contact support with the source ids.",
  },
  snapshot_session_invalid: {
    meaning: "The snapshot session request is malformed.",
    action: "Fix the caller.",
  },
  snapshot_session_create_failed: {
    meaning: "Creating a snapshot session failed on the server.",
    action: "Read the server log; the client retries.",
  },
  snapshot_chunk_too_small: {
    meaning: "The chunk's `max_bytes` is smaller than the next row (`required_byte_count` says how much).",
    action: "Raise the client's `snapshotChunkBytes`.",
  },
  snapshot_chunk_capacity: {
    meaning: "The server is serving as many snapshot chunks as it allows at once (sent with `Retry-After`).",
    action: "The client waits and retries.",
  },
  snapshot_chunk_invalid: {
    meaning: "The snapshot chunk query is malformed.",
    action: "Fix the caller.",
  },
  snapshot_session_not_found: {
    meaning: "The snapshot session does not exist (deleted, or never created here).",
    action: "The client starts the download over on a new session.",
  },
  snapshot_session_forbidden: {
    meaning: "The snapshot session belongs to another scope.",
    action: "Fix the caller.",
  },
  snapshot_session_expired: {
    meaning: "The snapshot session was idle too long and was cleared.",
    action: "The client starts the download over on a new session.",
  },
  snapshot_chunk_failed: {
    meaning: "Reading a snapshot chunk failed on the server.",
    action: "Read the server log; the client retries.",
  },
  snapshot_session_delete_failed: {
    meaning: "Deleting a snapshot session failed on the server.",
    action: "Read the server log; the client retries.",
  },
  bundle_change_watch_forbidden: {
    meaning: "The watch option `allow` refused this caller.",
    action: "Nothing: the client polls instead.",
  },
  bundle_change_watch_disabled: {
    meaning: "The service was created without `watch`.",
    action: "Nothing: the client polls. Pass `watch` to `createSyncService` for wake-ups.",
  },
  bundle_change_watch_failed: {
    meaning: "Opening the watch stream failed on the server.",
    action: "Read the server log; the client reconnects.",
  },
  bundle_change_watch_limit_exceeded: {
    meaning: "The user already holds the most watch streams one process serves (`maxStreamsPerUser`).",
    action: "Close streams the app no longer uses (one client per database); the client polls meanwhile.",
  },
  health_failed: {
    meaning: "Reading the health counters failed.",
    action: "Read the server log.",
  },
  status_failed: {
    meaning: "Reading the status counters failed.",
    action: "Read the server log.",
  },
  user_state_not_found: {
    meaning: "A test helper named a scope that has no sync state.",
    action: "Connect a device for that user first.",
  },
  retention_floor_update_failed: {
    meaning: "The retention-floor test helper failed.",
    action: "Read the server log.",
  },
};

/** Codes of the client's and the server's error unions that carry no doc comment of their own. */
export const UNDOCUMENTED_CODES: Readonly<Record<string, string>> = {
  transient_retry_exhausted:
    "The server or the network stayed down through every retry of the transient policy (`transientRetryPolicy`); the last failure is the `cause`. Sync again later.",
  snapshot_capacity_retry_exhausted:
    "The server stayed at snapshot capacity (429) for the whole wait; the last answer is the `cause`. Sync again later.",
  invalid_server_write:
    "`execWrite` or `withinSyncBundle` was called with a bad scope id, writer id or source bundle id (the message names it); nothing was written.",
  no_captured_changes:
    "The `execWrite` callback changed no row of a registered table, so there is no bundle to commit; everything was rolled back.",
  transaction_closed:
    "The `tx` of a write callback was used after the callback returned (a query left running without `await`).",
  http_status:
    "A non-2xx answer without one of our codes at its own status (a proxy's 502, a framework's 404); `status` and `bodyCode` tell what came. Check what sits between the client and the sync handler.",
};
