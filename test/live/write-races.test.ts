/**
 * App writes racing every sync operation, against the reference server on PostgreSQL with real
 * SQLite files. Each race makes the app write at the moment the client sends a given request (the
 * snapshot chunk of a rebuild, the pull, the push commit, the connect of an attach), so the write
 * lands inside the operation every time. Afterwards every acknowledged write must be on the server
 * (or refused by SQLite, never accepted and then dropped) and every device must hold exactly
 * PostgreSQL's rows.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import { type ConflictResolver, clientWins, mergeRows, serverWins } from "@oversync/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";
import {
  type Device,
  type DeviceOptions,
  Ledger,
  expectConverged,
  localUsers,
  openDevice,
  serverUsers,
} from "./race-support.js";

const SNAPSHOT_CHUNK = /^\/sync\/snapshot-sessions\/[^/]+$/;

let db: TestDatabase;
let dir: string;
let server: RunningServer;
let opened: Device[] = [];
let users = 0;

beforeAll(async () => {
  db = await createTestDatabase("oversync_races");
  dir = await mkdtemp(join(tmpdir(), "oversync-races-"));
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

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(new URL(path, server.url), { method: "POST", body: JSON.stringify(body) });
}

/** A fresh user and a function opening devices signed in as that user. */
async function newUser(): Promise<{
  userId: string;
  device: (name: string, options?: DeviceOptions) => Promise<Device>;
}> {
  const userId = `racer-${++users}`;
  const reply = await post("/dummy-signin", { user: userId, password: "any" });
  const { token } = (await reply.json()) as { token: string };
  return {
    userId,
    async device(name, options) {
      const device = await openDevice(server.url, dir, `${userId}-${name}`, token, options);
      opened.push(device);
      return device;
    },
  };
}

/** A writer with `rows` synced users, and a follower attached to the same user (restored). */
async function writerAndFollower(rows: number, followerOptions?: DeviceOptions) {
  const user = await newUser();
  const ledger = new Ledger();
  const writer = await user.device("writer");
  await writer.client.attach(user.userId);
  await ledger.insertUsers(writer, rows);
  await writer.client.sync();
  const follower = await user.device("follower", followerOptions);
  expect(await follower.client.attach(user.userId)).toMatchObject({ outcome: "used_remote_state" });
  return { user, ledger, writer, follower };
}

/** Moves the user's retained floor to the writer's checkpoint: older history is gone. */
async function pruneHistoryUpTo(writer: Device, userId: string): Promise<void> {
  const latest = (await writer.client.syncStatus()).lastBundleSeqSeen;
  const reply = await post("/test/retention-floor", {
    user_id: userId,
    retained_bundle_floor: Number(latest),
  });
  expect(reply.status).toBe(200);
}

