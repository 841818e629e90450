/**
 * `@oversync/protocol`: the Oversqlite v1 wire contract shared by the server, the client and any
 * other implementation: the endpoint table, message types with their runtime decoders and schemas,
 * canonical JSON and hashes, value codecs, error codes and classes, capabilities and limits. The
 * zod building blocks of the schemas stay internal; packages/protocol/api/index.api.md lists this
 * surface with its signatures.
 */
export {
  canonicalJson,
  CanonicalJsonError,
  findLoneSurrogate,
  sha256Hex,
  utf8ByteLength,
} from "./canonical-json.js";
export {
  type BundleLimits,
  CANONICAL_JSON_CONTRACT,
  CLIENT_SNAPSHOT_DEFAULTS,
  DEFAULT_BUNDLE_LIMITS,
  FEATURE_NAMES,
  type FeatureName,
  INT32_MAX,
  INT64_LIMIT_NAMES,
  isValidSourceId,
  type LimitName,
  negotiateSnapshotLimits,
  OPTIONAL_LIMIT_NAMES,
  type OptionalLimitName,
  PROTOCOL_VERSION,
  REQUIRED_LIMIT_NAMES,
  type RequiredLimitName,
  serverFeatures,
  type SnapshotNegotiation,
  SOURCE_ID_HEADER,
  SOURCE_ID_PATTERN,
} from "./capabilities.js";
export {
  ENDPOINT_NAMES,
  type EndpointAuth,
  type EndpointContract,
  endpointErrorCodes,
  type EndpointGroup,
  type EndpointMethod,
  type EndpointName,
  type EndpointResponse,
  ENDPOINTS,
  fillPath,
  matchPath,
  PATH_PARAMETERS,
  pathParameterNames,
  ROUTER_ERROR_CODES,
  SYNC_ENDPOINT_NAMES,
  type SyncEndpointName,
} from "./endpoints.js";
export {
  ERROR_CODES,
  ERROR_STATUS,
  type ErrorCode,
  isErrorCode,
  SNAPSHOT_CAPACITY_ERROR_CODES,
  SNAPSHOT_LIMIT_DIMENSIONS,
  type SnapshotCapacityCode,
  type SnapshotLimitDimension,
} from "./error-codes.js";
export {
  decodeErrorBody,
  type ErrorBody,
  HttpStatusError,
  OversyncError,
  type OversyncErrorExtras,
} from "./errors.js";
export {
  bundleHash,
  bundleHashJson,
  type BundleHashRow,
  canonicalRequestHash,
  canonicalRequestJson,
  type RequestHashRow,
  type RowOp,
  type SnapshotRowInput,
  snapshotRowJson,
  type SnapshotRowText,
  type WireInteger,
} from "./hashes.js";
export {
  MAX_IDENTITY_BYTES,
  scopeIdProblem,
  sourceIdProblem,
  userIdProblem,
} from "./identity.js";
export {
  type ProtocolViolationCode,
  ProtocolViolationError,
} from "./protocol-violation.js";
export {
  nextCapacityRetryDelay,
  parseRetryAfterMillis,
  SNAPSHOT_CAPACITY_RETRY,
} from "./retry-after.js";
export {
  type ColumnKind,
  columnKindOf,
  decodeWireValue,
  encodeSqliteValue,
  type SqliteValue,
  type WireValue,
} from "./sqlite-values.js";
export {
  type JsonValue,
  MAX_JSON_DEPTH,
  parseStrictJson,
  type SourceSpan,
  type StrictJsonDocument,
  StrictJsonError,
  type StrictJsonErrorCode,
} from "./strict-json.js";
export {
  compareTableContract,
  type SyncKeyMismatch,
  type TableContractResult,
} from "./table-contract.js";
export {
  bytesToUuid,
  CANONICAL_UUID_PATTERN,
  checkDecimalText,
  decodeBase64Strict,
  encodeBase64,
  INTEGER_RANGES,
  type IntegerWidth,
  isCanonicalInteger,
  isCanonicalUuid,
  isWireKey,
  jsonTypeName,
  parseBooleanBridge,
  parseCanonicalFloat4,
  parseCanonicalFloat64,
  parseCanonicalInteger,
  renderFloat4,
  renderFloat64,
  uuidToBytes,
  wireKey,
  type WireKey,
  WireValueError,
} from "./values.js";
export {
  BundleChangeSseParser,
  parseBundleChangeLines,
  WATCH_EVENT_BYTE_LIMIT,
  WATCH_LINE_BYTE_LIMIT,
} from "./watch-sse.js";
export {
  type BundleRow,
  bundleRowSchema,
} from "./wire/bundle-row.js";
export {
  bundleLimitsSchema,
  type CapabilitiesResponse,
  capabilitiesResponseSchema,
  decodeCapabilitiesBody,
  supportsBundleChangeWatch,
  supportsConnectLifecycle,
  type TableSpec,
  tableSpecSchema,
} from "./wire/capabilities.js";
export {
  type CommittedBundleIdentity,
  type CommittedRowsQuery,
  committedRowsQuerySchema,
  type CommittedRowsResponse,
  committedRowsResponseSchema,
  decodeCommittedRowsRequest,
  decodeCommittedRowsResponse,
} from "./wire/committed-rows.js";
export {
  CONNECT_RESOLUTIONS,
  type ConnectRequest,
  connectRequestSchema,
  type ConnectResponse,
  connectResponseSchema,
  decodeConnectRequest,
  decodeConnectResponse,
} from "./wire/connect.js";
export {
  chunkTooSmallExtrasSchema,
  ERROR_EXTRAS_SCHEMAS,
  errorBodySchema,
  type PushConflict,
  pushConflictExtrasSchema,
  pushConflictSchema,
  snapshotLimitExtrasSchema,
  sourceRetiredExtrasSchema,
} from "./wire/errors.js";
export {
  EXAMPLE_SERVER_APP_NAME,
  type HealthResponse,
  SERVICE_LIFECYCLES,
  type StatusResponse,
  healthResponseSchema,
  statusResponseSchema,
} from "./wire/health.js";
export {
  decodePullQuery,
  decodePullResponse,
  pulledBundleSchema,
  type PullQuery,
  pullQuerySchema,
  type PullResponse,
  pullResponseSchema,
} from "./wire/pull.js";
export {
  decodePushChunkRequest,
  decodePushChunkResponse,
  decodePushCommitResponse,
  decodePushCreateRequest,
  decodePushCreateResponse,
  pushAlreadyCommittedResponseSchema,
  type PushChunkRequest,
  pushChunkRequestSchema,
  type PushChunkResponse,
  pushChunkResponseSchema,
  type PushCommitResponse,
  pushCommitResponseSchema,
  type PushCreateRequest,
  pushCreateRequestSchema,
  type PushCreateResponse,
  pushCreateResponseSchema,
  type PushRow,
  pushRowSchema,
  pushStagingResponseSchema,
} from "./wire/push.js";
export {
  authoritativePayloadSchema,
  HIDDEN_SCOPE_COLUMN,
  requestSourceIdSchema,
  rowOpSchema,
  sessionTokenSchema,
  sha256HexSchema,
  sourceIdSchema,
  uploadPayloadSchema,
  userIdSchema,
  wireKeySchema,
} from "./wire/shared.js";
export {
  BODY_LIMITS,
  decodeSnapshotChunkBody,
  decodeSnapshotChunkQuery,
  decodeSnapshotCreateRequest,
  decodeSnapshotSessionBody,
  formatSnapshotChunkBody,
  isRfc3339Instant,
  type SnapshotChunk,
  snapshotChunkBodyLimit,
  snapshotChunkBodySchema,
  type SnapshotChunkContext,
  type SnapshotChunkQuery,
  snapshotChunkQuerySchema,
  snapshotChunkSchema,
  type SnapshotCreateRequest,
  snapshotCreateRequestSchema,
  type SnapshotRow,
  snapshotRowSchema,
  type SnapshotSession,
  snapshotSessionSchema,
  SOURCE_REPLACEMENT_REASONS,
} from "./wire/snapshot.js";
export {
  decodeDummySigninRequest,
  decodeRetentionFloorRequest,
  decodeWatchSubscribersQuery,
  type DummySigninRequest,
  dummySigninRequestSchema,
  type DummySigninResponse,
  dummySigninResponseSchema,
  MAX_SIGNIN_WORKSPACES,
  WORKSPACE_ID_PATTERN,
  type RetentionFloorRequest,
  retentionFloorRequestSchema,
  type RetentionFloorResponse,
  retentionFloorResponseSchema,
  watchSubscribersQuerySchema,
  type WatchSubscribersResponse,
  watchSubscribersResponseSchema,
} from "./wire/test-helpers.js";
export {
  type BundleChangeEvent,
  bundleChangeEventSchema,
  decodeWatchQuery,
  formatBundleChangeEvent,
  WATCH_HEARTBEAT,
  WATCH_HEARTBEAT_INTERVAL_MS,
  WATCH_RESPONSE_HEADERS,
  type WatchQuery,
  watchQuerySchema,
} from "./wire/watch.js";
