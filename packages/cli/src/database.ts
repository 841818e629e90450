/**
 * The database `serve` runs on: embedded PGlite in a data directory by default, or real PostgreSQL
 * when a connection URL is given. Either way the caller gets a pool for the sync runtime, a
 * NotificationSource for watch wake-ups, and a description for the startup banner.
 */
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import {
  type SyncLogger,
  type NotificationSource,
  PgNotificationListener,
  type SqlPool,
} from "@oversync/server";
import pg from "pg";
import { CliError } from "./cli-error.js";
import { lockDataDir } from "./data-dir-lock.js";
import { openPglitePool } from "./pglite-pool.js";

/** Where the data lives. */
export interface DatabaseConfig {
  /** A `postgres://` URL; when set, PostgreSQL is used and `dataDir` is ignored. */
  readonly databaseUrl?: string;
  /** The PGlite data directory. */
  readonly dataDir: string;
  /** Most PostgreSQL connections the pool opens. Default 20. */
  readonly maxConnections?: number;
  readonly logger?: SyncLogger;
}

/** An open database. */
export interface OpenDatabase {
  readonly kind: "pglite" | "postgres";
  readonly pool: SqlPool;
  /** One LISTEN session for this process. */
  readonly notifications: NotificationSource;
  /** For people: the PGlite directory, or the PostgreSQL URL with its password masked. */
  readonly description: string;
  /** Ends the LISTEN session and the pool (and, for PGlite, releases the data directory). */
  close(): Promise<void>;
}

/** Opens the configured database and checks it answers. */
export async function openDatabase(config: DatabaseConfig): Promise<OpenDatabase> {
  return config.databaseUrl === undefined || config.databaseUrl === ""
    ? openPglite(config)
    : openPostgres(config.databaseUrl, config);
}

async function openPglite(config: DatabaseConfig): Promise<OpenDatabase> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });
  const lock = await lockDataDir(dataDir);
  try {
    const pool = await openPglitePool({ dataDir, logger: config.logger });
    return {
      kind: "pglite",
      pool,
      notifications: pool,
      description: `PGlite (embedded PostgreSQL) in ${dataDir}`,
      async close() {
        try {
          await pool.close();
        } finally {
          await lock.release();
        }
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function openPostgres(databaseUrl: string, config: DatabaseConfig): Promise<OpenDatabase> {
  const description = `PostgreSQL at ${maskDatabaseUrl(databaseUrl)}`;
  const logger = config.logger ?? { error: (message, details) => console.error(message, details) };
  const pool = new pg.Pool({ connectionString: databaseUrl, max: config.maxConnections ?? 20 });
  // An idle pooled connection that dies emits "error"; unhandled, it would end the process.
  pool.on("error", (error) => logger.error("idle PostgreSQL connection failed", { error: error.message }));
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new CliError(
      "database_unavailable",
      `could not reach ${description}: ${(error as Error).message}; check DATABASE_URL, or unset it to use embedded PGlite`,
      { cause: error },
    );
  }
  const notifications = new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: databaseUrl }),
    logger,
  });
  return {
    kind: "postgres",
    pool,
    notifications,
    description,
    async close() {
      try {
        await notifications.close();
      } finally {
        await pool.end();
      }
    },
  };
}

/** A connection URL safe to print: its password (in the userinfo or the query) replaced by `****`. */
export function maskDatabaseUrl(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new CliError(
      "invalid_config",
      "DATABASE_URL is not a valid URL; use the form postgres://user:password@host:5432/database",
    );
  }
  if (url.password !== "") url.password = "****";
  if (url.searchParams.has("password")) url.searchParams.set("password", "****");
  return url.toString();
}