describe("app writes during a keep-source rebuild are kept and pushed", () => {
  it("rebuild after history_pruned: writes made while the snapshot downloads", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(3);
    for (let round = 0; round < 3; round++) {
      await ledger.insertUsers(writer, 1);
      await writer.client.sync();
    }
    await pruneHistoryUpTo(writer, user.userId);
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      expect(await ledger.insertUsers(follower, 3)).toBe(3);
    });

    const report = await follower.client.sync();
    expect(report.remoteOutcome).toBe("applied_snapshot");
    expect(follower.hooksDone()).toBe(true);
    expect(report.syncStatus.pending.pendingRowCount).toBe(3);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });

  it("an app inserting continuously through a many-chunk rebuild loses nothing", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(60, { snapshotChunkRows: 5 });
    await ledger.insertUsers(writer, 1);
    await writer.client.sync();
    await pruneHistoryUpTo(writer, user.userId);
    let syncing = true;
    let writtenDuringSync = 0;
    const app = (async () => {
      while (syncing) {
        if ((await ledger.insertUser(follower)) === "acknowledged" && syncing) writtenDuringSync++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();

    const report = await follower.client.sync().finally(() => {
      syncing = false;
    });
    await app;
    expect(report.remoteOutcome).toBe("applied_snapshot");
    expect(writtenDuringSync).toBeGreaterThan(0);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });

  it("rebuild after checkpoint_ahead (the server was restored from an older backup)", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(3);
    await follower.driver.run("UPDATE _sync_attachment_state SET last_bundle_seq_seen = 1000000");
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      await ledger.insertUsers(follower, 2);
    });

    expect((await follower.client.sync()).remoteOutcome).toBe("applied_snapshot");
    expect(follower.hooksDone()).toBe(true);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });

  it("explicit rebuild(): writes queued before it and written during it", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(3);
    await ledger.insertUsers(follower, 2);
    const deleted = [...ledger.acknowledged.keys()][0]!;
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      await ledger.insertUsers(follower, 2);
      await follower.driver.run("DELETE FROM users WHERE id = ?", [deleted]);
    });

    expect(await follower.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(follower.hooksDone()).toBe(true);
    // The delete of a synced row made during the download is kept too.
    expect((await localUsers(follower)).some((row) => row.id === deleted)).toBe(false);
    ledger.acknowledged.delete(deleted);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });

  it("a queued child whose parent the server deleted stays queued instead of breaking the rebuild", async () => {
    const { ledger, writer, follower } = await writerAndFollower(1);
    const [parentId] = [...ledger.acknowledged.keys()];
    await writer.driver.run("DELETE FROM users WHERE id = ?", [parentId!]);
    await writer.client.sync();
    ledger.acknowledged.delete(parentId!);
    const postId = "0d7a3f2e-5b1c-4e8f-9a6d-2c4b8e1f7a30";
    // The follower has not seen the delete: it writes a post for that author.
    await follower.driver.run(
      "INSERT INTO posts (id, title, content, author_id) VALUES (?, 'orphan', '', ?)",
      [postId, parentId!],
    );

    expect(await follower.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await follower.driver.query("SELECT id FROM posts")).toEqual([]);
    expect(await follower.driver.query("SELECT table_name, op FROM _sync_dirty_rows")).toEqual([
      { table_name: "posts", op: "INSERT" },
    ]);
    expect(await localUsers(follower)).toEqual(await localUsers(writer));
  });
});

describe("writes during source recovery", () => {
  it("writes between the refused push and the rotation are kept; writes while recovering are refused", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(2);
    await ledger.insertUsers(follower, 1);
    // The device's sequence skips ahead of what the server knows: the push is refused with
    // source_sequence_out_of_order and the device enters source recovery.
    await follower.driver.run(
      "UPDATE _sync_source_state SET next_source_bundle_id = next_source_bundle_id + 5",
    );
    follower.onRequest("POST", /^\/sync\/push-sessions$/, async () => {
      expect(await ledger.insertUsers(follower, 2)).toBe(2);
    });
    await expect(follower.client.sync()).rejects.toMatchObject({ code: "source_recovery_required" });
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      expect(await ledger.insertUser(follower)).toBe("refused");
    });

    expect(await follower.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(follower.hooksDone()).toBe(true);
    expect(ledger.refused).toHaveLength(1);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });
});

