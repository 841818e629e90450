/**
 * Live conformance, catalog groups F (source recovery) and G (pruning): a source whose bundle
 * stream the server refuses is retired for a fresh one, and devices behind the retained floor
 * rebuild from a snapshot, our client against a live server. A refused stream is produced the way
 * it happens in the field: a device's sequence pushed out of step (a restored backup), or two
 * copies of one database pushing under the same source.
 */
import { randomUUID } from "node:crypto";
import { copyFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { type Device, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import {
  type LiveUser,
  failRequests,
  newUser,
  rawSync,
  requireHooks,
  serverWrite,
  setRetainedFloor,
} from "./server-calls.js";

describeLive("live conformance: source recovery and pruning", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** Moves the device's next source bundle id to `next` (what restoring an older or newer backup does). */
  async function setNextSourceBundleId(device: Device, next: number): Promise<void> {
    const { currentSourceId } = await device.attachment();
    await device.run("UPDATE _sync_source_state SET next_source_bundle_id = ? WHERE source_id = ?", [
      next,
      currentSourceId,
    ]);
  }

  /**
   * Closes `device` and returns it reopened plus `copies` copies of its database file, all attached
   * and on the same source (a restored backup, a cloned phone).
   */
  async function duplicate(device: Device, user: LiveUser, copies = 1): Promise<Device[]> {
    await device.close();
    const files = [device.file];
    for (let n = 0; n < copies; n++) {
      const copy = devices.newFile();
      await copyFile(device.file, copy);
      files.push(copy);
    }
    const opened: Device[] = [];
    for (const file of files) {
      const d = await devices.open(user, { file });
      await d.client.attach(user.id);
      opened.push(d);
    }
    return opened;
  }

  /** A raw push-session create as `sourceId` (the server's view of that source). */
  function rawCreate(user: LiveUser, sourceId: string) {
    return rawSync(server, user, sourceId, "POST", "/sync/push-sessions", {
      source_bundle_id: 1,
      planned_row_count: 1,
      canonical_request_hash: "0".repeat(64),
    });
  }

  it("SR-01 a sequence that skips ahead enters source recovery, persists across restart and fails closed until rebuild()", async () => {
    const user = await newUser(server, "sr01");
    const writer = await attached(user);
    await writer.insertUser("Remote");
    await writer.client.pushPending();
    const device = await attached(user);
    await device.insertUser("Pending");
    await setNextSourceBundleId(device, 5);
    await expect(device.client.pushPending()).rejects.toMatchObject({
      code: "source_recovery_required",
      reason: "source_sequence_out_of_order",
    });
    const oldSource = (await device.attachment()).currentSourceId;

    const restarted = await device.restart();
    expect(await restarted.client.sourceInfo()).toEqual({
      currentSourceId: oldSource,
      rebuildRequired: true,
      sourceRecoveryRequired: true,
      sourceRecoveryReason: "source_sequence_out_of_order",
    });
    expect(await restarted.client.attach(user.id)).toMatchObject({ status: "connected" });
    restarted.net.clear();
    for (const call of [
      () => restarted.client.pushPending(),
      () => restarted.client.pullToStable(),
      () => restarted.client.sync(),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: "source_recovery_required",
        reason: "source_sequence_out_of_order",
      });
    }
    expect(restarted.net.sent).toEqual([]);
    // Writes to synced tables wait for the rotation (the guard triggers).
    await expect(restarted.insertUser("Blocked")).rejects.toThrow(/SYNC_TRANSITION_PENDING/);

    expect(await restarted.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    const info = await restarted.client.sourceInfo();
    expect(info).toMatchObject({ rebuildRequired: false, sourceRecoveryRequired: false });
    expect(info.currentSourceId).not.toBe(oldSource);
    expect(await restarted.names()).toEqual(["Pending", "Remote"]);
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
    await writer.client.pullToStable();
    expect(await writer.names()).toEqual(["Pending", "Remote"]);
  });

  it("SR-02 SR-03 SR-04 a pruned sequence retires the source over HTTP; the preserved outbox commits as bundle 1 of the replacement", async () => {
    const user = await newUser(server, "sr02");
    const device = await attached(user);
    for (const name of ["First", "Second"]) {
      await device.insertUser(name);
      await device.client.pushPending();
    }
    await setRetainedFloor(server, user, 2);
    // As if restored from a backup taken before both pushes: the sequence restarts at 1.
    await setNextSourceBundleId(device, 1);
    await device.insertUser("Pending");
    await expect(device.client.pushPending()).rejects.toMatchObject({
      code: "source_recovery_required",
      reason: "history_pruned",
    });
    const oldSource = (await device.attachment()).currentSourceId;
    expect(await device.outbox()).toEqual({
      state: "prepared",
      sourceId: oldSource,
      sourceBundleId: 1,
      rows: 1,
    });
    const operation = await device.operation();
    expect(operation).toMatchObject({ kind: "source_recovery", reason: "history_pruned" });
    expect(operation.replacementSourceId).not.toBe("");
    await expect(device.client.pullToStable()).rejects.toMatchObject({ code: "source_recovery_required" });

    device.net.clear();
    expect(await device.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    const newSource = (await device.attachment()).currentSourceId;
    expect(newSource).toBe(operation.replacementSourceId);
    expect(device.net.to("snapshot_create")[0]!.body).toEqual({
      source_replacement: {
        previous_source_id: oldSource,
        new_source_id: newSource,
        reason: "history_pruned",
      },
    });
    expect(await device.outbox()).toMatchObject({
      state: "prepared",
      sourceId: newSource,
      sourceBundleId: 1,
    });
    expect((await device.operation()).kind).toBe("none");
    expect(await device.names()).toEqual(["First", "Pending", "Second"]);

    const refused = await rawCreate(user, oldSource);
    expect(refused).toMatchObject({
      status: 409,
      body: { error: "source_retired", source_id: oldSource, replaced_by_source_id: newSource },
    });

    const restarted = await device.restart();
    expect((await restarted.client.sourceInfo()).currentSourceId).toBe(newSource);
    expect(await restarted.client.attach(user.id)).toMatchObject({ status: "connected" });
    restarted.net.clear();
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
    expect(restarted.net.to("push_session_create")[0]!.body).toMatchObject({ source_bundle_id: 1 });
    expect(restarted.net.count("push_session_chunk")).toBe(1);
    expect(await restarted.nextSourceBundleId()).toBe(2);
    expect(await restarted.outbox()).toMatchObject({ state: "none", rows: 0 });
    expect(await restarted.client.lastBundleSeqSeen()).toBeGreaterThanOrEqual(2);
  });

  it("SR-05 a tuple committed under the source between a push's create and its commit sends the device into recovery at commit", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "sr05");
    const device = await attached(user);
    await device.insertUser("Seed");
    await device.client.pushPending();
    const source = (await device.attachment()).currentSourceId;
    await device.insertUser("Losing");
    // Another writer commits this source's next tuple first (a create for the same tuple would
    // replace the session instead, so it comes from a server-originated bundle under this source).
    device.net.before = async (request) => {
      if (request.endpoint !== "push_session_commit") return;
      device.net.before = undefined;
      await serverWrite(
        server,
        user,
        [
          {
            sql: "INSERT INTO business.users (id, name, email) VALUES (gen_random_uuid(), 'Winning', 'w@x')",
          },
        ],
        { writerId: source, sourceBundleId: 2 },
      );
    };
    await expect(device.client.pushPending()).rejects.toMatchObject({
      code: "source_recovery_required",
      reason: "source_sequence_changed",
    });
    expect(await device.outbox()).toMatchObject({
      state: "prepared",
      sourceId: source,
      sourceBundleId: 2,
      rows: 1,
    });
    const operation = await device.operation();
    expect(operation).toMatchObject({ kind: "source_recovery", reason: "source_sequence_changed" });
    expect(operation.replacementSourceId).not.toBe("");
    expect(await device.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect(await device.names()).toEqual(["Losing", "Seed", "Winning"]);
  });

  it("SR-06 SR-07 a copy told its source was retired adopts the named replacement; one holding another reservation fails closed", async () => {
    const user = await newUser(server, "sr06");
    const seed = await attached(user);
    await seed.insertUser("Seed");
    await seed.client.pushPending();
    const [rotated, adopter, diverged] = (await duplicate(seed, user, 2)) as [Device, Device, Device];
    const oldSource = (await rotated.attachment()).currentSourceId;

    // The diverging copy reserves a replacement of its own first (its sequence skipped ahead).
    await setNextSourceBundleId(diverged, 9);
    await diverged.insertUser("Diverged");
    await expect(diverged.client.pushPending()).rejects.toMatchObject({ code: "source_recovery_required" });
    const ownReservation = (await diverged.operation()).replacementSourceId;

    await setNextSourceBundleId(rotated, 9);
    await rotated.insertUser("Rotated");
    await expect(rotated.client.pushPending()).rejects.toMatchObject({ code: "source_recovery_required" });
    await rotated.client.rebuild();
    const replacement = (await rotated.attachment()).currentSourceId;

    await adopter.insertUser("Adopter");
    await expect(adopter.client.pushPending()).rejects.toMatchObject({
      code: "source_recovery_required",
      reason: "source_retired",
    });
    expect(await adopter.operation()).toEqual({
      kind: "source_recovery",
      reason: "source_retired",
      replacementSourceId: replacement,
    });

    await expect(diverged.client.rebuild()).rejects.toMatchObject({
      code: "source_replacement_diverged",
      localReplacementSourceId: ownReservation,
      remoteReplacementSourceId: replacement,
    });
    expect(await diverged.operation()).toMatchObject({
      kind: "source_recovery",
      replacementSourceId: ownReservation,
    });
    expect((await diverged.attachment()).currentSourceId).toBe(oldSource);
  });

  it("SR-08 a failed rotating rebuild keeps its reserved replacement; the retry asks for the same one", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "sr08");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Pending");
    await setNextSourceBundleId(device, 4);
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "source_recovery_required" });
    const before = await device.attachment();
    await failRequests(server, user, { endpoint: "snapshot_chunk", disconnect: true });
    await expect(device.client.rebuild()).rejects.toMatchObject({ code: "network_error" });
    expect((await device.attachment()).currentSourceId).toBe(before.currentSourceId);
    expect((await device.operation()).kind).toBe("source_recovery");
    expect(await device.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    const replacements = device.net
      .to("snapshot_create")
      .map(
        (request) =>
          (request.body as { source_replacement: { new_source_id: string } }).source_replacement
            .new_source_id,
      );
    expect(replacements).toHaveLength(2);
    expect(replacements[1]).toBe(replacements[0]);
    expect((await device.attachment()).currentSourceId).toBe(replacements[0]);
    expect((await device.operation()).kind).toBe("none");
  });

  it("SR-09 a recovery armed by hand rotates to the requested replacement; the old source is retired", async () => {
    const user = await newUser(server, "sr09");
    const seed = await attached(user);
    await seed.insertUser("Seed");
    await seed.client.pushPending();
    const recover = await attached(user);
    const oldSource = (await recover.attachment()).currentSourceId;
    const replacement = `replacement-${oldSource}`;
    await recover.run(
      "INSERT INTO _sync_source_state (source_id, next_source_bundle_id, replaced_by_source_id) VALUES (?, 1, '')",
      [replacement],
    );
    await recover.run("UPDATE _sync_attachment_state SET rebuild_required = 1");
    await recover.run(
      "UPDATE _sync_operation_state SET kind = 'source_recovery', reason = 'source_sequence_changed', replacement_source_id = ?",
      [replacement],
    );
    expect(await recover.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect((await recover.attachment()).currentSourceId).toBe(replacement);
    expect(
      await recover.query("SELECT replaced_by_source_id FROM _sync_source_state WHERE source_id = ?", [
        oldSource,
      ]),
    ).toEqual([{ replaced_by_source_id: replacement }]);
    expect(await rawCreate(user, oldSource)).toMatchObject({
      status: 409,
      body: { error: "source_retired", source_id: oldSource, replaced_by_source_id: replacement },
    });
    const rotated = await recover.restart();
    expect(await rotated.client.attach(user.id)).toMatchObject({ outcome: "resumed_attached_state" });
    await rotated.insertUser("Follow-up");
    expect((await rotated.client.pushPending()).outcome).toBe("committed");
    await seed.client.pullToStable();
    expect(await seed.names()).toEqual(["Follow-up", "Seed"]);
  });

  it("SR-10 recovery state that cannot be honoured fails closed: unknown reason, used replacement, refused replacement", async () => {
    const user = await newUser(server, "sr10");
    const other = await attached(user);
    await other.insertUser("Other device");
    await other.client.pushPending();
    /** A device of `user` whose recovery is armed by hand with `reason` and `replacement`. */
    const armed = async (reason: string, replacement: string, nextBundleId: number) => {
      const device = await attached(user);
      await device.run("INSERT INTO _sync_source_state (source_id, next_source_bundle_id) VALUES (?, ?)", [
        replacement,
        nextBundleId,
      ]);
      await device.run("UPDATE _sync_attachment_state SET rebuild_required = 1");
      await device.run(
        "UPDATE _sync_operation_state SET kind = 'source_recovery', reason = ?, replacement_source_id = ?",
        [reason, replacement],
      );
      device.net.clear();
      return device;
    };

    const unknown = await armed("no_such_reason", `fresh-${randomUUID()}`, 1);
    await expect(unknown.client.rebuild()).rejects.toMatchObject({ code: "store_invalid" });
    expect(unknown.net.count("snapshot_create")).toBe(0);

    // As the fixture pins: the replacement request goes out, the apply refuses the used source.
    const used = await armed("source_sequence_changed", `used-${randomUUID()}`, 3);
    const source = (await used.attachment()).currentSourceId;
    await expect(used.client.rebuild()).rejects.toMatchObject({ code: "store_invalid" });
    expect(used.net.count("snapshot_create")).toBe(1);
    expect((await used.attachment()).currentSourceId).toBe(source);
    expect((await used.operation()).kind).toBe("source_recovery");

    // The server refuses a replacement that is another device's live source; the reservation stays.
    const taken = (await other.attachment()).currentSourceId;
    const refused = await armed("source_sequence_changed", taken, 1);
    await expect(refused.client.rebuild()).rejects.toMatchObject({
      code: "source_replacement_refused",
      cause: { code: "source_replacement_invalid" },
    });
    expect(await refused.operation()).toMatchObject({ kind: "source_recovery", replacementSourceId: taken });
  });

  it("PR-01 a follower that never pulled rebuilds in chunks after the writer's chunked push is pruned", async () => {
    const user = await newUser(server, "pr01");
    const writer = await attached(user, { uploadLimit: 2 });
    const follower = await attached(user, { snapshotChunkRows: 2 });
    for (let n = 1; n <= 5; n++) await writer.insertUser(`User ${n}`);
    await writer.client.pushPending();
    expect(writer.net.count("push_session_chunk")).toBe(3);
    await setRetainedFloor(server, user, await writer.client.lastBundleSeqSeen());
    follower.net.clear();
    expect(await follower.client.pullToStable()).toMatchObject({
      outcome: "applied_snapshot",
      syncStatus: { lastBundleSeqSeen: 1 },
    });
    expect(follower.net.count("snapshot_chunk")).toBeGreaterThan(1);
    expect(await follower.count("users")).toBe(5);
  });

  it("PR-03 PR-04 a stale follower under load rebuilds from a snapshot, keeps its source and ends clean", async () => {
    const user = await newUser(server, "pr04");
    const leader = await attached(user, { uploadLimit: 2, downloadLimit: 2 });
    const follower = await attached(user, { uploadLimit: 2, downloadLimit: 2 });
    const source = (await follower.attachment()).currentSourceId;
    for (let round = 1; round <= 10; round++) {
      await leader.insertPost(await leader.insertUser(`User ${round}`), `Post ${round}`);
      await leader.client.pushPending();
      if (round === 3) expect((await follower.client.pullToStable()).syncStatus.lastBundleSeqSeen).toBe(3);
    }
    await setRetainedFloor(server, user, 10);
    expect(await follower.client.pullToStable()).toMatchObject({
      outcome: "applied_snapshot",
      syncStatus: { lastBundleSeqSeen: 10 },
    });
    expect((await follower.attachment()).currentSourceId).toBe(source);
    expect(await follower.count("users")).toBe(10);
    expect(await follower.count("posts")).toBe(10);
    expect(await follower.isClean()).toBe(true);
  });

  it("PR-05 a stale follower recovers the whole rich graph from a snapshot after pruning", async () => {
    const user = await newUser(server, "pr05");
    const leader = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    const follower = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    const hot = await leader.insertUser("Hot");
    await leader.client.pushPending();
    for (let round = 1; round <= 8; round++) {
      await leader.renameUser(hot, `Hot round ${round}`);
      for (let n = 1; n <= 3; n++)
        await leader.insertPost(await leader.insertUser(`R${round} user ${n}`), `R${round} post ${n}`);
      await leader.run("INSERT INTO categories (id, name) VALUES (?, ?)", [
        randomUUID(),
        `R${round} category`,
      ]);
      await leader.client.pushPending();
      if (round === 3) expect((await follower.client.pullToStable()).syncStatus.lastBundleSeqSeen).toBe(4);
    }
    await setRetainedFloor(server, user, 9);
    const source = (await follower.attachment()).currentSourceId;
    expect(await follower.client.pullToStable()).toMatchObject({
      outcome: "applied_snapshot",
      syncStatus: { lastBundleSeqSeen: 9 },
    });
    expect(await follower.attachment()).toMatchObject({ currentSourceId: source, rebuildRequired: false });
    expect(await follower.isClean()).toBe(true);
    for (const table of ["users", "posts", "categories"])
      expect(await follower.count(table)).toBe(await leader.count(table));
    expect(await follower.userName(hot)).toBe("Hot round 8");
  });

  it("PR-06 a committed push whose bundle is pruned before its replay recovers through a keep-source rebuild", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pr06");
    const device = await attached(user, { retry: "none" });
    const id = await device.insertUser("Committed, not replayed");
    await failRequests(server, user, { endpoint: "committed_bundle_rows", status: 503 });
    await expect(device.client.pushPending()).rejects.toMatchObject({ status: 503 });
    expect((await device.outbox()).state).toBe("committed_remote");
    const peer = await attached(user);
    await peer.insertUser("Later");
    await peer.client.pushPending();
    await setRetainedFloor(server, user, 2);
    const source = (await device.attachment()).currentSourceId;

    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "rebuild_required" });
    expect((await device.attachment()).rebuildRequired).toBe(true);
    expect((await device.outbox()).state).toBe("committed_remote");
    expect(await device.client.sync()).toMatchObject({ remoteOutcome: "applied_snapshot" });
    expect(await device.outbox()).toMatchObject({ state: "none", rows: 0 });
    expect((await device.attachment()).currentSourceId).toBe(source);
    expect(await device.nextSourceBundleId()).toBe(2);
    expect(await device.client.lastBundleSeqSeen()).toBe(2);
    expect(await device.userName(id)).toBe("Committed, not replayed");
  });

  it("PR-07 pruning history keeps each source's sequence: the source continues, a replayed old tuple is refused", async () => {
    const user = await newUser(server, "pr07");
    const device = await attached(user);
    for (let n = 1; n <= 3; n++) {
      await device.insertUser(`User ${n}`);
      await device.client.pushPending();
    }
    const source = (await device.attachment()).currentSourceId;
    await setRetainedFloor(server, user, 3);
    await device.insertUser("After the floor");
    device.net.clear();
    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect(device.net.to("push_session_create")[0]!.body).toMatchObject({ source_bundle_id: 4 });
    expect((await rawCreate(user, source)).body).toMatchObject({ error: "history_pruned" });
    expect((await device.client.pullToStable()).outcome).toBe("already_at_target");
    const late = await attached(user);
    expect(await late.count("users")).toBe(4);
  });
});
