/**
 * What a scenario is given: its sizes, and helpers that open databases, `oversync serve` children,
 * devices and temporary directories which the runner closes after the scenario, in reverse order,
 * whether it succeeded or not (and on Ctrl+C), so a failed scenario leaves nothing behind.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SqliteDriver, type SyncClient, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import type { BenchSizes } from "./bench-args.js";
import { type BenchDatabase, createBenchDatabase } from "./bench-db.js";
import { DEVICE_CONFIG, DEVICE_SQL, SERVER_SQL, writeServeConfig } from "./bench-schema.js";
import { FigureList } from "./results.js";
import { type ServeChild, startServeChild } from "./serve-child.js";

/** A device: a SyncClient on its own SQLite file. */
export interface Device {
  readonly client: SyncClient;
  readonly driver: SqliteDriver;
  /** Closes client and database; later calls do nothing. */
  close(): Promise<void>;
}

/** Options of `device()`. */
export interface DeviceOptions {
  readonly fetch?: typeof globalThis.fetch;
}

export class BenchContext {
  /** What the scenario measured so far (kept when it fails halfway). */
  readonly figures = new FigureList();
  /** Sizes and observations for the report. */
  readonly notes: string[] = [];
  readonly #cleanups: (() => Promise<unknown> | undefined)[] = [];

  constructor(
    readonly scenario: string,
    readonly rounds: number,
    readonly sizes: BenchSizes,
    readonly adminUrl: string,
    /** Prints a progress line (stderr). */
    readonly progress: (line: string) => void,
  ) {}

  /** Runs `cleanup` when the scenario ends. */
  defer(cleanup: () => Promise<unknown> | undefined): void {
    this.#cleanups.push(cleanup);
  }

  /** Runs the deferred cleanups, newest first; a failing one does not stop the others. */
  async close(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      await Promise.resolve()
        .then(cleanup)
        .catch((error: unknown) => this.progress(`cleanup failed: ${(error as Error).message}`));
    }
  }

  /** A fresh database with the bench tables. */
  async database(): Promise<BenchDatabase> {
    const db = await createBenchDatabase(this.adminUrl, this.scenario);
    this.defer(() => db.drop());
    await db.pool.query(SERVER_SQL);
    return db;
  }

  /** A temporary directory, removed afterwards. */
  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "oversync-bench-"));
    this.defer(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /** `oversync serve` on `db` serving the bench table. */
  async serve(db: BenchDatabase): Promise<ServeChild> {
    const configFile = await writeServeConfig(await this.tempDir());
    const server = await startServeChild(db.url, configFile);
    this.defer(() => server.close());
    return server;
  }

  /** An opened (not attached) device of `userId` on `server`, its SQLite file in `dir`. */
  async device(
    server: ServeChild,
    dir: string,
    name: string,
    userId: string,
    options: DeviceOptions = {},
  ): Promise<Device> {
    const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
    await driver.exec(DEVICE_SQL);
    const token = await server.token(userId);
    const client = createSyncClient({
      driver,
      baseUrl: `${server.origin}/`,
      tokenProvider: () => token,
      config: DEVICE_CONFIG,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    let closed: Promise<void> | undefined;
    const close = () => {
      closed ??= client.close().then(() => driver.close());
      return closed;
    };
    this.defer(close);
    await client.open();
    return { client, driver, close };
  }
}
