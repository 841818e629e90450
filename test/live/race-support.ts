/**
 * What the write-race suites share: devices (our client on a real SQLite file) whose requests can
 * run app writes at the moment the client sends them, a ledger of every acknowledged app write with
 * a unique value, and the convergence check: every device and PostgreSQL hold the same rows, and
 * every acknowledged write is among them.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli";
import {
  type ConflictResolver,
  type SqliteDriver,
  type SyncClient,
  createSyncClient,
  isTransitionPendingError,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import type pg from "pg";
import { expect } from "vitest";

/** App writes to run when the client sends a matching request, before it goes out. */
interface RequestHook {
  readonly method: string;
  readonly path: RegExp;
  remaining: number;
  readonly run: (url: URL) => Promise<void>;
}

/** One answered request, for assertions on what the client did. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** When the answer arrived (performance.now()), to order requests of several devices. */
  readonly at: number;
}

/** A device: our client on its own SQLite file, attached to nothing yet. */
export interface Device {
  readonly name: string;
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  readonly seen: SeenRequest[];
  /**
   * Runs `run` when the client next sends `method` to a path matching `path` (`times` times). A
   * request runs the first registered hook it matches that has runs left.
   */
  onRequest(method: string, path: RegExp, run: (url: URL) => Promise<void>, times?: number): void;
  /** True once every registered hook has run. */
  hooksDone(): boolean;
  close(): Promise<void>;
}

export interface DeviceOptions {
  readonly resolver?: ConflictResolver;
  readonly snapshotChunkRows?: number;
}

/** Opens a device with the example schema in `dir`, signed in with `token`. */
export async function openDevice(
  baseUrl: string,
  dir: string,
  name: string,
  token: string,
  options: DeviceOptions = {},
): Promise<Device> {
  const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
  await driver.exec(exampleClientSchemaSql());
  const hooks: RequestHook[] = [];
  const seen: SeenRequest[] = [];
  const client = createSyncClient({
    driver,
    baseUrl,
    tokenProvider: () => token,
    config: EXAMPLE_CLIENT_CONFIG,
    ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
    ...(options.snapshotChunkRows === undefined ? {} : { snapshotChunkRows: options.snapshotChunkRows }),
    fetch: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = init?.method ?? "GET";
      const hook = hooks.find(
        (candidate) =>
          candidate.remaining > 0 && candidate.method === method && candidate.path.test(url.pathname),
      );
      if (hook !== undefined) {
        hook.remaining--;
        await hook.run(url);
      }
      const response = await fetch(input, init);
      seen.push({ method, path: url.pathname, status: response.status, at: performance.now() });
      return response;
    },
  });
  await client.open();
  return {
    name,
    driver,
    client,
    seen,
    onRequest(method, path, run, times = 1) {
      hooks.push({ method, path, run, remaining: times });
    },
    hooksDone: () => hooks.every((hook) => hook.remaining === 0),
    async close() {
      await client.close();
      await driver.close();
    },
  };
}

/** A user row as both sides store it. */
export interface UserRow {
  readonly id: string;
  readonly name: string;
  readonly email: string;
}

/** Every app write the app saw succeed, each with a unique name; and the ones SQLite refused. */
export class Ledger {
  readonly acknowledged = new Map<string, string>();
  readonly refused: string[] = [];
  private next = 0;

  /**
   * Inserts a user with a fresh id and name on `device`. A write refused while the database
   * changes accounts or recovers its source (SYNC_TRANSITION_PENDING) is noted as refused.
   */
  async insertUser(device: Device): Promise<"acknowledged" | "refused"> {
    const id = randomUUID();
    const name = `${device.name}-${++this.next}`;
    try {
      await device.driver.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
        id,
        name,
        `${name}@example.com`,
      ]);
    } catch (error) {
      if (!isTransitionPendingError(error)) throw error;
      this.refused.push(name);
      return "refused";
    }
    this.acknowledged.set(id, name);
    return "acknowledged";
  }

  /** Inserts `count` users on `device`; returns how many were acknowledged. */
  async insertUsers(device: Device, count: number): Promise<number> {
    let acknowledged = 0;
    for (let i = 0; i < count; i++) if ((await this.insertUser(device)) === "acknowledged") acknowledged++;
    return acknowledged;
  }
}

/** The user rows of one device, by id. */
export function localUsers(device: Device): Promise<UserRow[]> {
  return device.driver.query<UserRow>("SELECT id, name, email FROM users ORDER BY id");
}

/** The user rows of `userId` in PostgreSQL, by id. */
export async function serverUsers(pool: pg.Pool, userId: string): Promise<UserRow[]> {
  const { rows } = await pool.query<UserRow>(
    'SELECT id::text AS id, name, email FROM business.users WHERE _sync_scope_id = $1 ORDER BY id::text COLLATE "C"',
    [userId],
  );
  return rows;
}

/** Syncs every device until none has pending changes (a bounded number of rounds). */
export async function settle(devices: readonly Device[]): Promise<void> {
  for (let round = 0; round < 5; round++) {
    let pending = 0;
    for (const device of devices) {
      pending += (await device.client.sync()).syncStatus.pending.pendingRowCount;
    }
    if (pending === 0) {
      // One more pass so every device has pulled the last device's push.
      for (const device of devices) await device.client.sync();
      return;
    }
  }
  throw new Error("devices still have pending changes after 5 sync rounds");
}

/**
 * Settles the devices, then checks that every device holds exactly the server's user rows and
 * that every acknowledged write is on the server with its value.
 */
export async function expectConverged(
  pool: pg.Pool,
  userId: string,
  devices: readonly Device[],
  ledger: Ledger,
): Promise<void> {
  await settle(devices);
  const server = await serverUsers(pool, userId);
  const byId = new Map(server.map((row) => [row.id, row.name]));
  const lost = [...ledger.acknowledged].filter(([id, name]) => byId.get(id) !== name);
  expect(lost, "acknowledged writes missing from PostgreSQL").toEqual([]);
  for (const device of devices) {
    expect(await localUsers(device), `${device.name} diverges from PostgreSQL`).toEqual(server);
  }
}
