/**
 * Heavy parity groups 1 and 2: multi-chunk push, pull, committed replay and snapshot retrieval
 * under deliberately small limits, and a long-horizon writer/follower pair. Volumes come from
 * OVERSQLITE_HEAVY_ROWS, OVERSQLITE_HEAVY_ROUNDS and OVERSQLITE_HEAVY_CHUNK.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { useDevices } from "../conformance/live-device.js";
import { newUser } from "../conformance/server-calls.js";
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

describeHeavy("heavy: chunks and long horizons", (server) => {
  const devices = useDevices(server);

  it(
    "group 1 multi-chunk push, pull, committed replay and snapshot retrieval: every transfer takes several chunks and three devices end identical",
    async () => {
      const { rows, chunk } = HEAVY;
      const user = await newUser(server, "heavy-chunks");
      const writer = await attachedDevice(devices, user, SMALL_LIMITS);
      const follower = await attachedDevice(devices, user, SMALL_LIMITS);

      // One large bundle: users with a post each (children written first; the keys are deferred).
      const authors: string[] = [];
      const posts: string[] = [];
      await writer.driver.transaction(async (tx) => {
        for (let n = 0; n < rows; n += 2) {
          const [author, post] = [randomUUID(), randomUUID()];
          await tx.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)", [
            post,
            `post ${n}`,
            `body ${n} `.repeat(8),
            author,
          ]);
          await tx.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
            author,
            `user ${n}`,
            `${n}@x`,
          ]);
          authors.push(author);
          posts.push(post);
        }
      });
      const bundleRows = authors.length + posts.length;
      writer.net.clear();
      expect((await writer.client.pushPending()).outcome).toBe("committed");
      const pages = Math.ceil(bundleRows / chunk);
      expect(pages, "OVERSQLITE_HEAVY_ROWS must be several times OVERSQLITE_HEAVY_CHUNK").toBeGreaterThan(2);
      expect(writer.net.count("push_session_chunk")).toBe(pages);
      // The committed replay reads the bundle back in pages of downloadLimit rows.
      expect(writer.net.count("committed_bundle_rows")).toBeGreaterThanOrEqual(pages);

      // Many small bundles, so the follower's pull needs several pages of `chunk` bundles.
      const random = seededRandom();
      const smallBundles = 2 * chunk + 3;
      for (let n = 0; n < smallBundles; n++) {
        const author = authors[random.int(authors.length)]!;
        await writer.renameUser(author, `renamed ${n}`);
        const victim = posts.splice(random.int(posts.length), 1)[0]!;
        await writer.run("DELETE FROM posts WHERE id = ?", [victim]);
        const post = await writer.insertPost(author, `small bundle ${n}`);
        posts.push(post);
        expect((await writer.client.pushPending()).outcome).toBe("committed");
      }

      follower.net.clear();
      expect(await follower.client.pullToStable()).toMatchObject({
        syncStatus: { lastBundleSeqSeen: 1 + smallBundles },
      });
      expect(follower.net.count("pull")).toBeGreaterThanOrEqual(Math.ceil((1 + smallBundles) / chunk));

      // A new device restores the account from a snapshot fetched `chunk` rows at a time.
      const fresh = await devices.open(user, SMALL_LIMITS);
      expect(await fresh.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
      expect(fresh.net.count("snapshot_chunk")).toBeGreaterThanOrEqual(
        Math.ceil((authors.length + posts.length) / chunk),
      );

      const contents = await expectConverged(writer, [follower, fresh]);
      expect(contents.users).toHaveLength(authors.length);
      expect(contents.posts).toHaveLength(posts.length);
    },
    HEAVY_TIMEOUT,
  );

  it(
    "group 2 long-horizon writer/follower convergence: a follower tracks every round of a long mixed workload exactly",
    async () => {
      const { rounds } = HEAVY;
      const user = await newUser(server, "heavy-horizon");
      const writer = await attachedDevice(devices, user, SMALL_LIMITS);
      const follower = await attachedDevice(devices, user, SMALL_LIMITS);
      const random = seededRandom(HEAVY.seed + 2);
      // What the account should hold: user id -> name, post id -> author id.
      const names = new Map<string, string>();
      const postAuthors = new Map<string, string>();

      for (let round = 1; round <= rounds; round++) {
        // Creates, an update of an older row, a delete of an older post: a different mix each round.
        for (let n = 0; n < 3; n++) {
          const id = await writer.insertUser(`r${round} user ${n}`);
          names.set(id, `r${round} user ${n}`);
          postAuthors.set(await writer.insertPost(id, `r${round} post ${n}`), id);
        }
        const renamed = [...names.keys()][random.int(names.size)]!;
        await writer.renameUser(renamed, `renamed in round ${round}`);
        names.set(renamed, `renamed in round ${round}`);
        const removed = [...postAuthors.keys()][random.int(postAuthors.size)]!;
        await writer.run("DELETE FROM posts WHERE id = ?", [removed]);
        postAuthors.delete(removed);
        expect((await writer.client.pushPending()).outcome).toBe("committed");

        // The follower alternates between a plain pull and a whole sync (push of nothing, then pull).
        if (round % 2 === 0) await follower.client.sync();
        else await follower.client.pullToStable();
        expect(await follower.client.lastBundleSeqSeen()).toBe(round);
        expect(await contentsOf(follower)).toEqual(await contentsOf(writer));
      }

      await expectConverged(writer, [follower]);
      const users = await follower.query<{ id: string; name: string }>("SELECT id, name FROM users");
      expect(new Map(users.map((row) => [row.id, row.name]))).toEqual(names);
      const posts = await follower.query<{ id: string; author_id: string }>(
        "SELECT id, author_id FROM posts",
      );
      expect(new Map(posts.map((row) => [row.id, row.author_id]))).toEqual(postAuthors);
    },
    HEAVY_TIMEOUT,
  );
});
