/**
 * `oversync serve`: the reference sync server. It opens the database (PGlite or PostgreSQL),
 * installs the schema it serves (a built-in example or a `--config` file's), bootstraps the sync
 * runtime over it, and serves the sync routes (each user's own, and workspaces' under
 * `/w/<workspace>`), sign-in and test-helper routes, `/metrics`, the diagnostics dashboard at
 * `/dashboard`, and with `demoDir` the demo web app at `/demo/`, over HTTP until it is told to
 * stop; then it stops accepting connections, lets in-flight requests finish, and closes the runtime,
 * the LISTEN session and the pool.
 */
import { type Server, createServer } from "node:http";
import type { Socket } from "node:net";
import type { AddressInfo } from "node:net";
import {
  type FetchHandler,
  type SyncRuntime,
  SyncLayoutError,
  UnsupportedSchemaError,
  createSyncService,
  toNodeListener,
} from "@oversync/server";
import { CliError } from "./cli-error.js";
import { createDashboard } from "./dashboard/dashboard.js";
import { ServerActivity } from "./dashboard/server-activity.js";
import { type OpenDatabase, openDatabase } from "./database.js";
import { DEMO_PATH, serveDemoFiles } from "./demo-files.js";
import { BUSINESS_PRESET } from "./example-presets.js";
import { type Exposure, exposureLines } from "./exposure.js";
import type { JsonLogger } from "./json-log.js";
import { type JwtSecret, createJwtAuth } from "./jwt-auth.js";
import { createServerMetrics } from "./metrics-route.js";
import { createReferenceHandler } from "./reference-handler.js";
import { logRequests } from "./request-log.js";
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  requestTimeoutOptions,
} from "./request-timeouts.js";
import { type SchemaPreset, installSchemaPreset } from "./schema-preset.js";
import { RequestFaults, testHookRoutes } from "./test-hooks.js";

/**
 * Everything `serve` needs, already parsed and validated; the Exposure fields say who may reach
 * status, the test helpers and the sync routes from browsers (exposure.ts).
 */
export interface ServeConfig extends Exposure {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** When set, PostgreSQL is used instead of PGlite. */
  readonly databaseUrl?: string;
  /** What to sync: a built-in example (example-presets.ts) or a config file's; business by default. */
  readonly preset?: SchemaPreset;
  readonly jwtSecret: JwtSecret;
  readonly tokenTtlSeconds: number;
  /** How long shutdown waits for open requests (e.g. watch streams) before cutting them, in ms. */
  readonly shutdownGraceMs: number;
  /** Time a client has to send its request headers, in ms (request-timeouts.ts). Default 20 s. */
  readonly headersTimeoutMs?: number;
  /** Time a client has to send its whole request, body included, in ms. Default 120 s. */
  readonly requestTimeoutMs?: number;
  /** Serve the live conformance suite's test hooks (test-hooks.ts), admin routes like the test helpers. */
  readonly testHooks?: boolean;
  /** A built demo web app (the repository's `demo/`, built by Vite) to serve at `/demo/` (demo-files.ts). */
  readonly demoDir?: string;
  /** Structured log lines (requests, faults, lifecycle events). */
  readonly logger: JsonLogger;
  /** Lines for people (the banner and warnings). */
  readonly say: (line: string) => void;
}

/** A started server. */
export interface RunningServer {
  /** The base URL clients use. */
  readonly url: string;
  readonly database: OpenDatabase;
  /** Graceful shutdown; resolves when everything is closed. Safe to call more than once. */
  close(): Promise<void>;
}

/** Starts the server; once it accepts connections it prints the banner, then logs "listening". */
export async function startServer(config: ServeConfig): Promise<RunningServer> {
  // Every log line also feeds the dashboard's lists of active scopes and latest errors.
  const activity = new ServerActivity();
  const logger = activity.tap(config.logger);
  const preset = config.preset ?? BUSINESS_PRESET;
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    logger,
  });
  let service: SyncRuntime | undefined;
  try {
    await installSchemaPreset(database.pool, preset);
    const metrics = createServerMetrics();
    service = createSyncService({
      pool: database.pool,
      appName: preset.appName,
      registeredTables: preset.registeredTables,
      maxSupportedSchemaVersion: preset.maxSupportedSchemaVersion,
      logger,
      telemetry: metrics.telemetry,
      watch: { notifications: database.notifications },
    });
    await service.bootstrap().catch((error: unknown) => {
      throw bootstrapError(preset, error);
    });
    const auth = createJwtAuth({ secret: config.jwtSecret.secret, ttlSeconds: config.tokenTtlSeconds });
    // The runtime is the test helpers' hooks: whichever of the two it offers gets its route.
    const faults = config.testHooks === true ? new RequestFaults(auth) : undefined;
    const referenceHandler = createReferenceHandler({
      service,
      auth,
      testHooks: service,
      ...(faults === undefined ? {} : { extraRoutes: testHookRoutes(faults, service, database.pool) }),
      // The access log (request-log.ts) already writes a line per request, those no sync handler
      // sees included (demo files, clients that leave mid-body), so the handlers log faults only;
      // their request lines go to the dashboard alone.
      logger: activity.tap({ info: () => undefined, warn: config.logger.warn, error: config.logger.error }),
      metrics,
      dashboard: createDashboard({ registry: metrics.registry, db: database.pool, activity }),
      ...(config.adminToken === undefined ? {} : { adminAccess: { token: config.adminToken } }),
      publicStatus: config.publicStatus === true,
      publicTestHelpers: config.publicTestHelpers === true,
      cors: { origin: corsOrigin(config.corsOrigins) },
    });
    const syncHandler = faults === undefined ? referenceHandler : faults.wrap(referenceHandler);
    const demo = config.demoDir === undefined ? undefined : serveDemoFiles(config.demoDir);
    const handler: FetchHandler =
      demo === undefined
        ? syncHandler
        : async (request, connection) => (await demo(request)) ?? syncHandler(request, connection);
    const timeouts = requestTimeoutOptions({
      headersTimeoutMs: config.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    });
    const server = createServer(timeouts, logRequests(toNodeListener(handler, { logger }), logger));
    const unused = unusedSockets(server);
    const url = await listen(server, config.port, config.host);
    printBanner(config, preset, url, database);
    logger.info("listening", { url, database: database.description });
    const running = service;
    let closing: Promise<void> | undefined;
    return {
      url,
      database,
      close: () => {
        closing ??= shutdown(server, unused, running, database, config);
        return closing;
      },
    };
  } catch (error) {
    await service?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw error;
  }
}

