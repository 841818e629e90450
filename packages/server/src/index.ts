export type { SqlClient, SqlPool, SqlQueryable, SqlResult } from "./db/sql-pool.js";
export { DatabaseUnavailableError } from "./db/database-unavailable.js";
export { withClient } from "./db/session.js";
export { type SyncRuntime, createSyncService } from "./service/create-sync-service.js";
export {
  type SchemaRule,
  type SchemaViolation,
  SyncLayoutError,
  UnsupportedSchemaError,
} from "./schema/schema-errors.js";
export type { TableRegistration } from "./schema/schema-validation.js";
export {
  ServiceConfigError,
  type ServiceLogger,
  type SyncServiceOptions,
} from "./service/service-options.js";
export { DEFAULT_MAX_PRUNED_PER_COMMIT, type RetentionOptions } from "./history/retention.js";
export {
  DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_USER,
  type SnapshotSessionOptions,
} from "./snapshot/snapshot-sessions.js";
export {
  SNAPSHOT_RETRY_AFTER_SECONDS,
  SNAPSHOT_SLOT_LOCK_CLASSES,
  SnapshotCapacityError,
  type SnapshotSlotKind,
} from "./snapshot/snapshot-capacity.js";
export {
  type BundleChangeWatchOptions,
  DEFAULT_WATCH_CHANNEL,
  DEFAULT_WATCH_HEARTBEAT_MS,
  DEFAULT_WATCH_MAX_STREAMS_PER_USER,
} from "./watch/bundle-watch.js";
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
} from "./bundle/server-writes.js";
export {
  type ListenClient,
  type NotificationLogger,
  type NotificationSource,
  PgNotificationListener,
  type PgNotificationListenerOptions,
  type Unlisten,
} from "./watch/notification-listener.js";
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
} from "./service/sync-service.js";
export {
  type BoundValue,
  type ColumnCodec,
  type ColumnFamily,
  type ColumnInfo,
  UnsupportedColumnTypeError,
  type WireValue,
  describeColumn,
} from "./codec/column-codec.js";
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
