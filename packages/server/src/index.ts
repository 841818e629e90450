export type { SqlClient, SqlPool, SqlQueryable, SqlResult } from "./db/sql-pool.js";
export { DatabaseUnavailableError } from "./db/database-unavailable.js";
export { withClient } from "./db/session.js";
export { type SyncRuntime, createSyncService } from "./runtime/create-sync-service.js";
export {
  type SchemaRule,
  type SchemaViolation,
  ServiceConfigError,
  SyncLayoutError,
  UnsupportedSchemaError,
} from "./runtime/errors.js";
export type { TableRegistration } from "./runtime/schema-validation.js";
export type { ServiceLogger, SyncServiceOptions } from "./runtime/service-options.js";
export { DEFAULT_MAX_PRUNED_PER_COMMIT, type RetentionOptions } from "./runtime/retention.js";
export {
  DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_USER,
  type SnapshotSessionOptions,
} from "./runtime/snapshot-sessions.js";
export {
  SNAPSHOT_RETRY_AFTER_SECONDS,
  SNAPSHOT_SLOT_LOCK_CLASSES,
  SnapshotCapacityError,
  type SnapshotSlotKind,
} from "./runtime/snapshot-capacity.js";
export {
  type BundleChangeWatchOptions,
  DEFAULT_WATCH_CHANNEL,
  DEFAULT_WATCH_HEARTBEAT_MS,
  DEFAULT_WATCH_MAX_STREAMS_PER_USER,
} from "./runtime/bundle-watch.js";
export {
  type BundleTransaction,
  type ScopeManager,
  type ScopeWriteOptions,
  type ScopeWriteResult,
  ServerWriteError,
  type ServerWriteErrorCode,
  type ServerWriteBundle,
  type SyncBundleResult,
  type SyncBundleSource,
} from "./runtime/scope-manager.js";
export {
  type ListenClient,
  type NotificationLogger,
  type NotificationSource,
  PgNotificationListener,
  type PgNotificationListenerOptions,
  type Unlisten,
} from "./runtime/notification-listener.js";
export type {
  Actor,
  BundleWatch,
  CommittedRowsRequest,
  PullInput,
  PushCreateInput,
  ServiceLifecycle,
  SnapshotChunkInput,
  SnapshotChunkPage,
  ServiceStatus,
  SyncService,
} from "./runtime/sync-service.js";
export {
  type BoundValue,
  type ColumnCodec,
  type ColumnFamily,
  type ColumnInfo,
  UnsupportedColumnTypeError,
  type WireValue,
  describeColumn,
} from "./runtime/column-codec.js";
export {
  type AuthenticatedUser,
  DEFAULT_MAX_BODY_BYTES,
  type FetchHandler,
  type SyncHandlerLogger,
  type SyncHandlerOptions,
  createSyncHandler,
} from "./http/sync-handler.js";
export { type NodeListener, toNodeListener } from "./http/node-listener.js";
export {
  errorResponse,
  jsonResponse,
  jsonTextResponse,
  noContentResponse,
} from "./http/responses.js";
export type { ActorRoute, PublicRoute, RouteContext, RouteMethod, SyncRoute } from "./http/routes.js";
export { SYNC_ROUTES } from "./http/sync-routes.js";
