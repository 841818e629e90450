/**
 * A device of the live suite: a real SQLite file with the example application's tables, our sync
 * client over it, and a fetch that records every request the client sends (method, endpoint, body,
 * status) and lets a test take the device offline or act at a request (write locally while a push
 * is in flight, hold a request until released). The server is never faked: requests go out as the
 * client made them.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli";
import {
  type BackoffPolicy,
  type ConflictResolver,
  type SqliteDriver,
  type SqliteValue,
  type SyncClient,
  type SyncConfig,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { SOURCE_ID_HEADER } from "@oversync/protocol";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { LiveServer } from "./live-server.js";
import type { FaultRule, LiveUser } from "./server-calls.js";

/** The endpoint names of fail-requests rules, for counting what a device sent. */
export type Endpoint = FaultRule["endpoint"];

const ENDPOINT_PATTERNS: readonly [Endpoint, string, RegExp][] = [
  ["capabilities", "GET", /^\/sync\/capabilities$/],
  ["connect", "POST", /^\/sync\/connect$/],
  ["push_session_create", "POST", /^\/sync\/push-sessions$/],
  ["push_session_chunk", "POST", /^\/sync\/push-sessions\/[^/]+\/chunks$/],
  ["push_session_commit", "POST", /^\/sync\/push-sessions\/[^/]+\/commit$/],
  ["push_session_delete", "DELETE", /^\/sync\/push-sessions\/[^/]+$/],
  ["committed_bundle_rows", "GET", /^\/sync\/committed-bundles\/[^/]+\/rows$/],
  ["pull", "GET", /^\/sync\/pull$/],
  ["snapshot_create", "POST", /^\/sync\/snapshot-sessions$/],
  ["snapshot_chunk", "GET", /^\/sync\/snapshot-sessions\/[^/]+$/],
  ["snapshot_delete", "DELETE", /^\/sync\/snapshot-sessions\/[^/]+$/],
  ["watch", "GET", /^\/sync\/watch$/],
];

/** One request a device sent. */
export interface SentRequest {
  readonly endpoint: Endpoint | "other";
  readonly method: string;
  readonly url: URL;
  readonly sourceId: string | null;
  /** The JSON body, parsed. */
  readonly body: unknown;
  /** The response status; undefined when no response arrived. */
  status?: number;
}

/** What a test can do to a device's network. */
export class Network {
  readonly sent: SentRequest[] = [];
  /** Every request fails as an unreachable server does ("fetch failed"). */
  offline = false;
  /** Runs before a request goes out (it may write locally, or hold the request). */
  before: ((request: SentRequest) => Promise<void> | void) | undefined;
  /** Runs once a response has arrived, before the client reads it. */
  after: ((request: SentRequest) => Promise<void> | void) | undefined;

  /** How many requests went to `endpoint`. */
  count(endpoint: Endpoint): number {
    return this.sent.filter((request) => request.endpoint === endpoint).length;
  }

  /** The requests to `endpoint`, oldest first. */
  to(endpoint: Endpoint): SentRequest[] {
    return this.sent.filter((request) => request.endpoint === endpoint);
  }

  /** Forgets what was sent so far. */
  clear(): void {
    this.sent.length = 0;
  }

  readonly fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const method = init?.method ?? "GET";
    const text = typeof init?.body === "string" ? init.body : undefined;
    const request: SentRequest = {
      endpoint:
        ENDPOINT_PATTERNS.find(([, m, path]) => m === method && path.test(url.pathname))?.[0] ?? "other",
      method,
      url,
      sourceId: new Headers(init?.headers).get(SOURCE_ID_HEADER),
      body: text === undefined ? undefined : JSON.parse(text),
    };
    this.sent.push(request);
    if (this.offline)
      throw new TypeError("fetch failed", { cause: new Error("the device is offline (test)") });
    await this.before?.(request);
    const response = await globalThis.fetch(input, init);
    request.status = response.status;
    await this.after?.(request);
    return response;
  };
}

/** How a device is made. */
export interface DeviceOptions {
  /** Reuse this SQLite file (a restart); a fresh file otherwise. */
  readonly file?: string;
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  readonly snapshotChunkRows?: number;
  readonly resolver?: ConflictResolver;
  /** The whole-operation transient retry; "none" disables it (one attempt). */
  readonly retry?: BackoffPolicy | "none";
  readonly config?: SyncConfig;
  /** SQL run after the example tables are created (local-only triggers and the like). */
  readonly setupSql?: string;
  /** False leaves `open()` to the test. */
  readonly open?: boolean;
}

/** The retry policy of upstream's E2E retry tests: 3 attempts, 1–2 ms apart, no jitter. */
export const FAST_RETRY: BackoffPolicy = {
  maxAttempts: 3,
  initialBackoffMillis: 1,
  maxBackoffMillis: 2,
  jitterRatio: 0,
};

