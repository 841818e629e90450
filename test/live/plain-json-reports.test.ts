/**
 * Every report and status the client answers is plain JSON: `JSON.stringify` works on it and
 * `JSON.parse` gives back an equal value (numbers, not bigint), through a real sync with our
 * reference server on PostgreSQL — a push with a conflict, a snapshot restore, a pull, a detach
 * blocked and done, and `syncThenDetach`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import type { SqliteDriver, SyncClient } from "@oversync/client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { openExampleDevice, signIn, startQuietReferenceServer } from "../support/readme-support.js";

const USER_ID = "0e6f9d1c-3b7a-4c55-8f21-5a0b6c7d8e01";

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
}

let db: TestDatabase;
let dir: string;
let server: RunningServer;
let token: string;
const devices: Device[] = [];

async function openDevice(name: string): Promise<Device> {
  const device = await openExampleDevice(server, join(dir, `${name}.db`), () => token);
  devices.push(device);
  return device;
}

/** The value survives a JSON round trip unchanged (throws on a bigint anywhere inside). */
function expectPlainJson<T>(value: T): T {
  expect(JSON.parse(JSON.stringify(value))).toEqual(value);
  return value;
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_json_reports");
  dir = await mkdtemp(join(tmpdir(), "oversync-json-"));
  server = await startQuietReferenceServer(db.url, join(dir, "data"));
  token = await signIn(server, "ada");
});

afterAll(async () => {
  for (const device of devices) {
    await device.client.close();
    await device.driver.close();
  }
  await server?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

it("every report and status is plain JSON with numeric counts", async () => {
  const phone = await openDevice("phone");
  expectPlainJson(await phone.client.attach("ada"));
  await phone.driver.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
    USER_ID,
    "Ada",
    "a@example.com",
  ]);
  expect(expectPlainJson(await phone.client.pendingSyncStatus()).pendingRowCount).toBe(1);
  expect(expectPlainJson(await phone.client.pushPending())).toMatchObject({
    outcome: "committed",
    syncStatus: { lastBundleSeqSeen: 1, pending: { pendingRowCount: 0, rejectedRowCount: 0 } },
  });

  const laptop = await openDevice("laptop");
  expect(expectPlainJson(await laptop.client.attach("ada"))).toMatchObject({
    outcome: "used_remote_state",
    restore: { bundleSeq: 1, rowCount: 1 },
  });

  // Both edit the row; the laptop's push loses to the phone's and the report names the conflict.
  await phone.driver.run("UPDATE users SET name = 'Ada (phone)' WHERE id = ?", [USER_ID]);
  await phone.client.pushPending();
  await laptop.driver.run("UPDATE users SET name = 'Ada (laptop)' WHERE id = ?", [USER_ID]);
  const conflicted = expectPlainJson(await laptop.client.sync());
  expect(conflicted.conflicts).toHaveLength(1);
  expect(expectPlainJson(await phone.client.pullToStable()).syncStatus.lastBundleSeqSeen).toBe(2);
  expectPlainJson(await laptop.client.syncStatus());
  expectPlainJson(await laptop.client.sourceInfo());
  expectPlainJson(laptop.client.status);

  await laptop.driver.run("UPDATE users SET name = 'Ada again' WHERE id = ?", [USER_ID]);
  expect(expectPlainJson(await laptop.client.detach())).toEqual({
    outcome: "blocked_unsynced_data",
    pendingRowCount: 1,
  });
  expect(expectPlainJson(await laptop.client.syncThenDetach())).toMatchObject({
    detach: "detached",
    remainingPendingRowCount: 0,
    isSuccess: true,
  });
  expect(expectPlainJson(await phone.client.detach())).toEqual({ outcome: "detached", pendingRowCount: 0 });
});
