/**
 * Automatic sync against the reference server on real PostgreSQL over loopback HTTP: two devices
 * of one user with `start()` on and no `sync()` call converge after edits on both sides (uploads
 * after local writes, downloads on watch events), and a revoked token reaches `onError` and the
 * status and pauses automatic sync until the app acts. Waits are for events (status changes,
 * table changes, errors), never fixed sleeps.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_CLIENT_CONFIG, type RunningServer, exampleClientSchemaSql } from "@oversync/cli";
import {
  type SqliteDriver,
  type SyncClient,
  type SyncClientStatus,
  type SyncErrorInfo,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { untilClient } from "../support/client-events.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";

const USER = "automatic-sync-user";

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  /** The token the device sends; replace it to revoke. */
  token: string;
}

describe("automatic sync with the reference server on PostgreSQL", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;
  let phone: Device;
  let laptop: Device;

  async function signIn(): Promise<string> {
    const response = await fetch(new URL("/dummy-signin", server.url), {
      method: "POST",
      body: JSON.stringify({ user: USER, password: "any" }),
    });
    return ((await response.json()) as { token: string }).token;
  }

  async function openDevice(name: string): Promise<Device> {
    const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
    await driver.exec(exampleClientSchemaSql());
    const device: Device = { driver, token: await signIn(), client: undefined as never };
    const client = createSyncClient({
      driver,
      baseUrl: server.url,
      tokenProvider: () => device.token,
      config: EXAMPLE_CLIENT_CONFIG,
    });
    (device as { client: SyncClient }).client = client;
    await client.open();
    return device;
  }

  async function users(device: Device): Promise<{ id: string; name: string }[]> {
    return device.driver.query("SELECT id, name FROM users ORDER BY id");
  }

  beforeAll(async () => {
    db = await createTestDatabase("oversync_auto");
    dir = await mkdtemp(join(tmpdir(), "oversync-auto-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
    phone = await openDevice("phone");
    laptop = await openDevice("laptop");
    await phone.client.attach(USER);
    await laptop.client.attach(USER);
  });

  afterAll(async () => {
    for (const device of [phone, laptop]) {
      await device?.client.close();
      await device?.driver.close();
    }
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("two devices converge after edits on both, with no sync() call", async () => {
    const options = { uploadDelayMillis: 20, reconnectMinMillis: 50 } as const;
    phone.client.start(options);
    laptop.client.start(options);
    const ada = randomUUID();
    const bob = randomUUID();
    await phone.driver.run("INSERT INTO users (id, name, email) VALUES (?, 'Ada', 'ada@example.com')", [ada]);
    await laptop.driver.run("INSERT INTO users (id, name, email) VALUES (?, 'Bob', 'bob@example.com')", [
      bob,
    ]);
    await untilClient(phone.client, "Bob on the phone", async () => (await users(phone)).length === 2);
    await untilClient(laptop.client, "Ada on the laptop", async () => (await users(laptop)).length === 2);

    // Edits on both sides of rows the other device created.
    await phone.driver.run("UPDATE users SET name = 'Bob (phone)' WHERE id = ?", [bob]);
    await laptop.driver.run("UPDATE users SET name = 'Ada (laptop)' WHERE id = ?", [ada]);
    const expected = [
      { id: ada, name: "Ada (laptop)" },
      { id: bob, name: "Bob (phone)" },
    ].sort((a, b) => a.id.localeCompare(b.id));
    const converged = async (device: Device) =>
      JSON.stringify(await users(device)) === JSON.stringify(expected) &&
      device.client.status.pendingChangeCount === 0;
    await untilClient(phone.client, "the phone to converge", () => converged(phone));
    await untilClient(laptop.client, "the laptop to converge", () => converged(laptop));

    for (const device of [phone, laptop]) {
      const status = device.client.status;
      expect(status).toMatchObject({
        connection: "online",
        automaticSync: "running",
        pendingChangeCount: 0,
        lastError: null,
        rebuildRequired: false,
        sourceRecoveryRequired: false,
      });
      expect(status.lastSyncedAt).not.toBeNull();
      expect(JSON.parse(JSON.stringify(status))).toEqual(status);
    }
  });

  it("a revoked token reaches onError and the status, and automatic sync waits for the app", async () => {
    const errors: { error: unknown; info: SyncErrorInfo }[] = [];
    const firstError = new Promise<void>((resolve) =>
      phone.client.onError((error, info) => {
        errors.push({ error, info });
        resolve();
      }),
    );
    phone.token = "revoked";
    await phone.driver.run("INSERT INTO users (id, name, email) VALUES (?, 'Cy', 'cy@example.com')", [
      randomUUID(),
    ]);
    await firstError;
    const paused = await new Promise<SyncClientStatus>((resolve) => {
      const check = (status: SyncClientStatus) => {
        if (status.automaticSync !== "paused") return false;
        resolve(status);
        return true;
      };
      if (check(phone.client.status)) return;
      const off = phone.client.onStatus((status) => {
        if (check(status)) off();
      });
    });
    expect(errors[0]!.info).toMatchObject({ code: "authentication_failed", needsApp: true });
    expect(paused.lastError).toMatchObject({ code: "authentication_failed", needsApp: true });
    expect(paused.pendingChangeCount).toBe(1);
    expect(JSON.parse(JSON.stringify(paused))).toEqual(paused);

    // Signed in again, one successful call resumes automatic sync; the laptop receives the row.
    phone.token = await signIn();
    expect((await phone.client.sync()).pushOutcome).toBe("committed");
    expect(phone.client.status).toMatchObject({ automaticSync: "running", lastError: null });
    await untilClient(laptop.client, "Cy on the laptop", async () => (await users(laptop)).length === 3);
    expect(errors).toHaveLength(1);
  });
});
