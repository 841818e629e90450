/**
 * The sync endpoints of protocol-latest §1.1–§1.11, §1.12 (watch-route.ts) and §1.13: each decodes
 * its request with its endpoint's decoders (so a bad request gets the endpoint's documented 400 code
 * naming the field), calls the service, and writes the body the service returns.
 */
import {
  ENDPOINTS,
  type HealthResponse,
  OversyncError,
  formatSnapshotChunkBody,
  isCanonicalUuid,
  utf8ByteLength,
} from "@oversync/protocol";
import { SYNC_METRICS } from "../telemetry/sync-metrics.js";
import type { TelemetryRecorder } from "../telemetry/telemetry-recorder.js";
import { contentLength, jsonResponse, jsonTextResponse, noContentResponse } from "./responses.js";
import { type SyncRoute, adminRoute, endpointRoute } from "./routes.js";
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

/** Counts the rows and body bytes a push chunk, pull page or snapshot chunk carried. */
function recordTransfer(
  telemetry: TelemetryRecorder,
  operation: "push" | "pull" | "snapshot",
  rows: number,
  bytes: number,
): void {
  telemetry.record(SYNC_METRICS.transferredRows, rows, { operation });
  telemetry.record(SYNC_METRICS.transferredBytes, bytes, { operation });
}

/**
 * Routes for capabilities, connect, push sessions, committed rows, pull, snapshot sessions, watch,
 * health and status: one per entry of the endpoint table's "sync" and "service" groups. Status is an
 * admin route (admin-access.ts); health answers anyone.
 */
export const SYNC_ROUTES: readonly SyncRoute[] = [
  endpointRoute(ENDPOINTS.capabilities, async ({ service, actor }) =>
    jsonResponse(await service.capabilities(actor)),
  ),
  endpointRoute(ENDPOINTS.connect, async ({ service, actor, bodyText }) =>
    jsonResponse(await service.connect(actor, ENDPOINTS.connect.request.decode(await bodyText()))),
  ),
  endpointRoute(ENDPOINTS.pushCreate, async ({ service, actor, bodyText }) =>
    jsonResponse(
      await service.createPushSession(actor, ENDPOINTS.pushCreate.request.decode(await bodyText())),
    ),
  ),
  endpointRoute(ENDPOINTS.pushChunk, async ({ service, actor, params, bodyText, telemetry }) => {
    const pushId = pushIdParam(params.push_id);
    const text = await bodyText();
    const request = ENDPOINTS.pushChunk.request.decode(text);
    const response = jsonResponse(await service.uploadPushChunk(actor, pushId, request));
    recordTransfer(telemetry, "push", request.rows.length, utf8ByteLength(text));
    return response;
  }),
  endpointRoute(ENDPOINTS.pushCommit, async ({ service, actor, params }) =>
    jsonResponse(await service.commitPushSession(actor, pushIdParam(params.push_id))),
  ),
  endpointRoute(ENDPOINTS.pushDelete, async ({ service, actor, params }) => {
    await service.deletePushSession(actor, pushIdParam(params.push_id));
    return noContentResponse();
  }),
  endpointRoute(ENDPOINTS.committedRows, async ({ service, actor, params, url }) =>
    jsonResponse(
      await service.getCommittedBundleRows(
        actor,
        ENDPOINTS.committedRows.query.decode(params.bundle_seq ?? "", url.searchParams),
      ),
    ),
  ),
  endpointRoute(ENDPOINTS.pull, async ({ service, actor, url, telemetry }) => {
    const page = await service.pull(actor, ENDPOINTS.pull.query.decode(url.searchParams));
    const response = jsonResponse(page);
    const rows = page.bundles.reduce((sum, bundle) => sum + bundle.rows.length, 0);
    recordTransfer(telemetry, "pull", rows, contentLength(response));
    return response;
  }),
  endpointRoute(ENDPOINTS.snapshotCreate, async ({ service, actor, bodyText }) =>
    jsonResponse(
      await service.createSnapshotSession(actor, ENDPOINTS.snapshotCreate.request.decode(await bodyText())),
    ),
  ),
  endpointRoute(ENDPOINTS.snapshotChunk, async ({ service, actor, params, url, telemetry }) => {
    const snapshotId = snapshotIdParam(params.snapshot_id);
    const query = ENDPOINTS.snapshotChunk.query.decode(url.searchParams);
    const chunk = await service.getSnapshotChunk(actor, { snapshot_id: snapshotId, ...query });
    const response = jsonTextResponse(formatSnapshotChunkBody(chunk));
    recordTransfer(telemetry, "snapshot", chunk.rows.length, contentLength(response));
    return response;
  }),
  endpointRoute(ENDPOINTS.snapshotDelete, async ({ service, actor, params }) => {
    await service.deleteSnapshotSession(actor, snapshotIdParam(params.snapshot_id));
    return noContentResponse();
  }),
  WATCH_ROUTE,
  // Public and minimal: anyone who can reach the server may ask, so no table name, no counter.
  endpointRoute(ENDPOINTS.health, async ({ service }) => {
    const { status, lifecycle } = await service.health();
    const body: HealthResponse = { status, lifecycle };
    return jsonResponse(body, status === "healthy" ? 200 : 503);
  }),
  // Admins only (table names and counters), and never an aggregate over the whole database per
  // request.
  adminRoute(
    endpointRoute(ENDPOINTS.status, async ({ service }) => jsonResponse(await service.status("recent"))),
  ),
];
