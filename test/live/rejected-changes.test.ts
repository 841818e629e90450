/**
 * No poison row, against the reference server on PostgreSQL: a key the server could never store
 * fails the app's own INSERT; a change the server refuses for good (a value its column cannot take)
 * leaves the queue so every other change still syncs, is reported to the app, and waits until the
 * app fixes, retries or discards it; a child whose parent another device deleted is settled by the
 * resolver as the protocol's own conflict.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import { type RejectedChange, isInvalidKeyError } from "@oversync/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";
import { type Device, Ledger, expectConverged, openDevice } from "./race-support.js";

let db: TestDatabase;
let dir: string;
let server: RunningServer;
let opened: Device[] = [];
let users = 0;

beforeAll(async () => {
  db = await createTestDatabase("oversync_rejected");
  dir = await mkdtemp(join(tmpdir(), "oversync-rejected-"));
  server = await startQuietReferenceServer(db.url, join(dir, "data"));
});

afterEach(async () => {
  for (const device of opened) await device.close();
  opened = [];
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function attachedDevice(): Promise<{ userId: string; device: Device; rejected: RejectedChange[] }> {
  const userId = `rejecter-${++users}`;
  const device = await openDevice(server.url, dir, userId, await tokenOf(userId));
  opened.push(device);
  await device.client.attach(userId);
  const rejected: RejectedChange[] = [];
  device.client.onChangeRejected((change) => rejected.push(change));
  return { userId, device, rejected };
}

const TYPED_ID = "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/** A typed row whose small_count (int2 on the server) is `count`. */
function insertTyped(device: Device, count: bigint) {
  return device.driver.run(
    "INSERT INTO typed_rows (id, name, small_count, enabled_flag) VALUES (?, 'typed', ?, 1)",
    [TYPED_ID, count],
  );
}

async function serverTyped(userId: string): Promise<unknown[]> {
  const { rows } = await db.pool.query(
    "SELECT small_count FROM business.typed_rows WHERE _sync_scope_id = $1 AND id = $2",
    [userId, TYPED_ID],
  );
  return rows.map((row) => row.small_count);
}

describe("keys the server could never store fail the app's own write", () => {
  it("an uppercase UUID (iOS uuidString) in a text key, and a BLOB key that is not 16 bytes", async () => {
    const { device } = await attachedDevice();
    const upper = "550E8400-E29B-41D4-A716-446655440000";
    const insertUser = (id: unknown) =>
      device.driver.run("INSERT INTO users (id, name, email) VALUES (?, 'x', 'x@example.com')", [
        id as string,
      ]);
    const refusal = await insertUser(upper).catch((error: unknown) => error);
    expect(isInvalidKeyError(refusal)).toBe(true);
    const shortBlob = await device.driver
      .run("INSERT INTO files (id, name, data) VALUES (?, 'f', x'00')", [new Uint8Array(4)])
      .catch((error: unknown) => error);
    expect(isInvalidKeyError(shortBlob)).toBe(true);
    await insertUser(upper.toLowerCase());
    await device.driver.run("INSERT INTO users (id, name, email) VALUES ('not-a-uuid-shaped-key', 'y', 'y')");
    expect((await device.client.pendingSyncStatus()).pendingRowCount).toBe(2);
  });
});

