/**
 * Snapshot restores under the faults a fleet of devices meets, against `oversync serve` on
 * PostgreSQL as a child process: more devices of one user restoring at once than the server keeps
 * sessions for (all finish: the ones beyond the cap wait instead of cutting the others off), and
 * the server killed with SIGKILL in the middle of a rebuild's download (nothing partial becomes
 * visible, the next sync starts a clean session, nothing written meanwhile is lost).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE } from "@oversync/server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  type ServeProcess,
  freePort,
  killServeProcesses,
  startServe,
  waitFor,
} from "../support/serve-process.js";
import { type Device, Ledger, expectConverged, localUsers, openDevice } from "./race-support.js";

const SNAPSHOT_CHUNK = /^\/sync\/snapshot-sessions\/[^/]+$/;
const SNAPSHOT_CREATE = "/sync/snapshot-sessions";

let db: TestDatabase;
let dir: string;
let port: number;
let server: ServeProcess;
let opened: Device[] = [];

function serve(): Promise<ServeProcess> {
  return startServe([], { DATABASE_URL: db.url, JWT_SECRET: "restore-faults-secret" }, port);
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_restores");
  dir = await mkdtemp(join(tmpdir(), "oversync-restores-"));
  port = await freePort();
  server = await serve();
});

afterEach(async () => {
  for (const device of opened) await device.close();
  opened = [];
});

afterAll(async () => {
  killServeProcesses();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function signIn(userId: string): Promise<string> {
  const reply = await fetch(`${server.url}/dummy-signin`, {
    method: "POST",
    body: JSON.stringify({ user: userId, password: "any" }),
  });
  return ((await reply.json()) as { token: string }).token;
}

async function device(token: string, name: string, snapshotChunkRows?: number): Promise<Device> {
  const created = await openDevice(
    server.url,
    dir,
    name,
    token,
    snapshotChunkRows === undefined ? {} : { snapshotChunkRows },
  );
  opened.push(created);
  return created;
}

describe("more devices of one user restoring at once than the server keeps sessions for", () => {
  it("all of them finish; the ones past the cap wait for a session instead of evicting a restore", async () => {
    const userId = "fleet-owner";
    const token = await signIn(userId);
    const ledger = new Ledger();
    const writer = await device(token, "fleet-writer");
    await writer.client.attach(userId);
    await ledger.insertUsers(writer, 40);
    await writer.client.sync();

    const count = DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE + 2;
    const fleet: Device[] = [];
    for (let i = 0; i < count; i++) fleet.push(await device(token, `fleet-${i}`, 10));
    // The devices that got a session hold it until the server holds the cap and every other device
    // has been refused since, so the restores really overlap past the cap.
    const creates = (member: Device, status: number) =>
      member.seen.filter((seen) => seen.path === SNAPSHOT_CREATE && seen.status === status);
    const capReachedAt = () =>
      fleet.flatMap((member) => creates(member, 200).map((seen) => seen.at)).sort((a, b) => a - b)[
        DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE - 1
      ];
    const refusedPastCap = (member: Device) => {
      const at = capReachedAt();
      return at !== undefined && creates(member, 429).some((seen) => seen.at > at);
    };
    const overlapping = () =>
      capReachedAt() !== undefined &&
      fleet.every((member) => creates(member, 200).length > 0 || refusedPastCap(member));
    for (const member of fleet) {
      // A generous liveness bound: on a loaded machine the refused devices retry slowly.
      member.onRequest("GET", SNAPSHOT_CHUNK, () =>
        waitFor(overlapping, "the cap to be reached and refused", 60_000),
      );
    }

    const results = await Promise.allSettled(fleet.map((member) => member.client.attach(userId)));
    for (const result of results) {
      expect(result).toMatchObject({
        status: "fulfilled",
        value: { outcome: "used_remote_state", restore: { rowCount: 40 } },
      });
    }
    // The cap is soft: creates building at the same moment may each see room for one more.
    expect(fleet.filter(refusedPastCap).length).toBeGreaterThanOrEqual(1);
    expect(fleet.flatMap((member) => member.seen).filter((seen) => seen.status === 404)).toEqual([]);
    await expectConverged(db.pool, userId, [writer, ...fleet], ledger);
  });
});

describe("the server killed with SIGKILL while a rebuild downloads", () => {
  it("shows nothing partial, starts a clean session once the server is back and loses no write", async () => {
    const userId = "killed-mid-snapshot";
    const token = await signIn(userId);
    const ledger = new Ledger();
    const writer = await device(token, "kill-writer");
    await writer.client.attach(userId);
    await ledger.insertUsers(writer, 30);
    await writer.client.sync();
    const follower = await device(token, "kill-follower", 5);
    await follower.client.attach(userId);
    await ledger.insertUsers(writer, 1);
    await writer.client.sync();
    const latest = (await writer.client.syncStatus()).lastBundleSeqSeen;
    await fetch(`${server.url}/test/retention-floor`, {
      method: "POST",
      body: JSON.stringify({ user_id: userId, retained_bundle_floor: Number(latest) }),
    });
    const before = await localUsers(follower);
    // The third chunk request: the app writes, then the server dies before the request goes out.
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => undefined, 2);
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      await ledger.insertUsers(follower, 2);
      server.child.kill("SIGKILL");
      await server.exited;
    });

    await expect(follower.client.sync()).rejects.toThrow();
    expect(follower.hooksDone()).toBe(true);
    const written = [...ledger.acknowledged].slice(-2).map(([id]) => id);
    expect((await localUsers(follower)).filter((row) => !written.includes(row.id))).toEqual(before);
    expect((await follower.client.sourceInfo()).rebuildRequired).toBe(true);

    server = await serve();
    const seenBefore = follower.seen.length;
    expect(await follower.client.sync()).toMatchObject({ remoteOutcome: "applied_snapshot" });
    const resumed = follower.seen.slice(seenBefore);
    const firstChunk = resumed.find((seen) => SNAPSHOT_CHUNK.test(seen.path));
    expect(resumed.some((seen) => seen.path === SNAPSHOT_CREATE && seen.status === 200)).toBe(true);
    expect(firstChunk?.status).toBe(200);
    await expectConverged(db.pool, userId, [writer, follower], ledger);
  });
});