describe("app writes during a pull", () => {
  it("a pulled row does not replace a change the app made to that row during the pull (client wins)", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(2, { resolver: clientWins });
    const [sharedId] = [...ledger.acknowledged.keys()];
    await writer.driver.run("UPDATE users SET name = 'writer-edit' WHERE id = ?", [sharedId!]);
    await writer.client.sync();
    follower.onRequest("GET", /^\/sync\/pull$/, async () => {
      await follower.driver.run("UPDATE users SET name = 'follower-edit' WHERE id = ?", [sharedId!]);
      await ledger.insertUsers(follower, 1);
    });

    expect(await follower.client.pullToStable()).toMatchObject({ outcome: "applied_incremental" });
    expect(follower.hooksDone()).toBe(true);
    const name = "SELECT name FROM users WHERE id = ?";
    expect(await follower.driver.query(name, [sharedId!])).toEqual([{ name: "follower-edit" }]);
    // The next push meets the writer's version as a conflict; client wins keeps the follower's.
    ledger.acknowledged.set(sharedId!, "follower-edit");
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });

  it("a post the app writes for an author the pulled bundle deletes stays queued and hidden", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(2);
    const [authorId] = [...ledger.acknowledged.keys()];
    await writer.driver.run("DELETE FROM users WHERE id = ?", [authorId!]);
    await writer.client.sync();
    ledger.acknowledged.delete(authorId!);
    const postId = "4f0b8c2d-6a1e-4b7f-8c3d-9e2a1b0c7d55";
    follower.onRequest("GET", /^\/sync\/pull$/, async () => {
      await follower.driver.run(
        "INSERT INTO posts (id, title, content, author_id) VALUES (?, 'late', '', ?)",
        [postId, authorId!],
      );
    });

    expect(await follower.client.pullToStable()).toMatchObject({ outcome: "applied_incremental" });
    expect(await follower.driver.query("SELECT id FROM posts")).toEqual([]);
    expect(await follower.driver.query("SELECT table_name, op FROM _sync_dirty_rows")).toEqual([
      { table_name: "posts", op: "INSERT" },
    ]);
    expect(await localUsers(follower)).toEqual(await serverUsers(db.pool, user.userId));
  });

  it("a row the app deletes during a pull that brings its new version and a new child: the server's rows fit together, the delete stays queued", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(2);
    const [authorId] = [...ledger.acknowledged.keys()];
    await writer.driver.run("UPDATE users SET name = 'renamed' WHERE id = ?", [authorId!]);
    await writer.driver.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, 'child', '', ?)", [
      "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
      authorId!,
    ]);
    await writer.client.sync();
    follower.onRequest("GET", /^\/sync\/pull$/, async () => {
      await follower.driver.run("DELETE FROM users WHERE id = ?", [authorId!]);
    });

    expect(await follower.client.pullToStable()).toMatchObject({ outcome: "applied_incremental" });
    expect(await follower.driver.query("SELECT name FROM users WHERE id = ?", [authorId!])).toEqual([
      { name: "renamed" },
    ]);
    expect(await follower.driver.query("SELECT table_name, op FROM _sync_dirty_rows")).toEqual([
      { table_name: "users", op: "DELETE" },
    ]);
    // The queued delete meets the newer row as a conflict; the default resolver keeps the server's.
    ledger.acknowledged.set(authorId!, "renamed");
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });

  it("sync() pulls after its push even when the app wrote during the push, and reports what is pending", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(2);
    await ledger.insertUsers(writer, 1);
    await writer.client.sync();
    await ledger.insertUsers(follower, 1);
    follower.onRequest("POST", /^\/sync\/push-sessions\/[^/]+\/commit$/, async () => {
      await ledger.insertUsers(follower, 2);
    });

    const report = await follower.client.sync();
    expect(report).toMatchObject({ pushOutcome: "committed", remoteOutcome: "applied_incremental" });
    expect(report.syncStatus.pending.pendingRowCount).toBe(2);
    expect((await localUsers(follower)).length).toBe((await serverUsers(db.pool, user.userId)).length + 2);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });
});

describe("app writes during a push", () => {
  it("inserts, edits and deletes of pushed rows made mid-upload are all pushed next", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(1);
    await ledger.insertUsers(follower, 3);
    const [, edited, removed] = [...ledger.acknowledged.keys()].slice(-3);
    follower.onRequest("POST", /^\/sync\/push-sessions\/[^/]+\/chunks$/, async () => {
      await ledger.insertUsers(follower, 1);
      await follower.driver.run("UPDATE users SET name = 'edited-mid-push' WHERE id = ?", [edited!]);
      await follower.driver.run("DELETE FROM users WHERE id = ?", [removed!]);
    });

    expect(await follower.client.sync()).toMatchObject({ pushOutcome: "committed" });
    expect(follower.hooksDone()).toBe(true);
    ledger.acknowledged.set(edited!, "edited-mid-push");
    ledger.acknowledged.delete(removed!);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
    expect((await localUsers(writer)).some((row) => row.id === removed)).toBe(false);
  });
});

