/**
 * The additive schema change of docs/schema-changes.md, step by step, over real HTTP against a
 * real PostgreSQL whose table gains columns while devices are in use: a device built before the
 * change (no such columns locally) and one built after keep syncing with each other, neither
 * overwrites the other's values, rows queued before the change are not stuck, and the old device
 * later adds the columns itself.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SqliteDriver, type SyncClient, type SyncConfig, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { type FetchHandler, type SyncRuntime, createSyncHandler, createSyncService } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LoopbackServer, serveOnLoopback, testAuthenticate } from "../server-http/http-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";

const USER = "migrating-user";
const CONFIG: SyncConfig = { schema: "notes", syncTables: [{ tableName: "items", syncKeyColumnName: "id" }] };
const OLD_LOCAL_TABLE = "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL)";
const ADD_LOCAL_COLUMNS = [
  "ALTER TABLE items ADD COLUMN body TEXT",
  "ALTER TABLE items ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
];
const ids = ["1", "2", "3", "4"].map((n) => `0c5e1f2a-3b4c-4d5e-8f60-71829304a5b${n}`);

let db: TestDatabase;
let dir: string;
let http: LoopbackServer;
let service: SyncRuntime;
let handler: FetchHandler;

async function startService(): Promise<void> {
  service = createSyncService({
    pool: db.pool,
    appName: "schema-changes",
    registeredTables: [{ schema: "notes", table: "items", syncKeyColumns: ["id"] }],
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
  });
  await service.bootstrap();
  handler = createSyncHandler({
    service,
    authenticate: testAuthenticate,
    logger: { error: () => undefined },
  });
}

interface Device {
  readonly driver: SqliteDriver;
  client: SyncClient;
  reopen(): Promise<void>;
}

async function openDevice(name: string, ddl: readonly string[]): Promise<Device> {
  const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
  for (const statement of ddl) await driver.exec(statement);
  const create = () =>
    createSyncClient({ driver, baseUrl: http.origin, tokenProvider: () => `user:${USER}`, config: CONFIG });
  const device: Device = {
    driver,
    client: create(),
    async reopen() {
      await device.client.close();
      device.client = create();
      await device.client.open();
      await device.client.attach(USER);
    },
  };
  await device.client.open();
  return device;
}

async function serverItems() {
  const { rows } = await db.pool.query(
    "SELECT id::text AS id, title, body, priority FROM notes.items WHERE _sync_scope_id = $1 ORDER BY id",
    [USER],
  );
  return rows;
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_schema_changes");
  dir = await mkdtemp(join(tmpdir(), "oversync-schema-"));
  await db.pool.query(`CREATE SCHEMA notes;
    CREATE TABLE notes.items (_sync_scope_id text NOT NULL, id uuid NOT NULL, title text NOT NULL,
      PRIMARY KEY (_sync_scope_id, id))`);
  await startService();
  http = await serveOnLoopback((request) => handler(request));
});

afterAll(async () => {
  await http?.close();
  await service?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("a column added on the server while old and new app versions are in use", () => {
  let old: Device;
  let current: Device;

  it("1. the old app syncs before the change and queues one more row", async () => {
    old = await openDevice("old", [OLD_LOCAL_TABLE]);
    await old.client.attach(USER);
    for (const id of ids.slice(0, 2)) {
      await old.driver.run("INSERT INTO items (id, title) VALUES (?, ?)", [id, `title ${id.at(-1)}`]);
    }
    await old.client.sync();
    await old.driver.run("INSERT INTO items (id, title) VALUES (?, 'queued before the change')", [ids[2]!]);
  });

  it("2. the server adds a nullable column and one with a default, and restarts", async () => {
    await db.pool.query(
      "ALTER TABLE notes.items ADD COLUMN body text, ADD COLUMN priority integer NOT NULL DEFAULT 0",
    );
    await service.close();
    await startService();
  });

  it("3. the old app's queued row and new inserts still push; the server fills the new columns", async () => {
    expect(await old.client.sync()).toMatchObject({ pushOutcome: "committed" });
    expect(await serverItems()).toEqual([
      { id: ids[0], title: "title 1", body: null, priority: 0 },
      { id: ids[1], title: "title 2", body: null, priority: 0 },
      { id: ids[2], title: "queued before the change", body: null, priority: 0 },
    ]);
  });

  it("4. a new app version with the columns restores them and writes them", async () => {
    current = await openDevice("current", [OLD_LOCAL_TABLE, ...ADD_LOCAL_COLUMNS]);
    expect(await current.client.attach(USER)).toMatchObject({ outcome: "used_remote_state" });
    await current.driver.run("UPDATE items SET body = 'from the new app', priority = 2 WHERE id = ?", [
      ids[0]!,
    ]);
    expect(await current.client.sync()).toMatchObject({ pushOutcome: "committed" });
  });

  it("5. the old app pulls rows with columns it does not know, and its updates leave them alone", async () => {
    expect(await old.client.sync()).toMatchObject({ remoteOutcome: "applied_incremental" });
    await old.driver.run("UPDATE items SET title = 'renamed by the old app' WHERE id = ?", [ids[0]!]);
    expect(await old.client.sync()).toMatchObject({ pushOutcome: "committed" });
    expect((await serverItems())[0]).toEqual({
      id: ids[0],
      title: "renamed by the old app",
      body: "from the new app",
      priority: 2,
    });
    await current.client.sync();
    expect(
      await current.driver.query("SELECT title, body, priority FROM items WHERE id = ?", [ids[0]!]),
    ).toEqual([{ title: "renamed by the old app", body: "from the new app", priority: 2n }]);
  });

  it("6. the old app upgrades: adds the columns locally, rebuilds once, and its queued rows still push", async () => {
    await old.driver.run("UPDATE items SET title = 'queued before the upgrade' WHERE id = ?", [ids[1]!]);
    await old.driver.run("INSERT INTO items (id, title) VALUES (?, 'inserted before the upgrade')", [
      ids[3]!,
    ]);
    for (const statement of ADD_LOCAL_COLUMNS) await old.driver.exec(statement);
    await old.reopen();
    expect(await old.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await old.driver.query("SELECT body, priority FROM items WHERE id = ?", [ids[0]!])).toEqual([
      { body: "from the new app", priority: 2n },
    ]);
    expect(await old.client.sync()).toMatchObject({ pushOutcome: "committed" });
    await current.client.sync();

    const server = await serverItems();
    expect(server.map((row) => row.title)).toEqual([
      "renamed by the old app",
      "queued before the upgrade",
      "queued before the change",
      "inserted before the upgrade",
    ]);
    expect(server[0]).toMatchObject({ body: "from the new app", priority: 2 });
    const local = "SELECT id, title, body, priority FROM items ORDER BY id";
    const expected = server.map((row) => ({ ...row, priority: BigInt(row.priority) }));
    expect(await old.driver.query(local)).toEqual(expected);
    expect(await current.driver.query(local)).toEqual(expected);
  });
});
