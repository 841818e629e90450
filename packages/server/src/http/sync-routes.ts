/**
 * The sync endpoints of protocol-latest §1.1–§1.11, §1.12 (watch-route.ts) and §1.13: each decodes
 * its request with the protocol validators (so a bad request gets the endpoint's documented 400 code
 * naming the field), calls the service, and writes the body the service returns.
 */
import {
  OversyncError,
  decodeCommittedRowsRequest,
  decodeConnectRequest,
  decodePullQuery,
  decodePushChunkRequest,
  decodePushCreateRequest,
  decodeSnapshotChunkQuery,
  decodeSnapshotCreateRequest,
  formatSnapshotChunkBody,
  isCanonicalUuid,
} from "@oversync/protocol";
import { jsonResponse, jsonTextResponse, noContentResponse } from "./responses.js";
import type { SyncRoute } from "./routes.js";
import { WATCH_ROUTE } from "./watch-route.js";

/** The push_id path segment; anything but a canonical token names no session (404, as June answers). */
function pushIdParam(segment: string | undefined): string {
  if (!isCanonicalUuid(segment)) {
    throw new OversyncError(
      "push_session_not_found",
      "push session not found: push_id must be a canonical lowercase dashed UUID",
    );
  }
  return segment;
}

/**
 * The snapshot_id path segment. Clients percent-encode it as an opaque id; this server issues
 * canonical UUIDs, so anything that does not decode to one names no session (404).
 */
function snapshotIdParam(segment: string | undefined): string {
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(segment ?? "");
  } catch {
    decoded = undefined;
  }
  if (!isCanonicalUuid(decoded)) {
    throw new OversyncError(
      "snapshot_session_not_found",
      "snapshot session not found: snapshot_id must be a snapshot id this server issued",
    );
  }
  return decoded;
}

/**
 * Routes for capabilities, connect, push sessions, committed rows, pull, snapshot sessions, watch,
 * health and status.
 */
export const SYNC_ROUTES: readonly SyncRoute[] = [
  {
    method: "GET",
    path: "/sync/capabilities",
    auth: "actor",
    failureCode: "internal_error",
    handle: async ({ service, actor }) => jsonResponse(await service.capabilities(actor)),
  },
  {
    method: "POST",
    path: "/sync/connect",
    auth: "actor",
    failureCode: "connect_failed",
    handle: async ({ service, actor, bodyText }) =>
      jsonResponse(await service.connect(actor, decodeConnectRequest(await bodyText()))),
  },
  {
    method: "POST",
    path: "/sync/push-sessions",
    auth: "actor",
    failureCode: "push_session_create_failed",
    handle: async ({ service, actor, bodyText }) =>
      jsonResponse(await service.createPushSession(actor, decodePushCreateRequest(await bodyText()))),
  },
  {
    method: "POST",
    path: "/sync/push-sessions/:push_id/chunks",
    auth: "actor",
    failureCode: "push_chunk_failed",
    handle: async ({ service, actor, params, bodyText }) => {
      const pushId = pushIdParam(params.push_id);
      const request = decodePushChunkRequest(await bodyText());
      return jsonResponse(await service.uploadPushChunk(actor, pushId, request));
    },
  },
  {
    method: "POST",
    path: "/sync/push-sessions/:push_id/commit",
    auth: "actor",
    failureCode: "push_session_commit_failed",
    handle: async ({ service, actor, params }) =>
      jsonResponse(await service.commitPushSession(actor, pushIdParam(params.push_id))),
  },
  {
    method: "DELETE",
    path: "/sync/push-sessions/:push_id",
    auth: "actor",
    failureCode: "push_session_delete_failed",
    handle: async ({ service, actor, params }) => {
      await service.deletePushSession(actor, pushIdParam(params.push_id));
      return noContentResponse();
    },
  },
  {
    method: "GET",
    path: "/sync/committed-bundles/:bundle_seq/rows",
    auth: "actor",
    failureCode: "committed_bundle_rows_failed",
    handle: async ({ service, actor, params, url }) =>
      jsonResponse(
        await service.getCommittedBundleRows(
          actor,
          decodeCommittedRowsRequest(params.bundle_seq ?? "", url.searchParams),
        ),
      ),
  },
  {
    method: "GET",
    path: "/sync/pull",
    auth: "actor",
    failureCode: "pull_failed",
    handle: async ({ service, actor, url }) =>
      jsonResponse(await service.pull(actor, decodePullQuery(url.searchParams))),
  },
  {
    method: "POST",
    path: "/sync/snapshot-sessions",
    auth: "actor",
    failureCode: "snapshot_session_create_failed",
    handle: async ({ service, actor, bodyText }) =>
      jsonResponse(await service.createSnapshotSession(actor, decodeSnapshotCreateRequest(await bodyText()))),
  },
  {
    method: "GET",
    path: "/sync/snapshot-sessions/:snapshot_id",
    auth: "actor",
    failureCode: "snapshot_chunk_failed",
    handle: async ({ service, actor, params, url }) => {
      const snapshotId = snapshotIdParam(params.snapshot_id);
      const query = decodeSnapshotChunkQuery(url.searchParams);
      const chunk = await service.getSnapshotChunk(actor, { snapshot_id: snapshotId, ...query });
      return jsonTextResponse(formatSnapshotChunkBody(chunk));
    },
  },
  {
    method: "DELETE",
    path: "/sync/snapshot-sessions/:snapshot_id",
    auth: "actor",
    failureCode: "snapshot_session_delete_failed",
    handle: async ({ service, actor, params }) => {
      await service.deleteSnapshotSession(actor, snapshotIdParam(params.snapshot_id));
      return noContentResponse();
    },
  },
  WATCH_ROUTE,
  {
    method: "GET",
    path: "/syncx/health",
    auth: "none",
    failureCode: "health_failed",
    handle: async ({ service }) => {
      const health = await service.health();
      return jsonResponse(health, health.status === "healthy" ? 200 : 503);
    },
  },
  {
    method: "GET",
    path: "/syncx/status",
    auth: "none",
    failureCode: "status_failed",
    handle: async ({ service }) => jsonResponse(await service.status()),
  },
];