describe("app writes during the snapshot restore of a fresh attach", () => {
  it("writes while attach() waits for the server are kept; writes while the restore runs are refused", async () => {
    const { user, ledger, writer } = await writerAndFollower(3);
    const fresh = await user.device("fresh");
    fresh.onRequest("POST", /^\/sync\/connect$/, async () => {
      expect(await ledger.insertUser(fresh)).toBe("acknowledged");
    });
    fresh.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      expect(await ledger.insertUser(fresh)).toBe("refused");
    });

    expect(await fresh.client.attach(user.userId)).toMatchObject({ outcome: "used_remote_state" });
    expect(fresh.hooksDone()).toBe(true);
    expect((await fresh.client.pendingSyncStatus()).pendingRowCount).toBe(1);
    await expectConverged(db.pool, user.userId, [writer, fresh], ledger);
  });
});

describe("snapshot sessions lost mid-restore", () => {
  it("a session that expires between chunks is replaced; the old rows stay visible until the apply", async () => {
    const { user, ledger, writer, follower } = await writerAndFollower(12, { snapshotChunkRows: 5 });
    await ledger.insertUsers(writer, 1);
    await writer.client.sync();
    await pruneHistoryUpTo(writer, user.userId);
    const before = await localUsers(follower);
    const seenBefore = follower.seen.length;
    follower.onRequest("GET", SNAPSHOT_CHUNK, async (url) => {
      const snapshotId = url.pathname.split("/").at(-1);
      await db.pool.query(
        "UPDATE sync.snapshot_sessions SET expires_at = now() - interval '1 second' WHERE snapshot_id = $1",
        [snapshotId],
      );
    });
    // The second session's first chunk: nothing of the first attempt is visible.
    follower.onRequest("GET", SNAPSHOT_CHUNK, async () => {
      expect(await localUsers(follower)).toEqual(before);
    });

    expect(await follower.client.sync()).toMatchObject({ remoteOutcome: "applied_snapshot" });
    expect(follower.hooksDone()).toBe(true);
    const seen = follower.seen.slice(seenBefore);
    const creates = seen.filter(
      (request) => request.method === "POST" && request.path === "/sync/snapshot-sessions",
    );
    expect(creates.map((request) => request.status)).toEqual([200, 200]);
    expect(seen.filter((request) => request.status === 410)).toHaveLength(1);
    await expectConverged(db.pool, user.userId, [writer, follower], ledger);
  });
});

describe("conflicts on many rows settle in one sync()", () => {
  const ROWS = 21;
  /** Odd rows keep the local edit, even rows take the server's. */
  const alternate: ConflictResolver = (conflict) => {
    const index = Number(String(conflict.localRow?.email).split("-")[0]);
    return index % 2 === 1 ? { kind: "keep_local" } : { kind: "accept_server" };
  };
  const cases: [string, ConflictResolver, (index: number) => string][] = [
    ["server wins", serverWins, () => "writer"],
    ["client wins", clientWins, () => "follower"],
    [
      "a merge resolver",
      mergeRows((conflict) => ({
        ...conflict.serverRow!,
        name: `${conflict.serverRow!.name}+${conflict.localRow!.name}`,
      })),
      () => "writer+follower",
    ],
    ["a custom resolver deciding per row", alternate, (index) => (index % 2 === 1 ? "follower" : "writer")],
  ];
  for (const [label, resolver, expected] of cases) {
    it(`${ROWS} conflicting rows with ${label}`, async () => {
      const { user, ledger, writer, follower } = await writerAndFollower(ROWS, { resolver });
      const ids = [...ledger.acknowledged.keys()];
      for (const [index, id] of ids.entries()) {
        await writer.driver.run("UPDATE users SET name = 'writer' WHERE id = ?", [id]);
        await follower.driver.run("UPDATE users SET name = 'follower', email = ? WHERE id = ?", [
          `${index}-follower@example.com`,
          id,
        ]);
      }
      await writer.client.sync();

      const report = await follower.client.sync();
      expect(report.pushOutcome).toBe(label === "server wins" ? "no_change" : "committed");
      expect(report.syncStatus.pending.pendingRowCount).toBe(0);
      const names = await follower.driver.query<{ id: string; name: string }>("SELECT id, name FROM users");
      const byId = new Map(names.map((row) => [row.id, row.name]));
      expect(ids.map((id) => byId.get(id))).toEqual(ids.map((_, index) => expected(index)));
      for (const [index, id] of ids.entries()) ledger.acknowledged.set(id, expected(index));
      await expectConverged(db.pool, user.userId, [writer, follower], ledger);
    });
  }
});
