/**
 * `@oversync/server`: the sync runtime over a pg-compatible pool (`createSyncService`), its
 * Fetch-API handler (`createSyncHandler`) and the node:http adapter (`toNodeListener`), with the
 * options, the interfaces a host implements or calls, and the errors it can meet. The concern
 * folders are internal; packages/server/api/index.api.md lists this surface with its signatures.
 */
export { type SyncRuntime, createSyncService } from "./service/create-sync-service.js";
export type { LayoutOutcome } from "./schema/sync-layout.js";
export type { SweepResult } from "./service/housekeeping.js";
export { ServiceConfigError, type SyncServiceOptions } from "./service/service-options.js";
export type { TableRegistration } from "./schema/schema-validation.js";
export { DEFAULT_MAX_PRUNED_PER_COMMIT, type RetentionOptions } from "./history/retention.js";
export {
  DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE,
  type SnapshotSessionOptions,
} from "./snapshot/snapshot-sessions.js";
export {
  type BundleChangeWatchOptions,
  DEFAULT_WATCH_CHANNEL,
  DEFAULT_WATCH_HEARTBEAT_MS,
  DEFAULT_WATCH_MAX_STREAMS_PER_USER,
} from "./watch/bundle-watch.js";
export type {
  Actor,
  BundleWatch,
  CommittedRowsRequest,
  PullInput,
  PushCreateInput,
  ServiceLifecycle,
  ServiceStatus,
  SnapshotChunkInput,
  SnapshotChunkPage,
  SyncService,
} from "./service/sync-service.js";

// Logs, metrics and traces: one logger for every part, and the recorder the adapters implement
// (@oversync/server/prometheus, @oversync/server/opentelemetry).
export type { LogDetails, SyncLogger } from "./telemetry/sync-logger.js";
export {
  type MetricDefinition,
  type MetricKind,
  type MetricLabels,
  SYNC_METRICS,
  type SyncMetric,
} from "./telemetry/sync-metrics.js";
export type {
  SpanAttributes,
  SpanStart,
  TelemetryRecorder,
  TelemetrySpan,
} from "./telemetry/telemetry-recorder.js";

// The database seam: the part of a pg Pool the runtime uses (PGlite fits it too).
export type { SqlClient, SqlPool, SqlQueryable, SqlResult } from "./db/sql-pool.js";
export { withClient } from "./db/session.js";

// Wake-ups across processes (LISTEN/NOTIFY).
export {
  type ListenClient,
  type NotificationSource,
  PgNotificationListener,
  type PgNotificationListenerOptions,
  type Unlisten,
} from "./watch/notification-listener.js";

// Server-originated writes.
export {
  type BundleTransaction,
  type ScopeManager,
  type ScopeWriteOptions,
  type ScopeWriteResult,
  type ServerWriteBundle,
  ServerWriteError,
  type ServerWriteErrorCode,
  type SyncBundleResult,
  type SyncBundleSource,
} from "./bundle/server-writes.js";

// HTTP: the handler, its extra routes, admin access and CORS, and the node:http adapter.
export {
  type AuthenticatedUser,
  type AuthenticationContext,
  DEFAULT_MAX_BODY_BYTES,
  type FetchHandler,
  type SyncHandlerOptions,
  createSyncHandler,
} from "./http/sync-handler.js";
export {
  type ActorRoute,
  type AdminRoute,
  type PublicRoute,
  type RouteContext,
  type RouteMethod,
  type SyncRoute,
  adminRoute,
  endpointRoute,
  publicRoute,
} from "./http/routes.js";
export { SYNC_ROUTES } from "./http/sync-routes.js";
export { errorResponse, jsonResponse } from "./http/responses.js";
export { ScopeForbiddenError } from "./http/scope-forbidden.js";
export {
  type AdminAccess,
  AdminAccessError,
  type ConnectionInfo,
  checkAdminAccess,
  isLoopbackAddress,
} from "./http/admin-access.js";
export { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, type CorsOptions } from "./http/cors.js";
export { type NodeListener, toNodeListener } from "./http/node-listener.js";

// Errors a host can meet (the wire errors are @oversync/protocol's OversyncError).
export { DatabaseUnavailableError } from "./db/database-unavailable.js";
export {
  type SchemaRule,
  type SchemaViolation,
  SyncLayoutError,
  UnsupportedSchemaError,
} from "./schema/schema-errors.js";
