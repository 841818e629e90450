/**
 * What the client does with each wire error code, in one exhaustive switch: a code added to
 * `ErrorCode` fails to compile here until it is given a reaction. The steps that can apply a
 * reaction ask this table (README "Wire error reactions" lists which step applies which); a code
 * whose reaction the current step does not apply reaches the app unchanged.
 */
import type { ErrorCode } from "@oversync/protocol";

/** What the engine does after a wire error code. */
export type WireReaction =
  /**
   * A 5xx: the whole operation runs again under the transient policy (every step resumes).
   * `isTransientFailure` applies it by status, so a 5xx without a known code counts too.
   */
  | "retry"
  /** 429 capacity: the snapshot call repeats after Retry-After, for up to 30 s. */
  | "wait_for_capacity"
  /** The committed bundle is not readable yet: the committed-rows page is fetched again. */
  | "refetch"
  /** The snapshot session is gone: the download starts over on a fresh session. */
  | "replace_snapshot_session"
  /** This source's stream cannot continue: source recovery, then `rebuild()` rotates the source. */
  | "recover_source"
  /** The checkpoint cannot continue: a keep-source rebuild from a snapshot (the rebuild gate first). */
  | "rebuild"
  /** The resolver settles the conflicting row and the push runs again. */
  | "resolve_conflict"
  /** A change refused for good: the push narrows it down and moves it to the rejected changes. */
  | "reject_change"
  /** The seeding lease is gone: the binding is dropped (`initialization_lease_invalid`), outbox kept. */
  | "reattach"
  /** The recovery rebuild's replacement was refused: the reservation is kept (`source_replacement_refused`). */
  | "keep_recovery"
  /** Watching is refused: the automatic downloads poll instead. */
  | "poll"
  /** Nothing to do on the device: the error reaches the app as it came. */
  | "surface";

/** The request a code answered; only `history_pruned` means different things on different requests. */
export type WireRequest = "push" | "committed_rows" | "pull" | "snapshot" | "watch";

/** The client's reaction to `code` answering `request`. */
export function wireReaction(code: ErrorCode, request: WireRequest): WireReaction {
  switch (code) {
    case "internal_error":
    case "service_unavailable":
    case "connect_failed":
    case "push_session_create_failed":
    case "push_chunk_failed":
    case "push_session_commit_failed":
    case "push_session_delete_failed":
    case "committed_bundle_rows_failed":
    case "pull_failed":
    case "snapshot_session_create_failed":
    case "snapshot_chunk_failed":
    case "snapshot_session_delete_failed":
    case "bundle_change_watch_disabled":
    case "bundle_change_watch_failed":
    case "health_failed":
    case "status_failed":
    case "retention_floor_update_failed":
      return "retry";
    case "snapshot_build_capacity":
    case "snapshot_chunk_capacity":
      return "wait_for_capacity";
    case "committed_bundle_not_found":
      return "refetch";
    case "snapshot_session_not_found":
    case "snapshot_session_expired":
      return "replace_snapshot_session";
    case "history_pruned":
      // A push (protocol §1.3, §1.5) or a source replacement (§1.9) finds this source's sequence
      // pruned; a committed fetch (§1.7) or a pull (§1.8) finds the bundles it reads pruned.
      return request === "push" || request === "snapshot" ? "recover_source" : "rebuild";
    case "source_sequence_out_of_order":
    case "source_sequence_changed":
    case "source_retired":
      return "recover_source";
    case "checkpoint_ahead":
      return "rebuild";
    case "push_conflict":
      return "resolve_conflict";
    case "push_chunk_invalid":
    case "push_commit_invalid":
      return "reject_change";
    case "initialization_stale":
    case "initialization_expired":
      return "reattach";
    case "source_replacement_invalid":
      return "keep_recovery";
    case "bundle_change_watch_forbidden":
      return "poll";
    case "invalid_request":
    case "authentication_failed":
    case "method_not_allowed":
    case "not_found":
    case "request_too_large":
    case "scope_uninitialized":
    case "scope_initializing":
    case "connect_invalid":
    case "push_session_invalid":
    case "push_session_not_found":
    case "push_session_forbidden":
    case "push_session_expired":
    case "push_chunk_out_of_order":
    case "committed_bundle_chunk_invalid":
    case "pull_invalid":
    case "snapshot_session_limit_exceeded":
    case "snapshot_session_invalid":
    case "snapshot_chunk_too_small":
    case "snapshot_chunk_invalid":
    case "snapshot_session_forbidden":
    case "bundle_change_watch_limit_exceeded":
    case "user_state_not_found":
      return "surface";
    default: {
      // Reached by no code: a new one makes `code` not `never` here and stops the build.
      const unhandled: never = code;
      return unhandled;
    }
  }
}
