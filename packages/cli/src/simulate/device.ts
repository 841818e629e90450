/**
 * A simulated device: one SQLite file with the example tables, our sync client over it, and the
 * user signed in through the server's `/dummy-signin`. It records every request its client sends
 * (method, path, query, body), so a scenario can tell how the client reached a state (a watch
 * stream or a poll, a re-upload from row 0, the number of snapshot chunks), and it reads the
 * file's `_sync_*` bookkeeping for the assertions.
 */
import {
  type AttachResult,
  type ConflictResolver,
  type SqliteDriver,
  type SqliteRow,
  type SqliteValue,
  type SyncClient,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "../example-client-schema.js";
import { type CanonicalRow, canonicalLocalRow, exampleTable, sortById } from "./canonical-rows.js";
import { ScenarioAssertionError, sleep } from "./scenario.js";
import { signIn } from "./server-api.js";

/** How a device's client is set up. */
export interface DeviceOptions {
  /** Where the client sends its requests (a proxy, say); the scenario's server by default. */
  readonly serverUrl?: string;
  readonly resolver?: ConflictResolver;
  /** Rows per push chunk (the client's default is 200). */
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  readonly snapshotChunkRows?: number;
}

/** One request the device's client sent. */
export interface DeviceRequest {
  readonly method: string;
  /** The path below the server's base URL, e.g. `/sync/push-sessions/<id>/chunks`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: string | undefined;
}

/** The device's `_sync_*` bookkeeping. */
export interface LocalSyncState {
  readonly dirtyRows: bigint;
  readonly outboxState: string;
  readonly outboxRows: bigint;
  readonly stagedSnapshotRows: bigint;
  readonly lastBundleSeqSeen: bigint;
  readonly bindingState: string;
  readonly attachedUserId: string;
  readonly sourceId: string;
}

interface Connection {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
}

/** Attempts at `attach` while another device holds the account's initialization. */
const ATTACH_ATTEMPTS = 20;

export class Device {
  /** Every request the client sent, oldest first (kept across restarts). */
  readonly requests: DeviceRequest[] = [];
  private token = "";

  private connection: Connection | undefined;

  private constructor(
    readonly name: string,
    readonly file: string,
    private readonly serverUrl: string,
    private readonly options: DeviceOptions,
  ) {}

  /** Opens the device's file (creating it and the example tables if needed) and its client. */
  static async open(
    name: string,
    file: string,
    serverUrl: string,
    options: DeviceOptions = {},
  ): Promise<Device> {
    const device = new Device(name, file, options.serverUrl ?? serverUrl, options);
    device.connection = await device.connect();
    return device;
  }

  get driver(): SqliteDriver {
    return this.opened().driver;
  }

  get client(): SyncClient {
    return this.opened().client;
  }

  /** Signs `user` in; the client sends this token from now on. */
  private async signIn(user: string): Promise<void> {
    this.token = await signIn(this.serverUrl, user);
  }

  /**
   * Signs `user` in and attaches the database to the account, waiting out `retry_later` (another
   * device initializing the account).
   */
  async attach(user: string): Promise<Extract<AttachResult, { status: "connected" }>> {
    await this.signIn(user);
    for (let attempt = 1; ; attempt++) {
      const result = await this.client.attach(user);
      if (result.status === "connected") return result;
      if (attempt === ATTACH_ATTEMPTS) {
        throw new ScenarioAssertionError(
          `${this.name}: attach(${user}) still answered retry_later after ${attempt} tries`,
        );
      }
      await sleep(Math.min(result.retryAfterSeconds * 1000, 500));
    }
  }

  /** The app process ends and starts again: client and database closed, then reopened (not re-attached). */
  async restart(): Promise<void> {
    await this.closeConnection();
    this.connection = await this.connect();
  }

  /** Closes the client and the database (again: nothing happens). */
  async close(): Promise<void> {
    await this.closeConnection();
  }

  run(sql: string, params: readonly SqliteValue[] = []): Promise<unknown> {
    return this.driver.run(sql, params);
  }

  query<R = SqliteRow>(sql: string, params: readonly SqliteValue[] = []): Promise<R[]> {
    return this.driver.query<R>(sql, params);
  }

  /** Runs `work` in one transaction with foreign keys checked at COMMIT (an app's multi-row edit). */
  edit(work: (run: (sql: string, params?: readonly SqliteValue[]) => Promise<unknown>) => Promise<void>) {
    return this.driver.transaction(async (tx) => {
      await tx.exec("PRAGMA defer_foreign_keys = ON");
      await work((sql, params = []) => tx.run(sql, params));
    });
  }

  /** How many rows `table` holds. */
  async count(table: string): Promise<number> {
    const [row] = await this.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}`);
    return Number(row?.n ?? 0n);
  }

  /** `table`'s rows in comparable form, ordered by id. */
  async rows(table: string): Promise<CanonicalRow[]> {
    const definition = exampleTable(table);
    return sortById(
      (await this.query(`SELECT * FROM ${table}`)).map((row) => canonicalLocalRow(definition, row)),
    );
  }

  /** The file's sync bookkeeping, read from the `_sync_*` tables. */
  async syncState(): Promise<LocalSyncState> {
    const [row] = await this.query<{
      dirty: bigint;
      outbox_state: string;
      outbox_rows: bigint;
      staged: bigint;
      last_bundle_seq_seen: bigint;
      binding_state: string;
      attached_user_id: string;
      current_source_id: string;
    }>(
      `SELECT (SELECT count(*) FROM _sync_dirty_rows) AS dirty,
              (SELECT state FROM _sync_outbox_bundle) AS outbox_state,
              (SELECT count(*) FROM _sync_outbox_rows) AS outbox_rows,
              (SELECT count(*) FROM _sync_snapshot_stage) AS staged,
              a.last_bundle_seq_seen, a.binding_state, a.attached_user_id, a.current_source_id
         FROM _sync_attachment_state a`,
    );
    if (row === undefined) throw new ScenarioAssertionError(`${this.name}: _sync_attachment_state is empty`);
    return {
      dirtyRows: row.dirty,
      outboxState: row.outbox_state,
      outboxRows: row.outbox_rows,
      stagedSnapshotRows: row.staged,
      lastBundleSeqSeen: row.last_bundle_seq_seen,
      bindingState: row.binding_state,
      attachedUserId: row.attached_user_id,
      sourceId: row.current_source_id,
    };
  }

  /** Requests since index `since` whose method is `method` and path matches `pattern` (`:x` = any segment). */
  requestsTo(method: string, pattern: string, since = 0): DeviceRequest[] {
    const want = pattern.split("/");
    return this.requests.slice(since).filter((request) => {
      const got = request.path.split("/");
      return (
        request.method === method &&
        got.length === want.length &&
        want.every((part, index) => part.startsWith(":") || part === got[index])
      );
    });
  }

  private opened(): Connection {
    if (this.connection === undefined) throw new Error(`device ${this.name} is closed`);
    return this.connection;
  }

  private async connect(): Promise<Connection> {
    const driver = await openBetterSqlite3Driver(this.file);
    try {
      await driver.exec(exampleClientSchemaSql());
      const client = createSyncClient({
        driver,
        baseUrl: this.serverUrl,
        tokenProvider: () => this.token,
        config: EXAMPLE_CLIENT_CONFIG,
        fetch: this.recordingFetch(),
        ...(this.options.resolver === undefined ? {} : { resolver: this.options.resolver }),
        ...(this.options.uploadLimit === undefined ? {} : { uploadLimit: this.options.uploadLimit }),
        ...(this.options.downloadLimit === undefined ? {} : { downloadLimit: this.options.downloadLimit }),
        ...(this.options.snapshotChunkRows === undefined
          ? {}
          : { snapshotChunkRows: this.options.snapshotChunkRows }),
      });
      await client.open();
      return { driver, client };
    } catch (error) {
      await driver.close().catch(() => undefined);
      throw error;
    }
  }

  private async closeConnection(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection === undefined) return;
    try {
      await connection.client.close();
    } finally {
      await connection.driver.close();
    }
  }

  /** The global fetch, noting each request first. */
  private recordingFetch(): typeof fetch {
    const basePath = new URL(this.serverUrl).pathname.replace(/\/$/, "");
    return (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      this.requests.push({
        method: init?.method ?? "GET",
        path: url.pathname.slice(basePath.length),
        query: url.searchParams,
        body: typeof init?.body === "string" ? init.body : undefined,
      });
      return fetch(input, init);
    };
  }
}
