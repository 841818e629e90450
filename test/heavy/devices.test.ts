/**
 * Heavy parity groups 7 and 8: two writers plus an observer of one user converging round after
 * round, and a shared database that catches up through live pulls (watch wake-ups) while the app
 * keeps reading and writing on the same connection.
 */
import { randomUUID } from "node:crypto";
import type { ConflictResolver } from "@oversync/client";
import { expect, it } from "vitest";
import { type Device, useDevices } from "../conformance/live-device.js";
import { eventually, newUser } from "../conformance/server-calls.js";
import {
  HEAVY,
  HEAVY_TIMEOUT,
  SMALL_LIMITS,
  attachedDevice,
  contentsOf,
  describeHeavy,
  expectConverged,
  seededRandom,
} from "./heavy-support.js";

/** Shared rows both writers edit. */
const SHARED_ROWS = 8;

describeHeavy("heavy: several devices of one user", (server) => {
  const devices = useDevices(server);

  it(
    "group 7 two writers plus an observer of one user: interleaved rounds with overlapping edits converge on every device",
    async () => {
      const { rounds } = HEAVY;
      const random = seededRandom(HEAVY.seed + 7);
      const user = await newUser(server, "heavy-trio");
      let conflicts = 0;
      const serverWinsCounted: ConflictResolver = () => {
        conflicts++;
        return { kind: "accept_server" };
      };
      const a = await attachedDevice(devices, user, { ...SMALL_LIMITS, resolver: serverWinsCounted });
      const shared: string[] = [];
      for (let n = 0; n < SHARED_ROWS; n++) shared.push(await a.insertUser(`shared ${n}`));
      await a.client.pushPending();
      const b = await attachedDevice(devices, user, { ...SMALL_LIMITS, resolver: serverWinsCounted });
      const observer = await attachedDevice(devices, user, SMALL_LIMITS);
      const model = new Map(shared.map((id, n) => [id, `shared ${n}`]));
      // Each writer's own posts, which only it edits or deletes.
      const own = new Map<Device, string[]>([
        [a, []],
        [b, []],
      ]);
      let expectedConflicts = 0;
      let expectedPosts = 0;

      for (let round = 1; round <= rounds; round++) {
        const changed = new Map<Device, Map<string, string>>();
        for (const [label, writer] of [
          ["a", a],
          ["b", b],
        ] as const) {
          const edits = new Map<string, string>();
          for (let n = 0; n < 2; n++) {
            // The first edit hits the same row on both writers (a sure conflict); the second is random.
            const id = n === 0 ? shared[round % shared.length]! : shared[random.int(shared.length)]!;
            edits.set(id, `${label} round ${round} edit ${n}`);
            await writer.renameUser(id, edits.get(id)!);
          }
          changed.set(writer, edits);
          const posts = own.get(writer)!;
          posts.push(await writer.insertPost(shared[random.int(shared.length)]!, `${label} post ${round}`));
          expectedPosts++;
          if (round % 3 === 0) {
            await writer.run("DELETE FROM posts WHERE id = ?", [posts.shift()!]);
            expectedPosts--;
          }
        }
        // The first to sync wins the rows both edited (server-wins on the second's push).
        const [first, second] = round % 2 === 1 ? [a, b] : [b, a];
        for (const id of changed.get(first)!.keys()) if (changed.get(second)!.has(id)) expectedConflicts++;
        for (const [id, name] of changed.get(second)!) model.set(id, name);
        for (const [id, name] of changed.get(first)!) model.set(id, name);
        await first.client.sync();
        await second.client.sync();
        await first.client.sync();
        await observer.client.pullToStable();

        const reference = await contentsOf(first);
        for (const device of [second, observer]) expect(await contentsOf(device)).toEqual(reference);
        const names = await observer.query<{ id: string; name: string }>(
          `SELECT id, name FROM users WHERE id IN (${shared.map(() => "?").join(", ")})`,
          shared,
        );
        expect(new Map(names.map((row) => [row.id, row.name]))).toEqual(model);
      }

      expect(expectedConflicts).toBeGreaterThanOrEqual(rounds);
      expect(conflicts).toBe(expectedConflicts);
      const contents = await expectConverged(a, [b, observer, await attachedDevice(devices, user)]);
      expect(contents.posts).toHaveLength(expectedPosts);
    },
    HEAVY_TIMEOUT,
  );

  it(
    "group 8 concurrent local reads and writes while a shared database catches up through live pulls: readers see whole bundles, app writes are kept and synced",
    async () => {
      const { rounds, chunk } = HEAVY;
      const user = await newUser(server, "heavy-shared");
      const writer = await attachedDevice(devices, user, SMALL_LIMITS);
      // The remote invariant: every bundle renames all ledger rows to its round and adds that round's post.
      const ledger: string[] = [];
      for (let n = 0; n < SHARED_ROWS; n++) ledger.push(await writer.insertUser("round 0"));
      await writer.client.pushPending();
      const remoteRound = async (round: number) => {
        await writer.driver.transaction(async (tx) => {
          for (const id of ledger)
            await tx.run("UPDATE users SET name = ? WHERE id = ?", [`round ${round}`, id]);
          await tx.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, 'c', ?)", [
            randomUUID(),
            `round ${round} post`,
            ledger[round % ledger.length]!,
          ]);
        });
        expect((await writer.client.pushPending()).outcome).toBe("committed");
      };
      const shared = await attachedDevice(devices, user, { downloadLimit: chunk });

      // A backlog the shared database has not pulled yet.
      const backlog = Math.max(2, Math.floor(rounds / 2));
      for (let round = 1; round <= backlog; round++) await remoteRound(round);

      let syncApplies = 0;
      shared.client.onTablesChanged(({ origin }) => {
        if (origin === "sync") syncApplies++;
      });
      let catchingUp = true;
      const violations: string[] = [];
      const roundsSeen = new Set<number>();
      let reads = 0;
      const inClause = ledger.map(() => "?").join(", ");
      // App readers on the syncing connection: one statement reads the ledger and the post count,
      // which must always describe the same whole bundle.
      const reader = async () => {
        while (catchingUp) {
          const [row] = await shared.query<{ names: bigint; name: string; posts: bigint }>(
            `SELECT (SELECT count(DISTINCT name) FROM users WHERE id IN (${inClause})) AS names,
                    (SELECT min(name) FROM users WHERE id IN (${inClause})) AS name,
                    (SELECT count(*) FROM posts WHERE title LIKE 'round % post') AS posts`,
            [...ledger, ...ledger],
          );
          const round = Number(row!.name.slice("round ".length));
          if (row!.names !== 1n || BigInt(round) !== row!.posts) violations.push(JSON.stringify(row, String));
          roundsSeen.add(round);
          reads++;
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      // The app writing on the same connection meanwhile: new rows, and edits of its own earlier rows.
      const localIds: string[] = [];
      const appWriter = async () => {
        while (catchingUp) {
          const id = await shared.insertUser(`local ${localIds.length}`);
          await shared.insertPost(id, `local post ${localIds.length}`);
          localIds.push(id);
          if (localIds.length % 4 === 0)
            await shared.renameUser(localIds[localIds.length - 4]!, "local edited");
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };

      shared.client.start({ watch: "auto", intervalMillis: 60_000, reconnectMinMillis: 20 });
      const app = Promise.all([reader(), reader(), appWriter()]);
      for (let round = backlog + 1; round <= rounds; round++) await remoteRound(round);
      const target = await writer.client.lastBundleSeqSeen();
      try {
        await eventually(
          "the shared database to catch up through live pulls",
          async () => (await shared.attachment()).lastBundleSeqSeen === target,
          120_000,
        );
      } finally {
        catchingUp = false;
        await app;
        await shared.client.stop();
      }

      expect(violations).toEqual([]);
      expect(reads).toBeGreaterThan(0);
      // The readers really overlapped the catch-up: they saw intermediate rounds, not just both ends.
      expect(roundsSeen.size).toBeGreaterThan(2);
      expect(syncApplies).toBeGreaterThan(1);
      expect(shared.net.count("watch")).toBeGreaterThan(0);
      expect(shared.net.count("push_session_create")).toBe(0);
      // Every app write made during the catch-up is still there, and queued.
      expect(localIds.length).toBeGreaterThan(0);
      expect(await shared.count("users", "name LIKE 'local %'")).toBe(localIds.length);
      expect((await shared.client.pendingSyncStatus()).pendingRowCount).toBe(2 * localIds.length);

      expect((await shared.client.sync()).pushOutcome).toBe("committed");
      await writer.client.pullToStable();
      const contents = await expectConverged(writer, [shared]);
      expect(contents.users).toHaveLength(SHARED_ROWS + localIds.length);
      expect(contents.posts).toHaveLength(rounds + localIds.length);
    },
    HEAVY_TIMEOUT,
  );
});
