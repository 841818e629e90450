/**
 * The client's error family: every code is pinned here and belongs to exactly one member, every
 * member is recognised by `isSyncClientError` and names itself by its class, and the client exports
 * every class of the family (the wire classes re-exported from @oversync/protocol, never a second
 * class under the same name).
 */
import * as protocol from "@oversync/protocol";
import {
  ERROR_CODES,
  type ErrorCode,
  HttpStatusError,
  OversyncError,
  type OversyncErrorExtras,
  ProtocolViolationError,
  type ProtocolViolationCode,
  SNAPSHOT_CAPACITY_ERROR_CODES,
} from "@oversync/protocol";
import { describe, expect, expectTypeOf, it } from "vitest";
import { SqliteError } from "./drivers/sqlite-error.js";
import type { ConflictContext } from "./engine/conflict-resolvers.js";
import {
  CheckpointRecoveryBlockedError,
  InvalidConflictResolutionError,
  PendingPushReplayError,
  PushConflictRetryExhaustedError,
  SourceRecoveryRequiredError,
  SourceReplacementDivergedError,
  TableContractMismatchError,
} from "./engine/sync-errors.js";
import {
  type ClientErrorCode,
  OversyncClientError,
  type SyncClientError,
  type SyncClientErrorCode,
  isSyncClientError,
} from "./errors.js";
import * as client from "./index.js";
import {
  RetryExhaustedError,
  type RetryExhaustedCode,
  SnapshotCapacityError,
  TransportError,
  type TransportErrorCode,
} from "./transport/transport-errors.js";

// The codes are a public contract: renaming or dropping one breaks these lists at compile time.
const CLIENT_CODES = [
  "config_invalid",
  "sqlite_error",
  "sql_param_invalid",
  "integer_out_of_range",
  "driver_closed",
  "driver_unavailable",
  "store_invalid",
  "payload_invalid",
  "invalid_argument",
  "client_closed",
  "database_already_owned",
  "sync_operation_in_progress",
  "owner_tab_lost",
  "open_required",
  "attach_required",
  "destructive_transition_in_progress",
  "attach_lifecycle_unsupported",
  "attach_binding_conflict",
  "attach_local_state_conflict",
  "table_contract_mismatch",
  "pending_push_replay",
  "rebuild_required",
  "source_recovery_required",
  "source_replacement_diverged",
  "source_replacement_refused",
  "checkpoint_recovery_blocked",
  "push_conflict_retry_exhausted",
  "invalid_conflict_resolution",
  "initialization_lease_invalid",
] as const satisfies readonly ClientErrorCode[];
const TRANSPORT_CODES = [
  "network_error",
  "timeout",
  "body_too_large",
  "invalid_content_type",
  "invalid_content_encoding",
  "request_invalid",
] as const satisfies readonly TransportErrorCode[];
const RETRY_CODES = [
  "transient_retry_exhausted",
  "snapshot_capacity_retry_exhausted",
] as const satisfies readonly RetryExhaustedCode[];
const VIOLATION_CODES = [
  "invalid_response",
  "protocol_version_mismatch",
  "invalid_capabilities",
  "source_sequence_mismatch",
  "invalid_snapshot_session",
  "invalid_snapshot_chunk",
  "invalid_snapshot_row",
  "invalid_watch_event",
] as const satisfies readonly ProtocolViolationCode[];
const HTTP_STATUS_CODES = ["http_status"] as const;

const ALL_CODES: readonly SyncClientErrorCode[] = [
  ...CLIENT_CODES,
  ...TRANSPORT_CODES,
  ...RETRY_CODES,
  ...VIOLATION_CODES,
  ...ERROR_CODES,
  ...HTTP_STATUS_CODES,
];

/** The members of the family whose `code` can be C. */
type MembersWith<C extends SyncClientErrorCode, M = SyncClientError> = M extends SyncClientError
  ? C extends M["code"]
    ? M
    : never
  : never;
type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;
/** The codes more than one member can carry: none, so a code switch always narrows to one member. */
type AmbiguousCodes = {
  [C in SyncClientErrorCode]: IsUnion<MembersWith<C>> extends false ? never : C;
}[SyncClientErrorCode];

/** The local failures with a class of their own, one instance each. */
const DETAILED: { readonly [C in SyncClientErrorCode]?: () => SyncClientError } = {
  sqlite_error: () => new SqliteError("no such table: t", "SQLITE_ERROR"),
  source_recovery_required: () => new SourceRecoveryRequiredError("source_retired"),
  source_replacement_diverged: () => new SourceReplacementDivergedError("local", "remote"),
  checkpoint_recovery_blocked: () => new CheckpointRecoveryBlockedError("push_failed", 1n, 0n, "none"),
  push_conflict_retry_exhausted: () => new PushConflictRetryExhaustedError(3, 1n),
  invalid_conflict_resolution: () =>
    new InvalidConflictResolutionError({} as ConflictContext, undefined, "the resolver answered nothing"),
  pending_push_replay: () => new PendingPushReplayError("rebuild()", 1n),
  table_contract_mismatch: () => new TableContractMismatchError("tables differ"),
};

