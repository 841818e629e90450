/**
 * Our client against our reference server, end to end over loopback HTTP, on real PostgreSQL and
 * on the embedded PGlite `npm start` uses: two devices of one user with the example schema. The first device's rows reach the second through a
 * snapshot restore, a watching device applies a commit without polling, a device left behind the
 * retained floor rebuilds by itself without losing its unsynced write, push conflicts settle (also
 * on a row larger than an ordinary error body), and a database restored from a backup recovers.
 */
import { copyFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import type { SqliteDriver, SyncClient, TablesChanged } from "@oversync/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { openExampleDevice, startQuietReferenceServer } from "../support/readme-support.js";

const USER = "grace";
const USER_ID = "6f1c0a52-8d1e-4a55-9a4e-0c1f2b3c4d01";
const POST_ID = "6f1c0a52-8d1e-4a55-9a4e-0c1f2b3c4d02";

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
}

describe.each(["PostgreSQL", "PGlite"] as const)("the reference server on %s", (database) => {
  let db: TestDatabase | undefined;
  let dir: string;
  let server: RunningServer;
  let token: string;
  let phone: Device;
  let laptop: Device;

  function openDevice(name: string): Promise<Device> {
    return openExampleDevice(server, join(dir, `${name}.db`), () => token);
  }

  async function userName(device: Device, id: string): Promise<string | undefined> {
    const rows = await device.driver.query<{ name: string }>("SELECT name FROM users WHERE id = ?", [id]);
    return rows[0]?.name;
  }

  async function postJson(path: string, body: unknown): Promise<Response> {
    return fetch(new URL(path, server.url), { method: "POST", body: JSON.stringify(body) });
  }

  beforeAll(async () => {
    db = await createTestDatabase("oversync_live");
    dir = await mkdtemp(join(tmpdir(), "oversync-live-"));
    server = await startQuietReferenceServer(
      database === "PostgreSQL" ? db.url : undefined,
      join(dir, "data"),
    );
    const signIn = await postJson("/dummy-signin", { user: USER, password: "any" });
    token = ((await signIn.json()) as { token: string }).token;
    phone = await openDevice("phone");
    laptop = await openDevice("laptop");
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

  describe("two devices of one user", () => {
    it("the second device restores the first device's rows from a snapshot", async () => {
      expect(await phone.client.attach(USER)).toMatchObject({
        status: "connected",
        outcome: "started_empty",
      });
      await phone.driver.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
        USER_ID,
        "Grace",
        "g@example.com",
      ]);
      await phone.driver.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)", [
        POST_ID,
        "Compilers",
        "A-0",
        USER_ID,
      ]);
      expect(await phone.client.sync()).toMatchObject({ pushOutcome: "committed" });

      const attached = await laptop.client.attach(USER);
      expect(attached).toMatchObject({ status: "connected", outcome: "used_remote_state" });
      expect(await userName(laptop, USER_ID)).toBe("Grace");
      expect(await laptop.driver.query("SELECT title, author_id FROM posts")).toEqual([
        { title: "Compilers", author_id: USER_ID },
      ]);
      expect((await laptop.client.pendingSyncStatus()).pendingRowCount).toBe(0);
    });

    it("a watching device applies another device's commit as it lands", async () => {
      const changes: TablesChanged[] = [];
      const applied = new Promise<void>((resolve) => {
        laptop.client.onTablesChanged((change) => {
          changes.push(change);
          if (change.origin === "sync" && change.tables.has("users")) resolve();
        });
      });
      // A polling interval far beyond the test: only the watch stream can bring the change in time.
      laptop.client.start({ watch: "auto", intervalMillis: 3_600_000 });
      await waitForSubscribers(server, 1);

      await phone.driver.run("UPDATE users SET name = ? WHERE id = ?", ["Grace Hopper", USER_ID]);
      await phone.client.sync();
      await applied;
      expect(await userName(laptop, USER_ID)).toBe("Grace Hopper");
      await laptop.client.stop();
      await waitForSubscribers(server, 0);
    });

    it("a device behind the retained floor rebuilds by itself and keeps its unsynced write", async () => {
      const laptopUser = "6f1c0a52-8d1e-4a55-9a4e-0c1f2b3c4d03";
      await laptop.driver.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
        laptopUser,
        "Ada",
        "a@example.com",
      ]);
      for (const name of ["Rear Admiral Hopper", "Amazing Grace"]) {
        await phone.driver.run("UPDATE users SET name = ? WHERE id = ?", [name, USER_ID]);
        await phone.client.sync();
      }
      const latest = (await phone.client.syncStatus()).lastBundleSeqSeen;
      const floor = await postJson("/test/retention-floor", {
        user_id: USER,
        retained_bundle_floor: Number(latest),
      });
      expect(floor.status).toBe(200);

      const report = await laptop.client.sync();
      expect(report.pushOutcome).toBe("committed");
      expect(report.remoteOutcome).toBe("applied_snapshot");
      expect(await userName(laptop, USER_ID)).toBe("Amazing Grace");
      expect(await userName(laptop, laptopUser)).toBe("Ada");
      expect((await laptop.client.pendingSyncStatus()).pendingRowCount).toBe(0);

      await phone.client.sync();
      expect(await userName(phone, laptopUser)).toBe("Ada");
      const { rows } = await server.database.pool.query(
        "SELECT name FROM business.users WHERE _sync_scope_id = $1 ORDER BY name",
        [USER],
      );
      expect(rows).toEqual([{ name: "Ada" }, { name: "Amazing Grace" }]);
    });

    it("two offline edits of one row settle on the server's version (default resolver)", async () => {
      await phone.driver.run("UPDATE users SET email = ? WHERE id = ?", ["phone@example.com", USER_ID]);
      await laptop.driver.run("UPDATE users SET email = ? WHERE id = ?", ["laptop@example.com", USER_ID]);
      await phone.client.sync();
      const report = await laptop.client.sync();
      expect(report.syncStatus.pending.pendingRowCount).toBe(0);
      const email = "SELECT email FROM users WHERE id = ?";
      expect(await laptop.driver.query(email, [USER_ID])).toEqual([{ email: "phone@example.com" }]);
      const { rows } = await server.database.pool.query("SELECT email FROM business.users WHERE id = $1", [
        USER_ID,
      ]);
      expect(rows).toEqual([{ email: "phone@example.com" }]);
    });

    it("a conflict on a row larger than an ordinary error body (a 1 MiB file) still resolves", async () => {
      const fileId = Buffer.from("6f1c0a528d1e4a559a4e0c1f2b3c4d10", "hex");
      const data = Buffer.alloc(1024 * 1024, 7);
      await phone.driver.run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
        fileId,
        "big.bin",
        data,
      ]);
      await phone.client.sync();
      await laptop.client.sync();
      await phone.driver.run("UPDATE files SET name = ? WHERE id = ?", ["phone.bin", fileId]);
      await laptop.driver.run("UPDATE files SET name = ? WHERE id = ?", ["laptop.bin", fileId]);
      await phone.client.sync();
      // The 409 carries the server's whole row (about 1.4 MiB of base64): the client must read it.
      const report = await laptop.client.sync();
      expect(report.syncStatus.pending.pendingRowCount).toBe(0);
      const rows = await laptop.driver.query<{ name: string; data: Uint8Array }>(
        "SELECT name, data FROM files WHERE id = ?",
        [fileId],
      );
      expect(rows.map((row) => row.name)).toEqual(["phone.bin"]);
      expect(Buffer.from(rows[0]!.data).equals(data)).toBe(true);
    });

    it("a database restored from a backup continues on a fresh source after rebuild()", async () => {
      const row = (n: number) => [
        `6f1c0a52-8d1e-4a55-9a4e-0c1f2b3c4e0${n}`,
        `tablet ${n}`,
        `t${n}@example.com`,
      ];
      const insert = "INSERT INTO users (id, name, email) VALUES (?, ?, ?)";
      const file = join(dir, "tablet.db");
      const session = async (write: (tablet: Device) => Promise<void>) => {
        const tablet = await openDevice("tablet");
        try {
          await tablet.client.attach(USER);
          await write(tablet);
        } finally {
          await tablet.client.close();
          await tablet.driver.close();
        }
      };
      await session(async (tablet) => {
        await tablet.driver.run(insert, row(1));
        await tablet.client.sync();
      });
      copyFileSync(file, join(dir, "tablet-backup.db"));
      await session(async (tablet) => {
        await tablet.driver.run(insert, row(2));
        await tablet.client.sync();
      });
      copyFileSync(join(dir, "tablet-backup.db"), file);

      await session(async (tablet) => {
        const before = await tablet.client.sourceInfo();
        await tablet.driver.run(insert, row(3));
        // The backup's next bundle id was already used by the change it never saw: sync cannot go on.
        await expect(tablet.client.sync()).rejects.toMatchObject({
          code: "source_sequence_mismatch",
          message: expect.stringContaining("rebuild()"),
        });
        expect(await tablet.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
        expect(await tablet.client.sync()).toMatchObject({ pushOutcome: "committed" });
        expect((await tablet.client.sourceInfo()).currentSourceId).not.toBe(before.currentSourceId);
        const names = await tablet.driver.query<{ name: string }>(
          "SELECT name FROM users WHERE name LIKE 'tablet %' ORDER BY name",
        );
        expect(names.map((r) => r.name)).toEqual(["tablet 1", "tablet 2", "tablet 3"]);
      });
      await phone.client.sync();
      expect(await userName(phone, row(3)[0]!)).toBe("tablet 3");
    });
  });
});

/** Waits until the server counts `expected` open watch streams for the user (5 s at most). */
async function waitForSubscribers(server: RunningServer, expected: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const response = await fetch(new URL(`/test/watch-subscribers?user_id=${USER}`, server.url));
    const { subscriber_count: subscribers } = (await response.json()) as { subscriber_count: number };
    if (subscribers === expected) return;
    if (Date.now() > deadline)
      throw new Error(`watch subscribers stayed at ${subscribers}, expected ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