async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    const reason = error.code === "EADDRINUSE" ? "the port is already in use" : error.message;
    throw new CliError(
      "listen_failed",
      `cannot listen on ${host}:${port}: ${reason}; stop the other process or choose another --port/--host`,
      { cause: error },
    );
  });
  const address = server.address() as AddressInfo;
  return `http://${urlHost(host)}:${address.port}`;
}

/** The library's `cors.origin` for `--cors-origin` (any origin unless a list was given). */
function corsOrigin(origins: readonly string[] | undefined): "*" | readonly string[] {
  return origins === undefined || origins.includes("*") ? "*" : origins;
}

/** The host part of the URL people and clients should use for a listen address. */
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

/** Bootstrap's refusals as CLI errors: they are about the schema or the database, not a bug. */
function bootstrapError(preset: SchemaPreset, error: unknown): unknown {
  if (error instanceof UnsupportedSchemaError) {
    return new CliError(
      "unsupported_schema",
      `${preset.description}: ${error.message}\nChange those tables (or their registration) and start again.`,
      { cause: error },
    );
  }
  if (error instanceof SyncLayoutError) {
    return new CliError("sync_layout_mismatch", error.message, { cause: error });
  }
  return error;
}

function printBanner(config: ServeConfig, preset: SchemaPreset, url: string, database: OpenDatabase): void {
  const { say } = config;
  const everywhere = config.host === "0.0.0.0" || config.host === "::";
  say("oversync reference server");
  say(`  url        ${url}${everywhere ? ` (listening on all interfaces, ${config.host})` : ""}`);
  if (config.demoDir !== undefined)
    say(`  demo       ${url}${DEMO_PATH}/ (a todo-lists web app; open it in a browser)`);
  say(`  database   ${database.description}`);
  const schemas = [...new Set(preset.registeredTables.map((table) => table.schema))].join(", ");
  const tables = preset.registeredTables.length;
  say(
    `  app        ${preset.appName}: schema ${schemas}, ${tables} table${tables === 1 ? "" : "s"} (${preset.description})`,
  );
  say(`  sign-in    POST ${url}/dummy-signin {"user":"<id>","password":"<any>"}`);
  say(`  workspaces ${url}/w/<workspace> for members: sign in with "workspaces":["<workspace>"]`);
  say(`  tokens     HS256, valid ${config.tokenTtlSeconds} s`);
  for (const line of exposureLines(config, url, config.testHooks === true)) say(line);
  if (config.testHooks === true && config.publicTestHelpers === true) {
    say(`  WARNING    --test-hooks with --public-test-helpers: anyone reaching ${url}/test/ can fail`);
    say("             requests and write rows; use it for test runs only.");
  }
  if (config.jwtSecret.isDevDefault) {
    say("  WARNING    JWT_SECRET is not set: tokens are signed with a built-in development secret that");
    say("             anyone can read. Set JWT_SECRET before letting other machines reach this server.");
  }
  say("Press Ctrl+C to stop.");
}

/**
 * Stops accepting connections, then closes the runtime: watch streams end at once, calls already
 * inside it finish, and calls arriving later are answered 503 (which clients retry). Open requests
 * get up to the grace period to complete before what is left is cut; then the LISTEN session and
 * the pool close.
 */
async function shutdown(
  server: Server,
  unused: ReadonlySet<Socket>,
  service: SyncRuntime,
  database: OpenDatabase,
  config: ServeConfig,
) {
  config.logger.info("shutting down", { grace_ms: config.shutdownGraceMs });
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections that go idle after their last response are closed as they appear, and
  // so are connections that never carried a request (Node's fetch opens a spare one after an
  // aborted stream; closeIdleConnections does not count those).
  const sweepIdle = () => {
    server.closeIdleConnections();
    for (const socket of unused) socket.destroy();
  };
  sweepIdle();
  const sweep = setInterval(sweepIdle, 50);
  let graceTimer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<"timeout">((resolve) => {
    graceTimer = setTimeout(() => resolve("timeout"), config.shutdownGraceMs);
  });
  try {
    await service.close();
    if ((await Promise.race([closed, graceOver])) === "timeout") {
      config.logger.warn("cutting connections still open after the grace period");
      server.closeAllConnections();
      await closed;
    }
  } finally {
    clearInterval(sweep);
    clearTimeout(graceTimer);
    await database.close();
  }
  config.logger.info("stopped");
}

/** The server's connections that have not carried a request yet, kept current. */
function unusedSockets(server: Server): ReadonlySet<Socket> {
  const unused = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  server.on("request", (request) => unused.delete(request.socket));
  return unused;
}