describe("a change the server refuses for good", () => {
  it("leaves the queue so the rest syncs, is reported, and is forgotten once the app fixes the row", async () => {
    const { userId, device, rejected } = await attachedDevice();
    const ledger = new Ledger();
    await ledger.insertUsers(device, 3);
    await insertTyped(device, 40_000n);
    await ledger.insertUsers(device, 3);

    const report = await device.client.sync();
    expect(report.pushOutcome).toBe("committed");
    expect(report.syncStatus.pending).toMatchObject({
      pendingRowCount: 0,
      rejectedRowCount: 1,
      blocksDetach: true,
    });
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      table: "typed_rows",
      key: TYPED_ID,
      op: "INSERT",
      code: "push_chunk_invalid",
      row: { small_count: 40_000n },
    });
    expect(await device.client.rejectedChanges()).toEqual(rejected);
    expect(await serverTyped(userId)).toEqual([]);
    await expectConverged(db.pool, userId, [device], ledger);

    await device.driver.run("UPDATE typed_rows SET small_count = 7 WHERE id = ?", [TYPED_ID]);
    expect((await device.client.sync()).syncStatus.pending.rejectedRowCount).toBe(0);
    expect(await serverTyped(userId)).toEqual([7]);
    expect(await device.client.rejectedChanges()).toEqual([]);
  });

  it("retry queues it again as it was; discard deletes a row the server never had", async () => {
    const { device, rejected } = await attachedDevice();
    await insertTyped(device, 40_000n);
    await device.client.sync();
    await device.client.retryRejectedChange("typed_rows", TYPED_ID);
    expect((await device.client.pendingSyncStatus()).pendingRowCount).toBe(1);
    await device.client.sync();
    expect(rejected).toHaveLength(2);

    await device.client.discardRejectedChange("typed_rows", TYPED_ID);
    expect(await device.driver.query("SELECT id FROM typed_rows")).toEqual([]);
    expect(await device.client.pendingSyncStatus()).toMatchObject({
      pendingRowCount: 0,
      rejectedRowCount: 0,
    });
    expect(await device.client.detach()).toMatchObject({ outcome: "detached" });
  });

  it("discarding a refused update brings the server's version back with the next sync", async () => {
    const { userId, device } = await attachedDevice();
    await insertTyped(device, 7n);
    await device.client.sync();
    await device.driver.run("UPDATE typed_rows SET small_count = 40000 WHERE id = ?", [TYPED_ID]);
    await device.client.sync();
    expect(await device.client.rejectedChanges()).toMatchObject([
      { op: "UPDATE", row: { small_count: 40_000n } },
    ]);

    await device.client.discardRejectedChange("typed_rows", TYPED_ID);
    expect(await device.client.sync()).toMatchObject({ remoteOutcome: "applied_snapshot" });
    expect(await device.driver.query("SELECT small_count FROM typed_rows")).toEqual([{ small_count: 7n }]);
    expect(await serverTyped(userId)).toEqual([7]);
  });
});

describe("a row too large for a snapshot", () => {
  it("is rejected before it is sent, against the limit the server advertises", async () => {
    const { device, rejected } = await attachedDevice();
    const before = device.seen.length;
    // 5 MiB of data: about 6.7 MiB as base64, past the default max_bytes_per_snapshot_row (4 MiB).
    await device.driver.run("INSERT INTO files (id, name, data) VALUES (?, 'big', ?)", [
      new Uint8Array(16).fill(1),
      new Uint8Array(5 * 1024 * 1024),
    ]);
    const report = await device.client.sync();
    expect(report.syncStatus.pending).toMatchObject({ pendingRowCount: 0, rejectedRowCount: 1 });
    expect(rejected).toMatchObject([{ table: "files", code: "push_chunk_invalid" }]);
    expect(rejected[0]!.message).toContain("max_bytes_per_snapshot_row 4194304");
    expect(
      device.seen.slice(before).filter((request) => request.path.startsWith("/sync/push-sessions")),
    ).toEqual([]);
  });
});

describe("a child whose parent another device deleted", () => {
  it("is answered as a conflict on the child, which the default resolver settles in one sync", async () => {
    const { userId, device: phone } = await attachedDevice();
    const author = "6a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    await phone.driver.run("INSERT INTO users (id, name, email) VALUES (?, 'Ada', 'a@example.com')", [
      author,
    ]);
    await phone.client.sync();
    const laptop = await openDevice(server.url, dir, `${userId}-laptop`, await tokenOf(userId));
    opened.push(laptop);
    await laptop.client.attach(userId);
    await laptop.driver.run("DELETE FROM users WHERE id = ?", [author]);
    await laptop.client.sync();

    await phone.driver.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, 'orphan', '', ?)", [
      "7b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
      author,
    ]);
    const report = await phone.client.sync();
    expect(report.syncStatus.pending).toMatchObject({ pendingRowCount: 0, rejectedRowCount: 0 });
    expect(await phone.driver.query("SELECT id FROM posts")).toEqual([]);
    expect(await phone.driver.query("SELECT id FROM users")).toEqual([]);
  });
});

async function tokenOf(userId: string): Promise<string> {
  const reply = await fetch(new URL("/dummy-signin", server.url), {
    method: "POST",
    body: JSON.stringify({ user: userId, password: "any" }),
  });
  return ((await reply.json()) as { token: string }).token;
}
