/**
 * Heavy parity groups 4 and 6: a stale follower after history pruning rebuilds from a chunked
 * snapshot and keeps its offline writes; a device restored from an old backup after many bundles
 * recovers onto a replacement source, the old source is refused, and syncs continue through the
 * replacement (with the history retained, and after pruning).
 */
import { randomUUID } from "node:crypto";
import { copyFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { type Device, useDevices } from "../conformance/live-device.js";
import { newUser, rawSync, setRetainedFloor } from "../conformance/server-calls.js";
import {
  HEAVY,
  HEAVY_TIMEOUT,
  SMALL_LIMITS,
  attachedDevice,
  describeHeavy,
  expectConverged,
  seededRandom,
} from "./heavy-support.js";

describeHeavy("heavy: pruning and source recovery", (server) => {
  const devices = useDevices(server);

  /** One bundle: `count` users with a post each, named after `label`; returns the user ids. */
  async function pushUsers(device: Device, label: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    await device.driver.transaction(async (tx) => {
      for (let n = 0; n < count; n++) {
        const id = randomUUID();
        await tx.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [id, `${label} ${n}`, `${n}@x`]);
        await tx.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, 'c', ?)", [
          randomUUID(),
          `${label} post ${n}`,
          id,
        ]);
        ids.push(id);
      }
    });
    expect((await device.client.pushPending()).outcome).toBe("committed");
    return ids;
  }

  it(
    "group 4 stale follower after history pruning: the follower rebuilds from a chunked snapshot, keeps its offline writes and converges",
    async () => {
      const { rounds, chunk } = HEAVY;
      const random = seededRandom(HEAVY.seed + 4);
      const user = await newUser(server, "heavy-stale");
      const leader = await attachedDevice(devices, user, SMALL_LIMITS);
      const follower = await attachedDevice(devices, user, SMALL_LIMITS);
      const source = (await follower.attachment()).currentSourceId;

      const early: string[] = [];
      const late: string[] = [];
      for (let round = 1; round <= rounds; round++) {
        const ids = await pushUsers(leader, `round ${round}`, 4);
        (round <= 3 ? early : late).push(...ids);
        // The leader keeps editing rows the follower has not seen yet (so no push of its conflicts).
        if (late.length > 0) {
          await leader.renameUser(late[random.int(late.length)]!, `renamed in round ${round}`);
          await leader.run("DELETE FROM posts WHERE author_id = ?", [late[random.int(late.length)]!]);
          expect((await leader.client.pushPending()).outcome).toBe("committed");
        }
        if (round === 3) expect((await follower.client.pullToStable()).syncStatus.lastBundleSeqSeen).toBe(3);
      }

      // Offline on the follower, meanwhile: new rows and an edit of a row it already had.
      const offline: string[] = [];
      for (let n = 0; n < 5; n++) offline.push(await follower.insertUser(`offline ${n}`));
      await follower.insertPost(offline[0]!, "offline post");
      await follower.renameUser(early[0]!, "edited offline");
      const pending = await follower.pendingRows();
      expect(pending).toBe(7);

      const floor = await leader.client.lastBundleSeqSeen();
      await setRetainedFloor(server, user, floor);
      follower.net.clear();
      expect(await follower.client.pullToStable()).toMatchObject({
        outcome: "applied_snapshot",
        syncStatus: { lastBundleSeqSeen: floor },
      });
      expect(follower.net.to("pull")[0]!.status).toBe(409);
      const snapshotRows = (await leader.count("users")) + (await leader.count("posts"));
      expect(follower.net.count("snapshot_chunk")).toBeGreaterThanOrEqual(Math.ceil(snapshotRows / chunk));
      // A keep-source rebuild: same source, the offline writes replayed on the snapshot and still queued.
      expect((await follower.attachment()).currentSourceId).toBe(source);
      expect(await follower.pendingRows()).toBe(pending);
      expect(await follower.userName(early[0]!)).toBe("edited offline");
      expect(await follower.count("users", "name LIKE 'offline %'")).toBe(5);

      expect((await follower.client.pushPending()).outcome).toBe("committed");
      // The leader's checkpoint is at the floor: it pulls the follower's bundle as usual.
      leader.net.clear();
      expect((await leader.client.pullToStable()).outcome).not.toBe("applied_snapshot");
      expect(leader.net.count("snapshot_create")).toBe(0);
      const fresh = await attachedDevice(devices, user, SMALL_LIMITS);
      const contents = await expectConverged(leader, [follower, fresh]);
      expect(contents.users).toHaveLength(4 * rounds + 5);
    },
    HEAVY_TIMEOUT,
  );

  for (const pruned of [false, true]) {
    it(
      `group 6 source recovery and retirement after many bundles (${pruned ? "history pruned" : "history retained"}): a phone restored from an old backup moves to a replacement source and syncs on through it`,
      async () => {
        const { rounds } = HEAVY;
        const user = await newUser(server, pruned ? "heavy-recovery-pruned" : "heavy-recovery");
        let phone = await attachedDevice(devices, user, SMALL_LIMITS);
        const laptop = await attachedDevice(devices, user, SMALL_LIMITS);
        const oldSource = (await phone.attachment()).currentSourceId;
        const half = Math.max(2, Math.floor(rounds / 2));
        for (let n = 1; n <= half; n++) await pushUsers(phone, `before backup ${n}`, 2);

        // The backup: a copy of the closed database file, taken after `half` bundles.
        const backup = devices.newFile();
        await phone.close();
        await copyFile(phone.file, backup);
        phone = await attachedDevice(devices, user, { ...SMALL_LIMITS, file: phone.file });
        for (let n = 1; n <= half; n++) await pushUsers(phone, `after backup ${n}`, 2);
        await phone.close();
        await laptop.client.pullToStable();
        if (pruned) await setRetainedFloor(server, user, await laptop.client.lastBundleSeqSeen());

        // The phone is lost; the backup is restored on its replacement and written to.
        const restored = await attachedDevice(devices, user, { ...SMALL_LIMITS, file: backup });
        expect((await restored.attachment()).currentSourceId).toBe(oldSource);
        await writeUsersLocally(restored, "restored", 3);
        // Its next tuple (source, half + 1) is already committed with other rows, or pruned.
        await expect(restored.client.pushPending()).rejects.toMatchObject(
          pruned
            ? { code: "source_recovery_required", reason: "history_pruned" }
            : { code: "source_sequence_mismatch" },
        );
        expect(await restored.pendingRows()).toBe(6);

        restored.net.clear();
        expect(await restored.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
        const newSource = (await restored.attachment()).currentSourceId;
        expect(newSource).not.toBe(oldSource);
        expect(restored.net.to("snapshot_create")[0]!.body).toMatchObject({
          source_replacement: { previous_source_id: oldSource, new_source_id: newSource },
        });
        // Everything the lost phone pushed after the backup is back, and the restored writes kept.
        expect(await restored.count("users", "name LIKE 'after backup %'")).toBe(2 * half);
        expect(await restored.count("users", "name LIKE 'restored %'")).toBe(3);

        // The old source is retired in favour of the replacement: its next tuple is refused (a
        // committed tuple would still be answered already_committed, protocol-latest §1.3).
        const refused = await rawSync(server, user, oldSource, "POST", "/sync/push-sessions", {
          source_bundle_id: 2 * half + 1,
          planned_row_count: 1,
          canonical_request_hash: "0".repeat(64),
        });
        expect(refused).toMatchObject({
          status: 409,
          body: { error: "source_retired", source_id: oldSource, replaced_by_source_id: newSource },
        });

        // Follow-up syncs go through the replacement, numbered from 1; the laptop keeps up.
        restored.net.clear();
        const followUps = Math.max(2, Math.floor(rounds / 4));
        expect((await restored.client.sync()).pushOutcome).toBe("committed");
        for (let n = 1; n < followUps; n++) {
          await pushUsers(restored, `follow-up ${n}`, 2);
          await laptop.insertUser(`laptop ${n}`);
          await laptop.client.sync();
          await restored.client.pullToStable();
        }
        const creates = restored.net.to("push_session_create");
        expect(creates.map((request) => request.sourceId)).toEqual(creates.map(() => newSource));
        expect(
          creates.map((request) => (request.body as { source_bundle_id: number }).source_bundle_id),
        ).toEqual(creates.map((_, n) => n + 1));
        await laptop.client.pullToStable();
        const contents = await expectConverged(restored, [laptop, await attachedDevice(devices, user)]);
        expect(contents.users).toHaveLength(4 * half + 3 + 3 * (followUps - 1));
      },
      HEAVY_TIMEOUT,
    );
  }

  /** `count` users with a post each, written locally and left queued. */
  async function writeUsersLocally(device: Device, label: string, count: number): Promise<void> {
    for (let n = 0; n < count; n++)
      await device.insertPost(await device.insertUser(`${label} ${n}`), `${label} post`);
  }
});