const NO_RETRY: BackoffPolicy = {
  maxAttempts: 1,
  initialBackoffMillis: 1,
  maxBackoffMillis: 1,
  jitterRatio: 0,
};

/** One device: a SQLite file, a client, a recorded network. */
export class Device {
  private constructor(
    readonly file: string,
    readonly driver: SqliteDriver,
    readonly client: SyncClient,
    readonly net: Network,
    private readonly session: { user: LiveUser },
    private readonly factory: DeviceFactory,
  ) {}

  /** Opens a device on `file` for `user` (see DeviceOptions). */
  static async create(
    server: LiveServer,
    factory: DeviceFactory,
    user: LiveUser,
    file: string,
    options: DeviceOptions,
  ): Promise<Device> {
    const driver = await openBetterSqlite3Driver(file);
    await driver.exec(exampleClientSchemaSql());
    if (options.setupSql !== undefined) await driver.exec(options.setupSql);
    const net = new Network();
    const session = { user };
    const retry = options.retry === "none" ? NO_RETRY : options.retry;
    const client = createSyncClient({
      driver,
      baseUrl: server.url,
      tokenProvider: () => session.user.token,
      config: options.config ?? EXAMPLE_CLIENT_CONFIG,
      fetch: net.fetch,
      ...(options.uploadLimit === undefined ? {} : { uploadLimit: options.uploadLimit }),
      ...(options.downloadLimit === undefined ? {} : { downloadLimit: options.downloadLimit }),
      ...(options.snapshotChunkRows === undefined ? {} : { snapshotChunkRows: options.snapshotChunkRows }),
      ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
      ...(retry === undefined ? {} : { transientRetryPolicy: retry }),
    });
    if (options.open !== false) await client.open();
    return new Device(file, driver, client, net, session, factory);
  }

  /** The user whose token the device sends. */
  get user(): LiveUser {
    return this.session.user;
  }

  /** Sends `user`'s token from now on (an app signing in as someone else). */
  signIn(user: LiveUser): void {
    this.session.user = user;
  }

  /** Closes the client and the database file (an app ending). */
  async close(): Promise<void> {
    await this.factory.close(this);
  }

  /** Ends this app and starts it again on the same file: a new client, `open()` done. */
  async restart(options: Omit<DeviceOptions, "file"> = {}): Promise<Device> {
    await this.close();
    return this.factory.open(this.user, { ...options, file: this.file });
  }

  query<T = Record<string, SqliteValue>>(sql: string, params: readonly SqliteValue[] = []): Promise<T[]> {
    return this.driver.query<T>(sql, params);
  }

  run(sql: string, params: readonly SqliteValue[] = []): Promise<unknown> {
    return this.driver.run(sql, params);
  }

  /** Rows of `table` (optionally matching `where`). */
  async count(table: string, where = "1 = 1", params: readonly SqliteValue[] = []): Promise<number> {
    const [row] = await this.query<{ n: bigint }>(
      `SELECT count(*) AS n FROM ${table} WHERE ${where}`,
      params,
    );
    return Number(row!.n);
  }

