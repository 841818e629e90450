/**
 * Live conformance, catalog groups C (pull) and D (snapshot / rebuild): incremental pulls to a
 * frozen ceiling, snapshot hydrates and rebuilds, and how both fail closed, our client against a
 * live server. Failures of the server's answers come from `serve --test-hooks`; failures of the
 * local apply come from local-only SQLite triggers, the real way an apply can fail on a device.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { type Device, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import {
  type LiveUser,
  failRequests,
  newUser,
  requireHooks,
  serverSql,
  serverWrite,
  setRetainedFloor,
} from "./server-calls.js";

/** A local-only trigger that makes applying a users row named `name` fail. */
function refuseUserNamed(name: string): string {
  return `CREATE TRIGGER refuse_${name} BEFORE INSERT ON users WHEN NEW.name = '${name}'
    BEGIN SELECT RAISE(ABORT, 'refused ${name}'); END`;
}

describeLive("live conformance: pull and snapshot", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** `count` one-row bundles of users named `${prefix} n` from `device`. */
  async function pushUsers(device: Device, prefix: string, count: number): Promise<void> {
    for (let n = 1; n <= count; n++) {
      await device.insertUser(`${prefix} ${n}`);
      await device.client.pushPending();
    }
  }

  it("PL-01 a pull pages through bundles up to the ceiling its first page reported", async () => {
    const user = await newUser(server, "pl01");
    const writer = await attached(user);
    const reader = await attached(user, { downloadLimit: 1 });
    await pushUsers(writer, "User", 3);
    expect(await reader.client.pullToStable()).toMatchObject({
      outcome: "applied_incremental",
      syncStatus: { lastBundleSeqSeen: 3 },
    });
    const pages = reader.net.to("pull").map((request) => Object.fromEntries(request.url.searchParams));
    expect(pages).toEqual([
      { after_bundle_seq: "0", max_bundles: "1" },
      { after_bundle_seq: "1", max_bundles: "1", target_bundle_seq: "3" },
      { after_bundle_seq: "2", max_bundles: "1", target_bundle_seq: "3" },
    ]);
    expect(await reader.count("users")).toBe(3);
  });

  it("PL-02 three devices push without pulling, then all pull and converge", async () => {
    const user = await newUser(server, "pl02");
    const trio = [await attached(user), await attached(user), await attached(user)];
    for (const [index, device] of trio.entries()) {
      await device.insertUser(`Device ${index + 1}`);
      await device.client.pushPending();
    }
    for (const device of trio) {
      expect(await device.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 3 } });
      expect(await device.names()).toEqual(["Device 1", "Device 2", "Device 3"]);
      expect(await device.dirtyRows()).toEqual([]);
    }
  });

  it("PL-03 (deliberate difference) dirty rows do not block a pull here: it applies and keeps the queued change", async () => {
    // Go and KMP refuse the pull (DirtyStateRejected); ours never drops an app write and pulls
    // around it (packages/client/src/engine/README.md, "Choices where the references differ").
    const user = await newUser(server, "pl03");
    const a = await attached(user);
    const shared = await a.insertUser("Shared");
    await a.client.pushPending();
    const b = await attached(user);
    await b.renameUser(shared, "Edited on B");
    await a.insertUser("New on A");
    await a.client.pushPending();
    expect(await b.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 2 } });
    expect(await b.names()).toEqual(["Edited on B", "New on A"]);
    expect(await b.dirtyRows()).toMatchObject([{ op: "UPDATE" }]);
  });

  it("PL-04 a frozen outbox blocks a pull before any pull request; rebuild() pushes it first", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pl04");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Frozen");
    await failRequests(server, user, { endpoint: "push_session_create", status: 503 });
    await expect(device.client.pushPending()).rejects.toMatchObject({ status: 503 });
    device.net.clear();
    await expect(device.client.pullToStable()).rejects.toMatchObject({
      code: "pending_push_replay",
      outboxRowCount: 1n,
    });
    expect(device.net.count("pull")).toBe(0);
    expect(await device.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await device.outbox()).toMatchObject({ state: "none", rows: 0 });
    expect(await device.names()).toEqual(["Frozen"]);
  });

  it("PL-05 a bundle that fails to apply leaves the checkpoint at the last whole bundle", async () => {
    for (const [label, names, expectedSeq, expectedNames] of [
      ["pl05-first", ["Broken"], 0, []],
      ["pl05-second", ["User 1", "Broken"], 1, ["User 1"]],
    ] as const) {
      const user = await newUser(server, label);
      const writer = await attached(user);
      const reader = await attached(user, { setupSql: refuseUserNamed("Broken"), retry: "none" });
      for (const name of names) {
        await writer.insertUser(name);
        await writer.client.pushPending();
      }
      await expect(reader.client.pullToStable()).rejects.toThrow(/refused Broken/);
      expect(await reader.client.lastBundleSeqSeen()).toBe(expectedSeq);
      expect(await reader.names()).toEqual(expectedNames);
    }
  });

  it("PL-06 malformed or inconsistent pull answers are refused and apply nothing more", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pl06");
    const writer = await attached(user);
    const reader = await attached(user, { downloadLimit: 1, retry: "none" });
    await pushUsers(writer, "User", 2);

    await failRequests(server, user, { endpoint: "pull", status: 200, body: "{not json" });
    await expect(reader.client.pullToStable()).rejects.toMatchObject({ code: "invalid_response" });
    await failRequests(server, user, {
      endpoint: "pull",
      status: 200,
      body: { bundles: [], has_more: false },
    });
    await expect(reader.client.pullToStable()).rejects.toThrow(/stable_bundle_seq/);
    expect(await reader.count("users")).toBe(0);

    // The first page is real (bundle 1 of ceiling 2); the second changes the ceiling.
    await failRequests(server, user, {
      endpoint: "pull",
      skip: 1,
      status: 200,
      body: { stable_bundle_seq: 3, bundles: [], has_more: false },
    });
    await expect(reader.client.pullToStable()).rejects.toThrow(/stable bundle seq changed/);
    expect(await reader.client.lastBundleSeqSeen()).toBe(1);
    await failRequests(server, user, {
      endpoint: "pull",
      status: 200,
      body: { stable_bundle_seq: 2, bundles: [], has_more: false },
    });
    await expect(reader.client.pullToStable()).rejects.toThrow(/short of stable_bundle_seq/);
    expect(await reader.client.lastBundleSeqSeen()).toBe(1);
    expect(await reader.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 2 } });
  });

  it("PL-07 a pull whose connection is cut fails; the next pull succeeds", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pl07");
    const writer = await attached(user);
    const reader = await attached(user, { retry: "none" });
    await pushUsers(writer, "User", 2);
    await failRequests(server, user, { endpoint: "pull", disconnect: true });
    await expect(reader.client.pullToStable()).rejects.toMatchObject({ code: "network_error" });
    expect(await reader.client.pullToStable()).toMatchObject({ outcome: "applied_incremental" });
    expect(await reader.count("users")).toBe(2);
  });

  it("PL-08 PR-02 pull outcomes: nothing new, new bundles, and a snapshot once history below the checkpoint is pruned", async () => {
    // (Go's skipped_paused has no counterpart: this client has no pause switch.)
    const user = await newUser(server, "pl08");
    const writer = await attached(user);
    const reader = await attached(user);
    expect((await reader.client.pullToStable()).outcome).toBe("already_at_target");
    await pushUsers(writer, "User", 2);
    expect((await reader.client.pullToStable()).outcome).toBe("applied_incremental");
    await pushUsers(writer, "Later", 1);
    await setRetainedFloor(server, user, 3);
    expect(await reader.client.pullToStable()).toMatchObject({
      outcome: "applied_snapshot",
      restore: { bundleSeq: 3, rowCount: 3 },
      syncStatus: { lastBundleSeqSeen: 3 },
    });
    expect(await reader.count("users")).toBe(3);
  });

  it("PL-09 server-originated writes reach clients through the normal pull, in their own scope only", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pl09");
    const stranger = await newUser(server, "pl09-other");
    const id = randomUUID();
    const first = await serverWrite(server, user, [
      {
        sql: "INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ($1, $2, 'Server', 's@x')",
        params: [user.id, id],
      },
    ]);
    expect(first).toMatchObject({ auto_initialized: true, bundle: { source_bundle_id: 1 } });
    const device = await devices.open(user);
    expect(await device.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    const [row] = await device.query<{ name: string; email: string; created_at: string }>(
      "SELECT name, email, created_at FROM users",
    );
    expect(row).toMatchObject({ name: "Server", email: "s@x" });
    expect(row!.created_at).not.toBe("");

    const second = await serverWrite(server, user, [
      {
        sql: "UPDATE business.users SET name = 'Server v2' WHERE _sync_scope_id = $1 AND id = $2",
        params: [user.id, id],
      },
    ]);
    expect(second).toMatchObject({ auto_initialized: false, bundle: { source_bundle_id: 2 } });
    const post = randomUUID();
    const third = await serverWrite(
      server,
      user,
      [
        {
          sql: "INSERT INTO business.posts (id, title, content, author_id) VALUES ($1, 'From server', 'body', $2)",
          params: [post, id],
        },
      ],
      { writerId: "server-exact-tuple", sourceBundleId: 1 },
    );
    const failed = await serverSql(server, user, [
      {
        sql: "INSERT INTO business.users (id, name, email) VALUES ($1, 'Never', 'n@x')",
        params: [randomUUID()],
      },
      {
        sql: "INSERT INTO business.posts (id, title, content, author_id) VALUES ($1, 't', 'c', $2)",
        params: [randomUUID(), randomUUID()],
      },
    ]);
    expect(failed.status).toBe(400);
    expect(await device.client.pullToStable()).toMatchObject({
      syncStatus: { lastBundleSeqSeen: third.bundle!.bundle_seq },
    });
    expect(await device.names()).toEqual(["Server v2"]);
    expect(await device.query("SELECT title, author_id FROM posts")).toEqual([
      { title: "From server", author_id: id },
    ]);
    expect(await device.count("users")).toBe(1);

    const other = await attached(stranger);
    expect(await other.count("users")).toBe(0);
  });

  it("SN-01 SN-13 a fresh device hydrates an FK-connected graph in several snapshot chunks", async () => {
    const user = await newUser(server, "sn01");
    const writer = await attached(user);
    for (let u = 1; u <= 3; u++) {
      const author = await writer.insertUser(`Author ${u}`);
      for (let p = 1; p <= 10; p++) await writer.insertPost(author, `Post ${u}.${p}`);
    }
    await writer.client.pushPending();
    const hydrated = await devices.open(user, { snapshotChunkRows: 10 });
    expect(await hydrated.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(hydrated.net.count("snapshot_create")).toBe(1);
    expect(hydrated.net.count("snapshot_chunk")).toBeGreaterThan(1);
    expect(await hydrated.count("users")).toBe(3);
    expect(await hydrated.count("posts")).toBe(30);
    expect(await hydrated.isClean()).toBe(true);

    const rebuilt = await attached(user, { snapshotChunkRows: 10 });
    rebuilt.net.clear();
    expect(await rebuilt.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(rebuilt.net.count("snapshot_chunk")).toBeGreaterThan(1);
    expect(await rebuilt.count("posts")).toBe(30);
  });

  it("SN-02 an interrupted rebuild keeps its stage; the retry clears it and starts a new session", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "sn02");
    const writer = await attached(user);
    const reader = await attached(user, { snapshotChunkRows: 1, retry: "none" });
    for (const name of ["One", "Two", "Three"]) await writer.insertUser(name);
    await writer.client.pushPending();
    await failRequests(server, user, { endpoint: "snapshot_chunk", skip: 1, disconnect: true });
    await expect(reader.client.rebuild()).rejects.toMatchObject({ code: "network_error" });
    expect(await reader.stageRows()).toBeGreaterThan(0);
    expect(await reader.count("users")).toBe(0);
    reader.net.clear();
    expect(await reader.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(reader.net.count("snapshot_create")).toBe(1);
    expect(reader.net.count("snapshot_chunk")).toBeGreaterThan(1);
    expect(await reader.stageRows()).toBe(0);
    expect(await reader.count("users")).toBe(3);
  });

  it("SN-03 SN-04 SN-10 a keep-source rebuild stages invisibly, then replaces local rows and keeps the source's sequence", async () => {
    const user = await newUser(server, "sn03");
    const a = await attached(user);
    const stale = await a.insertUser("Stale");
    await a.client.pushPending();
    const b = await attached(user, { snapshotChunkRows: 1 });
    const own = await b.insertUser("Own");
    await b.client.pushPending();
    await b.insertPost(own, "Own post");
    await b.client.pushPending();
    const source = (await b.client.sourceInfo()).currentSourceId;
    expect(await b.nextSourceBundleId()).toBe(3);
    await a.client.pullToStable();
    await a.run("DELETE FROM users WHERE id = ?", [stale]);
    const author = await a.insertUser("Author");
    await a.insertPost(author, "Post");
    await a.client.pushPending();

    let seen: { stage: number; names: string[] } | undefined;
    b.net.clear();
    b.net.before = async (request) => {
      if (
        request.endpoint === "snapshot_chunk" &&
        request.url.searchParams.get("after_row_ordinal") === "1"
      ) {
        seen = { stage: await b.stageRows(), names: await b.names() };
      }
    };
    expect(await b.client.rebuild()).toMatchObject({
      outcome: "applied_snapshot",
      restore: { bundleSeq: 4 },
    });
    expect(seen).toEqual({ stage: 1, names: ["Own", "Stale"] });
    expect(b.net.to("snapshot_chunk")[0]!.url.searchParams.get("max_rows")).toBe("1");
    expect(b.net.count("snapshot_delete")).toBe(1);
    expect(await b.names()).toEqual(["Author", "Own"]);
    expect(await b.count("posts")).toBe(2);
    expect(await b.client.sourceInfo()).toMatchObject({ currentSourceId: source, rebuildRequired: false });
    expect(await b.nextSourceBundleId()).toBe(3);
    expect(await b.client.lastBundleSeqSeen()).toBe(4);
    expect(await b.isClean()).toBe(true);
  });

  it("SN-04 a one-chunk snapshot is staged in full before anything is applied", async () => {
    const user = await newUser(server, "sn04");
    const writer = await attached(user);
    const reader = await attached(user);
    for (const name of ["One", "Two"]) await writer.insertUser(name);
    await writer.client.pushPending();
    let seen: { stage: number; users: number } | undefined;
    reader.net.clear();
    reader.net.before = async (request) => {
      if (request.endpoint === "snapshot_delete")
        seen = { stage: await reader.stageRows(), users: await reader.count("users") };
    };
    await reader.client.rebuild();
    expect(reader.net.count("snapshot_chunk")).toBe(1);
    expect(seen).toEqual({ stage: 2, users: 0 });
    expect(await reader.count("users")).toBe(2);
  });

  it("SN-05 malformed snapshot answers fail closed and leave local rows as they were", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "sn05");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Local");
    await device.client.pushPending();
    await failRequests(server, user, { endpoint: "snapshot_chunk", status: 200, body: "[not json" });
    await expect(device.client.rebuild()).rejects.toMatchObject({ code: "invalid_snapshot_chunk" });
    await failRequests(server, user, {
      endpoint: "snapshot_create",
      status: 200,
      body: { snapshot_id: randomUUID(), row_count: 1, byte_count: 10, expires_at: "2030-01-01T00:00:00Z" },
    });
    await expect(device.client.rebuild()).rejects.toThrow(/snapshot_bundle_seq/);
    expect(await device.names()).toEqual(["Local"]);
    expect(await device.client.lastBundleSeqSeen()).toBe(1);
  });

  it("SN-06 a snapshot whose final apply fails changes neither rows, checkpoint nor source", async () => {
    const user = await newUser(server, "sn06");
    const writer = await attached(user);
    const reader = await attached(user, { setupSql: refuseUserNamed("Broken"), retry: "none" });
    await reader.insertUser("Mine");
    await reader.client.pushPending();
    await writer.insertUser("Broken");
    await writer.client.pushPending();
    const before = await reader.client.sourceInfo();
    await expect(reader.client.rebuild()).rejects.toThrow(/refused Broken/);
    expect(await reader.stageRows()).toBeGreaterThan(0);
    expect(await reader.names()).toEqual(["Mine"]);
    expect(await reader.client.lastBundleSeqSeen()).toBe(1);
    expect((await reader.client.sourceInfo()).currentSourceId).toBe(before.currentSourceId);
  });

  it("SN-07 a snapshot session lost mid-download (404 or 410) is replaced and the rebuild completes", async (context) => {
    requireHooks(server, context);
    for (const [code, status] of [
      ["snapshot_session_not_found", 404],
      ["snapshot_session_expired", 410],
    ] as const) {
      const user = await newUser(server, `sn07-${status}`);
      const writer = await attached(user);
      const reader = await attached(user, { snapshotChunkRows: 1 });
      for (const name of ["One", "Two", "Three"]) await writer.insertUser(name);
      await writer.client.pushPending();
      await failRequests(server, user, {
        endpoint: "snapshot_chunk",
        skip: 1,
        status,
        body: { error: code, message: "lost" },
      });
      reader.net.clear();
      expect(await reader.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
      expect(reader.net.count("snapshot_create")).toBe(2);
      expect(await reader.count("users")).toBe(3);
    }
  });

  it("SN-08 FK-03 self-references and cycles split across one-row chunks restore intact", async () => {
    const user = await newUser(server, "sn08");
    const writer = await attached(user);
    const [root, middle, leaf] = [randomUUID(), randomUUID(), randomUUID()];
    const [team, captain, member] = [randomUUID(), randomUUID(), randomUUID()];
    await writer.driver.transaction(async (tx) => {
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Leaf', ?)", [leaf, middle]);
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Middle', ?)", [middle, root]);
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Root', NULL)", [root]);
      await tx.run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, 'Team', ?)", [team, captain]);
      await tx.run("INSERT INTO team_members (id, name, team_id) VALUES (?, 'Captain', ?)", [captain, team]);
      await tx.run("INSERT INTO team_members (id, name, team_id) VALUES (?, 'Member', ?)", [member, team]);
    });
    await writer.client.pushPending();
    const puller = await attached(user);
    const hydrated = await devices.open(user, { snapshotChunkRows: 1 });
    await hydrated.client.attach(user.id);
    await puller.client.pullToStable();
    for (const device of [puller, hydrated]) {
      expect(await device.query("SELECT id, parent_id FROM categories ORDER BY name")).toEqual([
        { id: leaf, parent_id: middle },
        { id: middle, parent_id: root },
        { id: root, parent_id: null },
      ]);
      expect(await device.query("SELECT captain_member_id FROM teams")).toEqual([
        { captain_member_id: captain },
      ]);
      expect(await device.count("team_members", "team_id = ?", [team])).toBe(2);
      expect(await device.isClean()).toBe(true);
    }
  });

  it("SN-11 SN-15 SN-16 a set rebuild gate (or a checkpoint ahead of the server) is recovered from a snapshot", async () => {
    const user = await newUser(server, "sn11");
    const writer = await attached(user);
    const device = await attached(user);
    await pushUsers(writer, "User", 2);
    await device.client.pullToStable();
    const source = (await device.client.sourceInfo()).currentSourceId;

    await device.run("UPDATE _sync_attachment_state SET rebuild_required = 1");
    expect(await device.client.sourceInfo()).toMatchObject({
      rebuildRequired: true,
      sourceRecoveryRequired: false,
    });
    device.net.clear();
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "rebuild_required" });
    expect(device.net.count("push_session_create")).toBe(0);
    expect(await device.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await device.client.sourceInfo()).toMatchObject({
      currentSourceId: source,
      rebuildRequired: false,
    });
    expect((await device.client.sync()).remoteOutcome).toBe("already_at_target");

    // KMP policy: pull and sync recover by themselves, pushing pending work first.
    await device.run("UPDATE _sync_attachment_state SET rebuild_required = 1");
    await device.insertUser("Pending during recovery");
    expect(await device.client.sync()).toMatchObject({ remoteOutcome: "applied_snapshot" });
    expect(await device.client.sourceInfo()).toMatchObject({ rebuildRequired: false });
    expect(await device.dirtyRows()).toEqual([]);
    expect(await device.count("users")).toBe(3);

    await device.run("UPDATE _sync_attachment_state SET last_bundle_seq_seen = 99");
    expect(await device.client.pullToStable()).toMatchObject({
      outcome: "applied_snapshot",
      syncStatus: { lastBundleSeqSeen: 3 },
    });
    expect((await device.attachment()).rebuildRequired).toBe(false);
  });

  it("SN-16 checkpoint recovery whose push is refused stops with a typed error and keeps the work", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "sn16");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Synced");
    await device.client.pushPending();
    await device.run("UPDATE _sync_attachment_state SET rebuild_required = 1");
    await device.insertUser("Pending");
    await failRequests(server, user, {
      endpoint: "push_session_commit",
      status: 409,
      body: { error: "push_conflict", message: "a conflict without its details" },
    });
    await expect(device.client.pullToStable()).rejects.toMatchObject({
      code: "checkpoint_recovery_blocked",
      reason: "push_failed",
    });
    expect(await device.pendingRows()).toBe(1);
    expect(await device.names()).toEqual(["Pending", "Synced"]);
    expect(await device.client.pullToStable()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await device.pendingRows()).toBe(0);
  });

  it("SN-12 SN-14 a manual rebuild restores rows wiped without capture, keeps the source and syncs on", async () => {
    const user = await newUser(server, "sn12");
    const writer = await attached(user);
    await pushUsers(writer, "User", 3);
    const device = await attached(user);
    const source = (await device.client.sourceInfo()).currentSourceId;
    // Rows removed the way a sync apply removes them: with capture suspended.
    await device.run("UPDATE _sync_apply_state SET apply_mode = 1");
    await device.run("DELETE FROM users");
    await device.run("UPDATE _sync_apply_state SET apply_mode = 0");
    expect(await device.dirtyRows()).toEqual([]);
    expect(await device.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await device.count("users")).toBe(3);
    expect((await device.client.sourceInfo()).currentSourceId).toBe(source);

    const author = await device.insertUser("Follow-up");
    await device.insertPost(author, "Follow-up post");
    await device.client.pushPending();
    await writer.client.pullToStable();
    expect(await writer.count("users")).toBe(4);
    expect(await writer.count("posts")).toBe(1);
  });
});
