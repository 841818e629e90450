/**
 * Engine test harness: a real SQLite file, the scripted fake sync server over loopback HTTP, and a
 * SyncClient between them. Source ids are deterministic UUIDs (`00000000-0000-4000-8000-<n>`) so
 * they sort before every named fixture source, as random UUIDs did upstream.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type SqliteDriver,
  type SyncClient,
  type SyncClientOptions,
  type SyncConfig,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { isNodeSqliteAvailable, openNodeSqliteDriver } from "@oversync/client/node-sqlite";
import { FakeSyncBackend, type FakeSyncBackendOptions } from "../client-support/fake-sync-backend.js";
import { type FakeSyncServer, startFakeSyncServer } from "../client-support/fake-sync-server.js";

/** The engine runs over node:sqlite where Node has it (CI's Node 24 lane), else better-sqlite3. */
const openDriver = (await isNodeSqliteAvailable()) ? openNodeSqliteDriver : openBetterSqlite3Driver;

/** No whole-operation retries: fixtures pin the first failure (as the upstream fixture runners do). */
export const NO_TRANSIENT_RETRY = {
  maxAttempts: 1,
  initialBackoffMillis: 1,
  maxBackoffMillis: 1,
  jitterRatio: 0,
};

/** Application schemas the behaviour fixtures name (`schema` member). */
export const SCHEMA_PRESETS: Readonly<Record<string, readonly string[]>> = {
  users: ["CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL)"],
  "users-posts": [
    "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL)",
    "CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users(id), title TEXT NOT NULL)",
  ],
  "immediate-authors-profiles-cycle": [
    "CREATE TABLE authors (id TEXT PRIMARY KEY NOT NULL, profile_id TEXT NOT NULL REFERENCES profiles(id), name TEXT NOT NULL)",
    "CREATE TABLE profiles (id TEXT PRIMARY KEY NOT NULL, author_id TEXT NOT NULL REFERENCES authors(id), bio TEXT NOT NULL)",
  ],
  "typed-rows": [
    "CREATE TABLE typed_rows (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, note TEXT NULL, " +
      "count_value INTEGER NULL, enabled_flag INTEGER NOT NULL, rating REAL NULL, data BLOB NULL, created_at TEXT NULL)",
  ],
};

/** A users-only configuration under schema "main". */
export const USERS_CONFIG: SyncConfig = {
  schema: "main",
  syncTables: [{ tableName: "users", syncKeyColumnName: "id" }],
};

/** A running harness. */
export interface EngineHarness {
  readonly driver: SqliteDriver;
  readonly server: FakeSyncServer;
  readonly backend: FakeSyncBackend;
  /** The current client (replaced by `reopen`). */
  client: SyncClient;
  /** Closes the current client and creates a new one over the same database (not yet opened). */
  reopen(): Promise<SyncClient>;
  /** Runs statements in one transaction with deferred foreign keys, as an application would. */
  execute(statements: readonly string[]): Promise<void>;
  /** Runs statements with apply mode on (writes are not captured), in one transaction. */
  executeApplyMode(statements: readonly string[]): Promise<void>;
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

/** Options of `startEngineHarness`. */
export interface EngineHarnessOptions {
  readonly schema?: readonly string[];
  readonly config?: SyncConfig;
  readonly backend?: FakeSyncBackendOptions;
  readonly client?: Partial<Omit<SyncClientOptions, "driver" | "config" | "baseUrl" | "tokenProvider">>;
  readonly basePath?: string;
}

/** Creates the database, the server and a client (not yet opened). */
export async function startEngineHarness(options: EngineHarnessOptions = {}): Promise<EngineHarness> {
  const dir = mkdtempSync(join(tmpdir(), "oversync-engine-"));
  const driver = await openDriver(join(dir, "app.db"));
  for (const statement of options.schema ?? SCHEMA_PRESETS.users!) await driver.exec(statement);
  const config = options.config ?? USERS_CONFIG;
  const server = await startFakeSyncServer({ basePath: options.basePath ?? "/" });
  const backend = new FakeSyncBackend(server, {
    tables: config.syncTables.map((table) => ({
      schema: config.schema,
      table: table.tableName.toLowerCase(),
      keyColumn: (table.syncKeyColumnName ?? "id").toLowerCase(),
    })),
    ...options.backend,
  });
  let sourceCounter = 0;
  const generateSourceId = () => `00000000-0000-4000-8000-${String(++sourceCounter).padStart(12, "0")}`;
  const makeClient = () =>
    createSyncClient({
      driver,
      config,
      baseUrl: server.baseUrl,
      tokenProvider: () => "test-token",
      transientRetryPolicy: NO_TRANSIENT_RETRY,
      generateSourceId,
      ...options.client,
    });
  const harness: EngineHarness = {
    driver,
    server,
    backend,
    client: makeClient(),
    async reopen() {
      await harness.client.close();
      harness.client = makeClient();
      return harness.client;
    },
    async execute(statements) {
      if (statements.length === 0) return;
      await driver.transaction(async (tx) => {
        await tx.exec("PRAGMA defer_foreign_keys = ON");
        for (const statement of statements) await tx.exec(statement);
      });
    },
    async executeApplyMode(statements) {
      await driver.transaction(async (tx) => {
        await tx.exec("PRAGMA defer_foreign_keys = ON");
        await tx.exec("UPDATE _sync_apply_state SET apply_mode = 1 WHERE singleton_key = 1");
        for (const statement of statements) await tx.exec(statement);
        await tx.exec("UPDATE _sync_apply_state SET apply_mode = 0 WHERE singleton_key = 1");
      });
    },
    query: (sql) => driver.query(sql) as never,
    async close() {
      await harness.client.close().catch(() => undefined);
      await server.close();
      await driver.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** A single integer (count, flag, seq) from the database as a number. */
export async function scalar(harness: EngineHarness, sql: string): Promise<number> {
  const rows = await harness.driver.query(sql);
  const value = Object.values(rows[0] ?? {})[0];
  if (typeof value !== "bigint") throw new Error(`${sql} returned ${String(value)}, not an INTEGER`);
  return Number(value);
}

/** A single TEXT value from the database. */
export async function scalarText(harness: EngineHarness, sql: string): Promise<string> {
  const rows = await harness.driver.query(sql);
  const value = Object.values(rows[0] ?? {})[0];
  if (typeof value !== "string") throw new Error(`${sql} returned ${String(value)}, not TEXT`);
  return value;
}

/** A harness whose client is open and attached to "user-1" (an empty account). */
export async function startAttachedHarness(options: EngineHarnessOptions = {}): Promise<EngineHarness> {
  const harness = await startEngineHarness(options);
  await harness.client.open();
  await harness.client.attach("user-1");
  return harness;
}