  /** The `name` column of `table`, sorted. */
  async names(table = "users"): Promise<string[]> {
    const rows = await this.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY name`);
    return rows.map((row) => row.name);
  }

  /** Inserts a user; returns its id. */
  async insertUser(name: string, id: string = randomUUID()): Promise<string> {
    await this.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [id, name, `${name}@example.com`]);
    return id;
  }

  /** Inserts a post by `authorId`; returns its id. */
  async insertPost(authorId: string, title: string, id: string = randomUUID()): Promise<string> {
    await this.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)", [
      id,
      title,
      `${title} body`,
      authorId,
    ]);
    return id;
  }

  /** Renames the user `id`. */
  async renameUser(id: string, name: string): Promise<void> {
    await this.run("UPDATE users SET name = ? WHERE id = ?", [name, id]);
  }

  /** The name of user `id`, or undefined when the row is absent. */
  async userName(id: string): Promise<string | undefined> {
    return (await this.query<{ name: string }>("SELECT name FROM users WHERE id = ?", [id]))[0]?.name;
  }

  /** The captured changes not yet frozen (`_sync_dirty_rows`). */
  async dirtyRows(): Promise<DirtyRow[]> {
    const rows = await this.query<{
      table_name: string;
      key_json: string;
      op: string;
      base_row_version: bigint;
      payload: string | null;
    }>(
      "SELECT table_name, key_json, op, base_row_version, payload FROM _sync_dirty_rows ORDER BY dirty_ordinal",
    );
    return rows.map((row) => ({ ...row, base_row_version: Number(row.base_row_version) }));
  }

  /** The frozen outbox bundle and its row count. */
  async outbox(): Promise<{ state: string; sourceId: string; sourceBundleId: number; rows: number }> {
    const [bundle] = await this.query<{ state: string; source_id: string; source_bundle_id: bigint }>(
      "SELECT state, source_id, source_bundle_id FROM _sync_outbox_bundle",
    );
    return {
      state: bundle!.state,
      sourceId: bundle!.source_id,
      sourceBundleId: Number(bundle!.source_bundle_id),
      rows: await this.count("_sync_outbox_rows"),
    };
  }

  /** The durable attachment row. */
  async attachment(): Promise<Attachment> {
    const [row] = await this.query<Record<string, SqliteValue>>("SELECT * FROM _sync_attachment_state");
    return {
      bindingState: row!.binding_state as string,
      attachedUserId: row!.attached_user_id as string,
      currentSourceId: row!.current_source_id as string,
      lastBundleSeqSeen: Number(row!.last_bundle_seq_seen),
      rebuildRequired: Number(row!.rebuild_required) === 1,
      pendingInitializationId: row!.pending_initialization_id as string,
    };
  }

  /** The durable operation row (remote replace, source recovery). */
  async operation(): Promise<{ kind: string; reason: string; replacementSourceId: string }> {
    const [row] = await this.query<{ kind: string; reason: string; replacement_source_id: string }>(
      "SELECT kind, reason, replacement_source_id FROM _sync_operation_state",
    );
    return { kind: row!.kind, reason: row!.reason, replacementSourceId: row!.replacement_source_id };
  }

  /** The next source bundle id the device will use for `sourceId` (default: its current source). */
  async nextSourceBundleId(sourceId?: string): Promise<number> {
    const source = sourceId ?? (await this.attachment()).currentSourceId;
    const [row] = await this.query<{ next: bigint }>(
      "SELECT next_source_bundle_id AS next FROM _sync_source_state WHERE source_id = ?",
      [source],
    );
    return Number(row?.next ?? 0);
  }

  /** Staged snapshot rows. */
  stageRows(): Promise<number> {
    return this.count("_sync_snapshot_stage");
  }

  /** Changes not on the server yet: dirty plus frozen outbox rows. */
  async pendingRows(): Promise<number> {
    return (await this.count("_sync_dirty_rows")) + (await this.count("_sync_outbox_rows"));
  }

  /** True when nothing is queued, frozen or staged. */

  async isClean(): Promise<boolean> {
    return (
      (await this.count("_sync_dirty_rows")) === 0 &&
      (await this.count("_sync_outbox_rows")) === 0 &&
      (await this.stageRows()) === 0
    );
  }
}

/** A `_sync_dirty_rows` row. */
export interface DirtyRow {
  readonly table_name: string;
  readonly key_json: string;
  readonly op: string;
  readonly base_row_version: number;
  readonly payload: string | null;
}

/** `_sync_attachment_state`. */
export interface Attachment {
  readonly bindingState: string;
  readonly attachedUserId: string;
  readonly currentSourceId: string;
  readonly lastBundleSeqSeen: number;
  readonly rebuildRequired: boolean;
  readonly pendingInitializationId: string;
}

/** Opens devices in a temporary folder and closes whatever a test left open when it ends. */
export class DeviceFactory {
  private dir = "";
  private readonly open_ = new Set<Device>();

  constructor(private readonly server: LiveServer) {}

  /** Creates the folder (beforeAll). */
  async setUp(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "oversync-conformance-devices-"));
  }

  /** A fresh database file path. */
  newFile(): string {
    return join(this.dir, `${randomUUID()}.db`);
  }

  /** A device for `user` (a fresh file unless `options.file`). */
  async open(user: LiveUser, options: DeviceOptions = {}): Promise<Device> {
    const device = await Device.create(this.server, this, user, options.file ?? this.newFile(), options);
    this.open_.add(device);
    return device;
  }

  async close(device: Device): Promise<void> {
    if (!this.open_.delete(device)) return;
    await device.client.close().catch(() => undefined);
    await device.driver.close();
  }

  /** Closes every device still open (afterEach). */
  async closeAll(): Promise<void> {
    for (const device of [...this.open_]) await this.close(device);
  }

  /** Removes the folder (afterAll). */
  async tearDown(): Promise<void> {
    await this.closeAll();
    if (this.dir !== "") await rm(this.dir, { recursive: true, force: true });
  }
}

/** The file's device factory, with its folder and cleanup hooks registered. */
export function useDevices(server: LiveServer): DeviceFactory {
  const devices = new DeviceFactory(server);
  beforeAll(() => devices.setUp());
  afterEach(() => devices.closeAll());
  afterAll(() => devices.tearDown());
  return devices;
}