/** The extras a wire code cannot be sent without. */
const REQUIRED_EXTRAS: { readonly [C in ErrorCode]?: OversyncErrorExtras } = {
  source_retired: { source_id: "source-1" },
  snapshot_session_limit_exceeded: { dimension: "row_count", actual: 2, limit: 1 },
  snapshot_chunk_too_small: { required_byte_count: 1 },
};

/** One error of the family carrying `code`, built as the client builds it. */
function sampleOf(code: SyncClientErrorCode): SyncClientError {
  const detailed = DETAILED[code];
  if (detailed !== undefined) return detailed();
  if (includes(CLIENT_CODES, code)) return new OversyncClientError(code, "m") as SyncClientError;
  if (includes(TRANSPORT_CODES, code)) return new TransportError(code, "pull", "m");
  if (includes(RETRY_CODES, code)) {
    return new RetryExhaustedError(code, {
      operation: "pull",
      attempts: 3,
      elapsedMillis: 1,
      cause: undefined,
    });
  }
  if (includes(VIOLATION_CODES, code)) return new ProtocolViolationError(code, "m");
  if (includes(SNAPSHOT_CAPACITY_ERROR_CODES, code)) return new SnapshotCapacityError(code, "m", null);
  if (includes(ERROR_CODES, code)) {
    return new OversyncError(code, "m", { extras: REQUIRED_EXTRAS[code] }) as SyncClientError;
  }
  return new HttpStatusError(502, undefined, "m");
}

function includes<T extends string>(list: readonly T[], code: string): code is T {
  return (list as readonly string[]).includes(code);
}

describe("the client's error family", () => {
  it("pins every code and gives each to exactly one member", () => {
    expectTypeOf<(typeof CLIENT_CODES)[number]>().toEqualTypeOf<ClientErrorCode>();
    expectTypeOf<(typeof TRANSPORT_CODES)[number]>().toEqualTypeOf<TransportErrorCode>();
    expectTypeOf<(typeof RETRY_CODES)[number]>().toEqualTypeOf<RetryExhaustedCode>();
    expectTypeOf<(typeof VIOLATION_CODES)[number]>().toEqualTypeOf<ProtocolViolationCode>();
    expectTypeOf<SyncClientErrorCode>().toEqualTypeOf<
      | ClientErrorCode
      | TransportErrorCode
      | RetryExhaustedCode
      | ProtocolViolationCode
      | ErrorCode
      | "http_status"
    >();
    expectTypeOf<AmbiguousCodes>().toBeNever();
    expect(new Set(ALL_CODES).size).toBe(ALL_CODES.length);
  });

  it("recognises one error of every code, carrying that code", () => {
    for (const code of ALL_CODES) {
      const error = sampleOf(code);
      expect(isSyncClientError(error), code).toBe(true);
      expect(error.code).toBe(code);
    }
  });

  it("leaves errors from outside the family alone", () => {
    for (const error of [
      new Error("x"),
      new TypeError("x"),
      new DOMException("aborted", "AbortError"),
      "x",
    ]) {
      expect(isSyncClientError(error)).toBe(false);
    }
  });

  it("narrows a code switch to the member and its fields", () => {
    const detail = (error: SyncClientError): unknown => {
      switch (error.code) {
        case "source_recovery_required":
          return error.reason;
        case "sqlite_error":
          return error.sqliteCode;
        case "snapshot_build_capacity":
        case "snapshot_chunk_capacity":
          return error.retryAfterMillis;
        case "push_conflict":
          return error.extras.conflict;
        case "http_status":
          return error.bodyCode;
        case "transient_retry_exhausted":
          return error.attempts;
        default:
          return undefined;
      }
    };
    expect(detail(sampleOf("source_recovery_required"))).toBe("source_retired");
    expect(detail(sampleOf("sqlite_error"))).toBe("SQLITE_ERROR");
    expect(detail(sampleOf("snapshot_chunk_capacity"))).toBeNull();
    expect(detail(sampleOf("transient_retry_exhausted"))).toBe(3);
  });

  it("names every class by itself; the client exports each, and no other class has its name", () => {
    const classes = new Map<string, unknown>();
    for (const code of ALL_CODES) {
      const error = sampleOf(code);
      expect(error.name, code).toBe(error.constructor.name);
      classes.set(error.name, error.constructor);
    }
    const exported = (module: object, name: string) => (module as Record<string, unknown>)[name];
    for (const [name, errorClass] of classes) {
      expect(exported(client, name), name).toBe(errorClass);
      // The wire classes are the protocol's, re-exported: one class under one name.
      if (exported(protocol, name) !== undefined) expect(exported(protocol, name), name).toBe(errorClass);
    }
  });
});
