/**
 * An app outside the oversync repository, as a user writes it against the published packages: a
 * sync server mounted on node:http over PostgreSQL, and two devices of one user on better-sqlite3
 * files, one of them writing through Kysely. test/packaging/published-packages.test.ts installs the packed tarballs next to it,
 * type-checks it (strict, exactOptionalPropertyTypes, NodeNext), compiles it and runs it with plain
 * `node`; it prints what each step saw as one JSON line.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type SqliteDriver,
  type SyncClient,
  type SyncConfig,
  createSyncClient,
  isSyncClientError,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { OversyncDialect } from "@oversync/kysely";
import { createSyncHandler, createSyncService, toNodeListener } from "@oversync/server";
import { Kysely } from "kysely";
import pg from "pg";

const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl === undefined) throw new Error("set DATABASE_URL to an empty PostgreSQL database");

const pool = new pg.Pool({ connectionString: databaseUrl });
await pool.query(`
  CREATE SCHEMA app;
  CREATE TABLE app.notes (
    _sync_scope_id text NOT NULL, id uuid NOT NULL, body text NOT NULL,
    PRIMARY KEY (_sync_scope_id, id))`);
const service = createSyncService({
  pool,
  appName: "consumer-app",
  maxSupportedSchemaVersion: 1,
  registeredTables: [{ schema: "app", table: "notes", syncKeyColumns: ["id"] }],
});
await service.bootstrap();
const handler = createSyncHandler({
  service,
  // The bearer token is the user id: enough for a test, never for an app.
  authenticate: async (request) => {
    const token = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
    return token === undefined ? null : { userId: token };
  },
});
const server = createServer(toNodeListener(handler)).listen(0, "127.0.0.1");
await once(server, "listening");
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const dir = await mkdtemp(join(tmpdir(), "oversync-consumer-"));
const config: SyncConfig = { schema: "app", syncTables: [{ tableName: "notes", syncKeyColumnName: "id" }] };

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
}

async function openDevice(name: string, token: string): Promise<Device> {
  const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
  await driver.exec("CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL)");
  const client = createSyncClient({ driver, baseUrl, tokenProvider: () => token, config });
  await client.open();
  return { driver, client };
}

function notes(device: Device) {
  return device.driver.query<{ id: string; body: string }>("SELECT id, body FROM notes ORDER BY id");
}

const phone = await openDevice("phone", "ada");
const laptop = await openDevice("laptop", "ada");
const stranger = await openDevice("stranger", "");
try {
  await phone.client.attach("ada");
  const id = randomUUID();
  await phone.driver.run("INSERT INTO notes (id, body) VALUES (?, ?)", [id, "written on the phone"]);
  const pushed = await phone.client.sync();

  // A second device of the same user restores the account's rows when it attaches.
  await laptop.client.attach("ada");
  const restored = await notes(laptop);
  // Typed queries over the same driver: the write is captured for sync like any other.
  const typed = new Kysely<{ notes: { id: string; body: string } }>({
    dialect: new OversyncDialect({ driver: laptop.driver }),
  });
  await typed.updateTable("notes").set({ body: "edited on the laptop" }).where("id", "=", id).execute();
  await laptop.client.sync();
  await phone.client.sync();
  const synced = await notes(phone);

  // Whatever a call throws is one error family with a stable code.
  let refused: string | undefined;
  try {
    await stranger.client.attach("eve");
  } catch (error) {
    refused = isSyncClientError(error) ? error.code : `not a SyncClientError: ${String(error)}`;
  }
  console.log(JSON.stringify({ id, pushOutcome: pushed.pushOutcome, restored, synced, refused }));
} finally {
  for (const device of [phone, laptop, stranger]) {
    await device.client.close();
    await device.driver.close();
  }
  server.closeAllConnections();
  server.close();
  await service.close();
  await pool.end();
  await rm(dir, { recursive: true, force: true });
}
