/**
 * The endpoint contract (protocol-latest §1 and §5): one entry per endpoint with its method, path,
 * auth, request and response shapes with their decoders, the 5xx code an unexpected fault on it is
 * answered with, and the error codes it may answer. The server's router and service, the client's
 * transport, the test fakes and the OpenAPI document (docs/openapi.yaml) read these facts from here
 * and nowhere else, so they cannot drift apart.
 */
import type { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "./error-codes.js";
import { capabilitiesResponseSchema, decodeCapabilitiesBody } from "./wire/capabilities.js";
import {
  committedRowsQuerySchema,
  committedRowsResponseSchema,
  decodeCommittedRowsRequest,
  decodeCommittedRowsResponse,
} from "./wire/committed-rows.js";
import {
  connectRequestSchema,
  connectResponseSchema,
  decodeConnectRequest,
  decodeConnectResponse,
} from "./wire/connect.js";
import { healthResponseSchema, statusResponseSchema } from "./wire/health.js";
import { decodePullQuery, decodePullResponse, pullQuerySchema, pullResponseSchema } from "./wire/pull.js";
import {
  decodePushChunkRequest,
  decodePushChunkResponse,
  decodePushCommitResponse,
  decodePushCreateRequest,
  decodePushCreateResponse,
  pushChunkRequestSchema,
  pushChunkResponseSchema,
  pushCommitResponseSchema,
  pushCreateRequestSchema,
  pushCreateResponseSchema,
} from "./wire/push.js";
import { envelopeInt, nonBlankString, sessionTokenSchema } from "./wire/shared.js";
import {
  decodeSnapshotChunkBody,
  decodeSnapshotChunkQuery,
  decodeSnapshotCreateRequest,
  decodeSnapshotSessionBody,
  snapshotChunkBodySchema,
  snapshotChunkQuerySchema,
  snapshotCreateRequestSchema,
  snapshotSessionSchema,
} from "./wire/snapshot.js";
import {
  decodeDummySigninRequest,
  decodeRetentionFloorRequest,
  decodeWatchSubscribersQuery,
  dummySigninRequestSchema,
  dummySigninResponseSchema,
  retentionFloorRequestSchema,
  retentionFloorResponseSchema,
  watchSubscribersQuerySchema,
  watchSubscribersResponseSchema,
} from "./wire/test-helpers.js";
import { bundleChangeEventSchema, decodeWatchQuery, watchQuerySchema } from "./wire/watch.js";

/** The HTTP methods the protocol uses. */
export type EndpointMethod = "GET" | "POST" | "DELETE";

/**
 * Who may call: "actor" needs `Authorization: Bearer` and `Oversync-Source-ID` (every `/sync/*`
 * endpoint, capabilities and watch included); "none" is unauthenticated.
 */
export type EndpointAuth = "actor" | "none";

/** Who calls it: the sync clients, operators' probes (`/syncx/*`), or the live test suites (§5). */
export type EndpointGroup = "sync" | "service" | "test";

/**
 * A success answer: JSON (200, or each of `statuses`), an event stream of `event: bundle` whose
 * data is `eventSchema` (200, `text/event-stream`), or 204 without a body. `decode` is the client's
 * decoder; its extra arguments are what the client checks the body against.
 */
export type EndpointResponse =
  | {
      readonly kind: "json";
      readonly schema: z.ZodType;
      readonly statuses?: readonly number[];
      readonly decode?: (...args: never[]) => unknown;
    }
  | { readonly kind: "sse"; readonly eventSchema: z.ZodType }
  | { readonly kind: "empty" };

/** One endpoint. */
export interface EndpointContract {
  readonly method: EndpointMethod;
  /** The path below the base URL; `:name` is a path parameter (PATH_PARAMETERS). */
  readonly path: string;
  readonly auth: EndpointAuth;
  readonly group: EndpointGroup;
  /** Where protocol-latest describes it. */
  readonly section: string;
  /** One line for people (the OpenAPI summary). */
  readonly summary: string;
  /** A JSON body and the server's decoder; `required: false` also accepts an empty body. */
  readonly request?: {
    readonly schema: z.ZodType;
    readonly required: boolean;
    readonly decode: (body: string) => unknown;
  };
  /** The query parameters and the server's decoder. */
  readonly query?: { readonly schema: z.ZodObject; readonly decode: (...args: never[]) => unknown };
  readonly response: EndpointResponse;
  /**
   * The 5xx code an unexpected fault is answered with (a generic message; the cause goes to the
   * log). Absent: the endpoint has no code of its own and answers `internal_error`.
   */
  readonly failureCode?: ErrorCode;
  /** The codes it may answer beyond those its auth and request body imply (endpointErrorCodes). */
  readonly errors: readonly ErrorCode[];
}

/**
 * The path parameters, by name. A server resolves one that breaks its schema as naming nothing
 * (404), as June does.
 */
export const PATH_PARAMETERS = {
  push_id: sessionTokenSchema("push_id"),
  bundle_seq: envelopeInt("bundle_seq", "positive"),
  /** Opaque and percent-encoded in the path (§0); servers issue UUIDs. */
  snapshot_id: nonBlankString("snapshot_id"),
} as const;

/** Every endpoint, by name. */
export const ENDPOINTS = {
  capabilities: {
    method: "GET",
    path: "/sync/capabilities",
    auth: "actor",
    group: "sync",
    section: "§1.1",
    summary: "Protocol version, registered tables, feature flags and bundle limits",
    response: { kind: "json", schema: capabilitiesResponseSchema, decode: decodeCapabilitiesBody },
    errors: ["service_unavailable"],
  },
  connect: {
    method: "POST",
    path: "/sync/connect",
    auth: "actor",
    group: "sync",
    section: "§1.2",
    summary: "Resolve how this source attaches to the user's scope",
    request: { schema: connectRequestSchema, required: true, decode: decodeConnectRequest },
    response: { kind: "json", schema: connectResponseSchema, decode: decodeConnectResponse },
    failureCode: "connect_failed",
    errors: ["connect_invalid", "service_unavailable"],
  },
  pushCreate: {
    method: "POST",
    path: "/sync/push-sessions",
    auth: "actor",
    group: "sync",
    section: "§1.3",
    summary: "Open a push session for one source bundle, or report it already committed",
    request: { schema: pushCreateRequestSchema, required: true, decode: decodePushCreateRequest },
    response: { kind: "json", schema: pushCreateResponseSchema, decode: decodePushCreateResponse },
    failureCode: "push_session_create_failed",
    errors: [
      "push_session_invalid",
      "scope_uninitialized",
      "scope_initializing",
      "initialization_stale",
      "initialization_expired",
      "history_pruned",
      "source_sequence_out_of_order",
      "source_retired",
      "service_unavailable",
    ],
  },
  pushChunk: {
    method: "POST",
    path: "/sync/push-sessions/:push_id/chunks",
    auth: "actor",
    group: "sync",
    section: "§1.4",
    summary: "Stage the next chunk of a push session's rows",
    request: { schema: pushChunkRequestSchema, required: true, decode: decodePushChunkRequest },
    response: { kind: "json", schema: pushChunkResponseSchema, decode: decodePushChunkResponse },
    failureCode: "push_chunk_failed",
    errors: [
      "push_chunk_invalid",
      "push_session_forbidden",
      "push_session_not_found",
      "push_chunk_out_of_order",
      "initialization_stale",
      "push_session_expired",
      "initialization_expired",
      "service_unavailable",
    ],
  },
  pushCommit: {
    method: "POST",
    path: "/sync/push-sessions/:push_id/commit",
    auth: "actor",
    group: "sync",
    section: "§1.5",
    summary: "Commit a push session's staged rows as one bundle",
    response: { kind: "json", schema: pushCommitResponseSchema, decode: decodePushCommitResponse },
    failureCode: "push_session_commit_failed",
    errors: [
      "push_commit_invalid",
      "push_session_forbidden",
      "push_session_not_found",
      "push_conflict",
      "source_sequence_changed",
      "source_retired",
      "history_pruned",
      "initialization_stale",
      "push_session_expired",
      "initialization_expired",
      "service_unavailable",
    ],
  },
  pushDelete: {
    method: "DELETE",
    path: "/sync/push-sessions/:push_id",
    auth: "actor",
    group: "sync",
    section: "§1.6",
    summary: "Discard a push session (best-effort)",
    response: { kind: "empty" },
    failureCode: "push_session_delete_failed",
    errors: [
      "push_session_forbidden",
      "push_session_not_found",
      "push_session_expired",
      "service_unavailable",
    ],
  },
  committedRows: {
    method: "GET",
    path: "/sync/committed-bundles/:bundle_seq/rows",
    auth: "actor",
    group: "sync",
    section: "§1.7",
    summary: "One page of a committed bundle's rows",
    query: { schema: committedRowsQuerySchema, decode: decodeCommittedRowsRequest },
    response: { kind: "json", schema: committedRowsResponseSchema, decode: decodeCommittedRowsResponse },
    failureCode: "committed_bundle_rows_failed",
    errors: [
      "committed_bundle_chunk_invalid",
      "committed_bundle_not_found",
      "history_pruned",
      "service_unavailable",
    ],
  },
  pull: {
    method: "GET",
    path: "/sync/pull",
    auth: "actor",
    group: "sync",
    section: "§1.8",
    summary: "Complete committed bundles after a checkpoint, up to a stable bundle seq",
    query: { schema: pullQuerySchema, decode: decodePullQuery },
    response: { kind: "json", schema: pullResponseSchema, decode: decodePullResponse },
    failureCode: "pull_failed",
    errors: [
      // June's server and ours answer a bad query invalid_request; June's documentation names
      // pull_invalid, so clients must expect either.
      "invalid_request",
      "pull_invalid",
      "scope_uninitialized",
      "scope_initializing",
      "checkpoint_ahead",
      "history_pruned",
      "service_unavailable",
    ],
  },
  snapshotCreate: {
    method: "POST",
    path: "/sync/snapshot-sessions",
    auth: "actor",
    group: "sync",
    section: "§1.9",
    summary: "Freeze the scope's rows as a snapshot session, optionally replacing the source",
    request: { schema: snapshotCreateRequestSchema, required: false, decode: decodeSnapshotCreateRequest },
    response: { kind: "json", schema: snapshotSessionSchema, decode: decodeSnapshotSessionBody },
    failureCode: "snapshot_session_create_failed",
    errors: [
      "snapshot_session_invalid",
      "scope_uninitialized",
      "scope_initializing",
      "history_pruned",
      "source_sequence_out_of_order",
      "source_sequence_changed",
      "source_retired",
      "snapshot_session_limit_exceeded",
      "source_replacement_invalid",
      "snapshot_build_capacity",
      "service_unavailable",
    ],
  },
  snapshotChunk: {
    method: "GET",
    path: "/sync/snapshot-sessions/:snapshot_id",
    auth: "actor",
    group: "sync",
    section: "§1.10",
    summary: "One chunk of a snapshot session's rows",
    query: { schema: snapshotChunkQuerySchema, decode: decodeSnapshotChunkQuery },
    response: { kind: "json", schema: snapshotChunkBodySchema, decode: decodeSnapshotChunkBody },
    failureCode: "snapshot_chunk_failed",
    errors: [
      "snapshot_chunk_too_small",
      "snapshot_chunk_invalid",
      "snapshot_session_forbidden",
      "snapshot_session_not_found",
      "snapshot_session_expired",
      "snapshot_chunk_capacity",
      "service_unavailable",
    ],
  },
  snapshotDelete: {
    method: "DELETE",
    path: "/sync/snapshot-sessions/:snapshot_id",
    auth: "actor",
    group: "sync",
    section: "§1.11",
    summary: "Discard a snapshot session, expired or not (best-effort)",
    response: { kind: "empty" },
    failureCode: "snapshot_session_delete_failed",
    errors: ["snapshot_session_forbidden", "snapshot_session_not_found", "service_unavailable"],
  },
  watch: {
    method: "GET",
    path: "/sync/watch",
    auth: "actor",
    group: "sync",
    section: "§1.12",
    summary: "Server-Sent Events waking the client when the user's bundles change",
    query: { schema: watchQuerySchema, decode: decodeWatchQuery },
    response: { kind: "sse", eventSchema: bundleChangeEventSchema },
    failureCode: "bundle_change_watch_failed",
    errors: [
      "invalid_request",
      "bundle_change_watch_forbidden",
      "scope_uninitialized",
      "scope_initializing",
      "bundle_change_watch_limit_exceeded",
      "bundle_change_watch_disabled",
      "service_unavailable",
    ],
  },
  health: {
    method: "GET",
    path: "/syncx/health",
    auth: "none",
    group: "service",
    section: "§1.13",
    summary: "Readiness: 200 while healthy, 503 with the same minimal body otherwise",
    response: { kind: "json", schema: healthResponseSchema, statuses: [200, 503] },
    failureCode: "health_failed",
    errors: ["service_unavailable"],
  },
  status: {
    method: "GET",
    path: "/syncx/status",
    auth: "none",
    group: "service",
    section: "§1.13",
    summary: "Service status and counters (admins only: loopback callers or the admin token)",
    response: { kind: "json", schema: statusResponseSchema },
    failureCode: "status_failed",
    errors: ["service_unavailable"],
  },
  dummySignin: {
    method: "POST",
    path: "/dummy-signin",
    auth: "none",
    group: "test",
    section: "§5",
    summary: "Sign in as any user (tests and demos): a bearer token whose subject is the user",
    request: { schema: dummySigninRequestSchema, required: true, decode: decodeDummySigninRequest },
    response: { kind: "json", schema: dummySigninResponseSchema },
    errors: [],
  },
  retentionFloor: {
    method: "POST",
    path: "/test/retention-floor",
    auth: "none",
    group: "test",
    section: "§5",
    summary: "Move a user's retained bundle floor (tests)",
    request: { schema: retentionFloorRequestSchema, required: true, decode: decodeRetentionFloorRequest },
    response: { kind: "json", schema: retentionFloorResponseSchema },
    failureCode: "retention_floor_update_failed",
    errors: ["user_state_not_found", "service_unavailable"],
  },
  watchSubscribers: {
    method: "GET",
    path: "/test/watch-subscribers",
    auth: "none",
    group: "test",
    section: "§5",
    summary: "How many watch streams this process holds open for a user (tests)",
    query: { schema: watchSubscribersQuerySchema, decode: decodeWatchSubscribersQuery },
    response: { kind: "json", schema: watchSubscribersResponseSchema },
    errors: ["invalid_request"],
  },
} as const satisfies Record<string, EndpointContract>;

/** An endpoint's name. */
export type EndpointName = keyof typeof ENDPOINTS;

/** The endpoint names, in table order. */
export const ENDPOINT_NAMES = Object.keys(ENDPOINTS) as EndpointName[];

/** The endpoints the sync clients call (group "sync"). */
export type SyncEndpointName = {
  [Name in EndpointName]: (typeof ENDPOINTS)[Name]["group"] extends "sync" ? Name : never;
}[EndpointName];

/** The sync endpoints' names, in table order. */
export const SYNC_ENDPOINT_NAMES = ENDPOINT_NAMES.filter(
  (name): name is SyncEndpointName => ENDPOINTS[name].group === "sync",
);

/**
 * What the router answers for a request that names no endpoint: an unknown path (404) or a method
 * the path does not take (405, with `Allow`).
 */
export const ROUTER_ERROR_CODES = ["not_found", "method_not_allowed"] as const satisfies readonly ErrorCode[];

/**
 * Every code an endpoint may answer, in ERROR_CODES order: its own `errors`, what its auth implies
 * (a bad `Oversync-Source-ID` is 400 invalid_request, missing or bad credentials 401
 * authentication_failed), what reading a JSON body implies (a compressed, cut-off or non-UTF-8 body
 * is 400 invalid_request, an oversized one 413 request_too_large), and its failure code.
 */
export function endpointErrorCodes(endpoint: EndpointContract): ErrorCode[] {
  const codes = new Set<ErrorCode>(endpoint.errors);
  if (endpoint.auth === "actor") codes.add("invalid_request").add("authentication_failed");
  if (endpoint.request !== undefined) codes.add("invalid_request").add("request_too_large");
  codes.add(endpoint.failureCode ?? "internal_error");
  return ERROR_CODES.filter((code) => codes.has(code));
}

/** The path parameter names of `path`, in order. */
export function pathParameterNames(path: string): string[] {
  return path
    .split("/")
    .filter((segment) => segment.startsWith(":"))
    .map((segment) => segment.slice(1));
}

/** `path` with each `:name` replaced by `params[name]`, percent-encoded; a missing one throws. */
export function fillPath(path: string, params: Readonly<Record<string, string>> = {}): string {
  return path
    .split("/")
    .map((segment) => {
      if (!segment.startsWith(":")) return segment;
      const value = params[segment.slice(1)];
      if (value === undefined) throw new TypeError(`path ${path} needs parameter ${segment.slice(1)}`);
      return encodeURIComponent(value);
    })
    .join("/");
}

/**
 * Matches a request path against `path`: the parameters (still percent-encoded, as they arrived)
 * when it matches, undefined otherwise. A parameter never matches an empty segment.
 */
export function matchPath(path: string, requestPath: string): Record<string, string> | undefined {
  const pattern = path.split("/");
  const segments = requestPath.split("/");
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i]!;
    const actual = segments[i]!;
    if (expected.startsWith(":")) {
      if (actual === "") return undefined;
      params[expected.slice(1)] = actual;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}
