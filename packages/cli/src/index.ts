export type { BenchArgs, BenchScenarioName, BenchSizes } from "./bench/bench-args.js";
export { CliError, type CliErrorCode } from "./cli-error.js";
export { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "./example-client-schema.js";
export { type DataDirLock, lockDataDir } from "./data-dir-lock.js";
export {
  DASHBOARD_DATA_PATH,
  DASHBOARD_PATH,
  type Dashboard,
  type DashboardData,
  type DashboardError,
  type DashboardOptions,
  type DashboardScope,
  type DashboardSource,
  createDashboard,
} from "./dashboard/dashboard.js";
export type {
  CurrentFigures,
  EndpointFigures,
  SeriesPoint,
  Totals,
  TransferOperation,
} from "./dashboard/metrics-history.js";
export {
  type ActivityLimits,
  type ErrorEntry,
  type ScopeActivity,
  ServerActivity,
  type SourceActivity,
} from "./dashboard/server-activity.js";
export { type DatabaseConfig, type OpenDatabase, maskDatabaseUrl, openDatabase } from "./database.js";
export {
  type CatalogForeignKey,
  type CatalogTable,
  EXAMPLE_APP_NAME,
  EXAMPLE_REGISTERED_TABLES,
  EXAMPLE_SCHEMA,
  EXAMPLE_TABLES,
  type ExampleColumn,
  type ExampleForeignKey,
  type ExampleRegistration,
  type ExampleTable,
  type ExampleIndex,
  compareExampleSchema,
  exampleSchemaDdl,
  readSchemaCatalog,
} from "./example-schema.js";
export { EXAMPLE_PRESETS, ensureExampleSchema } from "./example-presets.js";
export { loadSchemaConfig } from "./schema-config.js";
export { type PresetClientSchema, type SchemaPreset, installSchemaPreset } from "./schema-preset.js";
export {
  DEFAULT_TOKEN_TTL_SECONDS,
  DEV_JWT_SECRET,
  type IssuedToken,
  type JwtAuth,
  type JwtAuthOptions,
  type JwtSecret,
  TOKEN_ISSUER,
  type TokenUser,
  createJwtAuth,
  resolveJwtSecret,
} from "./jwt-auth.js";
export { PglitePool, type PglitePoolOptions, openPglitePool } from "./pglite-pool.js";
export {
  type CliCommand,
  DEFAULT_DATA_DIR,
  type ExampleName,
  type SchemaChoice,
  type ServeArgs,
  parseCommandLine,
} from "./cli-args.js";
export { type JsonLogger, type LogLevel, createJsonLogger } from "./json-log.js";
export { main } from "./main.js";
export { METRICS_PATH, type ServerMetrics, createServerMetrics, metricsRoute } from "./metrics-route.js";
export { type ReferenceHandlerOptions, createReferenceHandler } from "./reference-handler.js";
export { logRequests, noteRequestUser } from "./request-log.js";
export { type RunningServer, type ServeConfig, startServer } from "./serve.js";
export { signInRoute } from "./sign-in-route.js";
export type { RunFailure, RunReport, SimulationReport, StepReport } from "./simulate/report.js";
export { type SimulationOptions, runSimulation } from "./simulate/runner.js";
export { SCENARIOS } from "./simulate/scenarios/index.js";
export type { SimulateArgs } from "./simulate/simulate-args.js";
export { type TestHelperHooks, testHelperRoutes } from "./test-helper-routes.js";
export { WORKSPACE_BASE_PATH, WORKSPACE_SCOPE_PREFIX, workspaceScopeId } from "./workspaces.js";
