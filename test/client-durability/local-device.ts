/**
 * A device: one SQLite file with the `durable` tables and a SyncClient over it, created the same
 * way in the test process and in the child process (child.ts), so both open the file identically.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ProgressListener,
  type SqliteDriver,
  type SyncClient,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { isNodeSqliteAvailable, openNodeSqliteDriver } from "@oversync/client/node-sqlite";
import { SQLITE_DDL, SYNC_CONFIG } from "./schema.js";

/** The driver the engine suites use: node:sqlite where Node has it, else better-sqlite3. */
export const openDriver = (await isNodeSqliteAvailable()) ? openNodeSqliteDriver : openBetterSqlite3Driver;

/** How a device's client is set up; serializable, the child gets it as JSON. */
export interface DeviceOptions {
  readonly dbPath: string;
  readonly baseUrl: string;
  readonly userId: string;
  /** Rows per push chunk. */
  readonly uploadLimit?: number;
  /** Rows asked per snapshot chunk. */
  readonly snapshotChunkRows?: number;
}

/** No whole-operation retries: a crash test wants the first failure, not a retried success. */
const NO_RETRY = { maxAttempts: 1, initialBackoffMillis: 1, maxBackoffMillis: 1, jitterRatio: 0 };

/** A client over `driver` for the device. */
export function deviceClient(
  driver: SqliteDriver,
  options: DeviceOptions,
  onProgress?: ProgressListener,
): SyncClient {
  return createSyncClient({
    driver,
    config: SYNC_CONFIG,
    baseUrl: options.baseUrl,
    tokenProvider: () => `user:${options.userId}`,
    transientRetryPolicy: NO_RETRY,
    ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit }),
    ...(options.snapshotChunkRows === undefined ? {} : { snapshotChunkRows: options.snapshotChunkRows }),
    ...(onProgress === undefined ? {} : { onProgress }),
  });
}

/** A fresh directory with an application database holding the `durable` tables. */
export async function createDeviceFile(): Promise<{ dir: string; dbPath: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "oversync-durable-"));
  const dbPath = join(dir, "app.db");
  const driver = await openDriver(dbPath);
  try {
    for (const statement of SQLITE_DDL) await driver.exec(statement);
  } finally {
    await driver.close();
  }
  return { dir, dbPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An open device in this process: its driver and a client that is opened and attached. */
export interface OpenDevice {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  close(): Promise<void>;
}

/**
 * Opens the file and the client, and attaches `userId` (resuming an existing attachment) unless
 * `attach` is false.
 */
export async function openDevice(options: DeviceOptions, attach = true): Promise<OpenDevice> {
  const driver = await openDriver(options.dbPath);
  const client = deviceClient(driver, options);
  try {
    await client.open();
    if (attach) await client.attach(options.userId);
  } catch (error) {
    await client.close().catch(() => undefined);
    await driver.close();
    throw error;
  }
  return {
    driver,
    client,
    async close() {
      await client.close();
      await driver.close();
    },
  };
}
