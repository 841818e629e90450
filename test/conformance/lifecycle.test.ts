/**
 * Live conformance, catalog group A (lifecycle): open, attach, detach, scope initialization,
 * syncThenDetach, uninstall and the simulator's app flows, our client against a live server. Where
 * our client follows KMP/Dart policy rather than the Go client's (a detach rotates the source; the
 * capability gate runs before a network operation) the test says so.
 */
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { EXAMPLE_CLIENT_CONFIG } from "@oversync/cli";
import { type PushRow, canonicalRequestHash } from "@oversync/protocol";
import { expect, it } from "vitest";
import { type Device, FAST_RETRY, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import {
  type LiveUser,
  failRequests,
  moveInitializationLease,
  newUser,
  rawSync,
  requireHooks,
} from "./server-calls.js";

describeLive("live conformance: lifecycle", (server) => {
  const devices = useDevices(server);

  /** A device of `user` attached to it (the scope is created empty when it is new). */
  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** A fresh device that restores `user`'s data: what the server holds, seen from outside. */
  async function verifier(user: LiveUser): Promise<Device> {
    const device = await devices.open(user);
    const result = await device.client.attach(user.id);
    expect(result.status).toBe("connected");
    return device;
  }

  it("LC-01 LC-02 attach before open(), and sync calls before attach(), fail typed without a request", async () => {
    const user = await newUser(server, "lc01");
    const device = await devices.open(user, { open: false });
    await expect(device.client.attach(user.id)).rejects.toMatchObject({ code: "open_required" });
    await device.client.open();
    const calls = [
      () => device.client.pushPending(),
      () => device.client.pullToStable(),
      () => device.client.sync(),
      () => device.client.rebuild(),
      () => device.client.lastBundleSeqSeen(),
    ];
    for (const call of calls) await expect(call()).rejects.toMatchObject({ code: "attach_required" });
    expect(device.net.sent).toEqual([]);
    expect(await device.attachment()).toMatchObject({ bindingState: "anonymous", attachedUserId: "" });
  });

  it("LC-03 LC-04 a fresh scope starts empty; more devices restore it from the server", async () => {
    const user = await newUser(server, "lc03");
    const a = await devices.open(user);
    expect(await a.client.attach(user.id)).toMatchObject({
      status: "connected",
      outcome: "started_empty",
      syncStatus: { authority: "authoritative_empty" },
    });
    const ada = await a.insertUser("Ada");
    await a.insertPost(ada, "Notes");
    expect((await a.client.pushPending()).outcome).toBe("committed");

    for (const label of ["B", "C"]) {
      const device = await devices.open(user);
      expect(await device.client.attach(user.id), label).toMatchObject({
        status: "connected",
        outcome: "used_remote_state",
        restore: { bundleSeq: 1, rowCount: 2 },
        syncStatus: { authority: "authoritative_materialized" },
      });
      expect(await device.names()).toEqual(["Ada"]);
      expect(await device.count("posts")).toBe(1);
      expect(await device.client.lastBundleSeqSeen()).toBe(1);
      expect((await device.client.pendingSyncStatus()).hasPendingSyncData).toBe(false);
    }
    expect(await a.client.lastBundleSeqSeen()).toBe(1);
    expect((await a.client.pendingSyncStatus()).hasPendingSyncData).toBe(false);
  });

  it("LC-05 LC-06 restoring an account's state replaces anonymous local rows, even when it holds no rows", async () => {
    const user = await newUser(server, "lc05");
    const a = await attached(user);
    await a.insertUser("Remote");
    await a.client.pushPending();
    const b = await devices.open(user);
    await b.insertUser("Local");
    expect(await b.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await b.names()).toEqual(["Remote"]);
    expect(await b.isClean()).toBe(true);

    const emptied = await newUser(server, "lc06");
    const c = await attached(emptied);
    const gone = await c.insertUser("Deleted later");
    await c.client.pushPending();
    await c.run("DELETE FROM users WHERE id = ?", [gone]);
    await c.client.pushPending();
    const d = await devices.open(emptied);
    await d.insertUser("Local");
    expect(await d.client.attach(emptied.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await d.count("users")).toBe(0);
  });

  it("LC-07 LC-12 local rows seed a new scope; the seed lease holds other devices off until pushed", async () => {
    const user = await newUser(server, "lc07");
    const a = await devices.open(user);
    await a.insertUser("Seed");
    expect(await a.client.attach(user.id)).toMatchObject({
      outcome: "seeded_from_local",
      syncStatus: { authority: "pending_local_seed" },
    });
    expect(await a.client.pendingSyncStatus()).toMatchObject({
      hasPendingSyncData: true,
      pendingRowCount: 1,
      blocksDetach: true,
    });
    expect(await a.client.detach()).toEqual({ outcome: "blocked_unsynced_data", pendingRowCount: 1 });

    const b = await devices.open(user);
    const waiting = await b.client.attach(user.id);
    expect(waiting.status).toBe("retry_later");
    expect(waiting.status === "retry_later" && waiting.retryAfterSeconds).toBeGreaterThan(0);

    expect((await a.client.pushPending()).outcome).toBe("committed");
    expect(await b.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await b.names()).toEqual(["Seed"]);
    expect((await a.client.detach()).outcome).toBe("detached");
    const freshInstall = await devices.open(user);
    expect(await freshInstall.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await freshInstall.names()).toEqual(["Seed"]);
  });

  it("LC-08 LC-28 LC-34 a first launch is anonymous with a durable source; the same user resumes offline", async () => {
    const user = await newUser(server, "lc08");
    const first = await devices.open(user);
    const source = (await first.client.sourceInfo()).currentSourceId;
    expect(source).not.toBe("");
    expect(await first.attachment()).toMatchObject({ bindingState: "anonymous", currentSourceId: source });
    expect(await first.count("users")).toBe(0);
    expect(first.net.sent).toEqual([]);
    // close() releases the database, so the restarted app can take it over.
    const restarted = await first.restart();
    expect((await restarted.client.sourceInfo()).currentSourceId).toBe(source);
    expect(await restarted.client.attach(user.id)).toMatchObject({ outcome: "started_empty" });

    const offline = await restarted.restart();
    offline.net.offline = true;
    expect(await offline.client.attach(user.id)).toMatchObject({
      status: "connected",
      outcome: "resumed_attached_state",
    });
    expect(offline.net.sent).toEqual([]);
    expect((await offline.client.sourceInfo()).currentSourceId).toBe(source);

    const freshOffline = await devices.open(user);
    freshOffline.net.offline = true;
    await expect(freshOffline.client.attach(user.id)).rejects.toMatchObject({
      code: "transient_retry_exhausted",
      cause: { code: "network_error" },
    });
  });

  it("LC-37 one client owns a database file; the configured schema is recorded and must not change", async () => {
    const user = await newUser(server, "lc37");
    const owner = await devices.open(user);
    await owner.insertUser("Before attach");
    // Rows present at open() are captured, but an anonymous database's rows never block a detach.
    expect(await owner.client.pendingSyncStatus()).toMatchObject({
      pendingRowCount: 1,
      blocksDetach: false,
    });
    const second = await devices.open(user, { file: owner.file, open: false });
    await expect(second.client.open()).rejects.toMatchObject({ code: "database_already_owned" });
    await second.close();
    await owner.client.attach(user.id);
    expect((await owner.query("SELECT schema_name FROM _sync_attachment_state"))[0]).toEqual({
      schema_name: "business",
    });
    const reopened = await owner.restart();
    await reopened.close();
    const otherSchema = await devices.open(user, {
      file: owner.file,
      open: false,
      config: { ...EXAMPLE_CLIENT_CONFIG, schema: "inventory" },
    });
    await expect(otherSchema.client.open()).rejects.toMatchObject({ code: "config_invalid" });
  });

  it("LC-09 a detach is refused while dirty rows, a prepared outbox or a committed outbox wait", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "lc09");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Dirty");
    expect(await device.client.detach()).toEqual({ outcome: "blocked_unsynced_data", pendingRowCount: 1 });

    await failRequests(server, user, { endpoint: "push_session_create", status: 503 });
    await expect(device.client.pushPending()).rejects.toMatchObject({ status: 503 });
    expect((await device.outbox()).state).toBe("prepared");
    expect(await device.client.detach()).toEqual({ outcome: "blocked_unsynced_data", pendingRowCount: 1 });

    await failRequests(server, user, { endpoint: "committed_bundle_rows", status: 503 });
    await expect(device.client.pushPending()).rejects.toMatchObject({ status: 503 });
    expect((await device.outbox()).state).toBe("committed_remote");
    expect(await device.client.detach()).toEqual({ outcome: "blocked_unsynced_data", pendingRowCount: 1 });
    expect(await device.attachment()).toMatchObject({ bindingState: "attached", attachedUserId: user.id });

    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect((await device.client.detach()).outcome).toBe("detached");
  });

  it("LC-10 an attach that cannot reach the server leaves the anonymous state; a retry seeds", async () => {
    const user = await newUser(server, "lc10");
    const device = await devices.open(user);
    await device.insertUser("Offline");
    device.net.offline = true;
    await expect(device.client.attach(user.id)).rejects.toMatchObject({
      code: "transient_retry_exhausted",
      cause: { code: "network_error" },
    });
    expect(await device.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: true,
      pendingRowCount: 1,
      rejectedRowCount: 0,
      blocksDetach: false,
    });
    expect(await device.attachment()).toMatchObject({ bindingState: "anonymous" });
    expect((await device.operation()).kind).toBe("none");
    expect(await device.dirtyRows()).toHaveLength(1);
    device.net.offline = false;
    expect(await device.client.attach(user.id)).toMatchObject({ outcome: "seeded_from_local" });
  });

  it("LC-11 a retry_later answer surfaces its retry_after_seconds; the next attach starts empty", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "lc11");
    // The Go harness's "empty-first deferral": connect answers retry_later once.
    await failRequests(server, user, {
      endpoint: "connect",
      status: 200,
      body: { resolution: "retry_later", retry_after_seconds: 1 },
    });
    const device = await devices.open(user);
    expect(await device.client.attach(user.id)).toEqual({ status: "retry_later", retryAfterSeconds: 1 });
    expect(await device.attachment()).toMatchObject({ bindingState: "anonymous" });
    expect(await device.client.attach(user.id)).toMatchObject({ outcome: "started_empty" });
  });

  it("LC-13 LC-14 two first initializers race: one seeds, the other retries and then restores the winner's data", async () => {
    const user = await newUser(server, "lc13");
    const a = await devices.open(user);
    const b = await devices.open(user);
    await a.insertUser("From A");
    await b.insertUser("From B");
    const results = await Promise.all([a.client.attach(user.id), b.client.attach(user.id)]);
    const outcomes = results.map((result) =>
      result.status === "connected" ? result.outcome : result.status,
    );
    expect([...outcomes].sort()).toEqual(["retry_later", "seeded_from_local"]);

    const [winner, loser] = outcomes[0] === "seeded_from_local" ? [a, b] : [b, a];
    await winner.client.pushPending();
    expect(await loser.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await loser.names()).toEqual(await winner.names());
    expect(await loser.count("users")).toBe(1);
    expect(await (await verifier(user)).count("users")).toBe(1);
  });

  it("LC-15 LC-16 an expired seed lease refuses the seed push; the device attaches again and still delivers it", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "lc15");
    const seeder = await devices.open(user);
    await seeder.insertUser("Seed");
    expect(await seeder.client.attach(user.id)).toMatchObject({ outcome: "seeded_from_local" });
    expect((await seeder.attachment()).pendingInitializationId).not.toBe("");
    await moveInitializationLease(server, user, 0);

    const refused = await seeder.client.pushPending().catch((error: unknown) => error);
    expect(refused).toMatchObject({
      code: "initialization_lease_invalid",
      cause: { code: "initialization_expired" },
    });
    expect(await seeder.attachment()).toMatchObject({
      bindingState: "anonymous",
      pendingInitializationId: "",
    });
    expect((await seeder.outbox()).rows).toBe(1);

    // The frozen outbox counts as pending rows, so this client asks to seed again (the Go client,
    // which does not count the outbox, starts empty); either way the seed is delivered.
    expect(await seeder.client.attach(user.id)).toMatchObject({ outcome: "seeded_from_local" });
    expect((await seeder.client.pushPending()).outcome).toBe("committed");
    const peer = await devices.open(user);
    expect(await peer.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await peer.names()).toEqual(["Seed"]);
  });

  it("LC-17 LC-18 LC-20 raw connect: a same-source reconnect refreshes the lease, finishes empty without rows; push and snapshot need a connect", async () => {
    const user = await newUser(server, "lc17");
    const source = `raw-${randomUUID()}`;
    for (const [method, path] of [
      ["POST", "/sync/push-sessions"],
      ["POST", "/sync/snapshot-sessions"],
    ] as const) {
      const body =
        path === "/sync/push-sessions"
          ? { source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: "0".repeat(64) }
          : {};
      const early = await rawSync(server, user, source, method, path, body);
      expect({ path, status: early.status, body: early.body }).toMatchObject({
        status: 409,
        body: { error: "scope_uninitialized" },
      });
    }

    const first = await rawSync(server, user, source, "POST", "/sync/connect", {
      has_local_pending_rows: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await rawSync(server, user, source, "POST", "/sync/connect", {
      has_local_pending_rows: true,
    });
    const [lease1, lease2] = [first.body, again.body] as {
      initialization_id: string;
      lease_expires_at: string;
    }[];
    expect(first.body).toMatchObject({ resolution: "initialize_local" });
    expect(again.body).toMatchObject({
      resolution: "initialize_local",
      initialization_id: lease1!.initialization_id,
    });
    expect(Date.parse(lease2!.lease_expires_at)).toBeGreaterThan(Date.parse(lease1!.lease_expires_at));
    const other = await rawSync(server, user, `${source}-b`, "POST", "/sync/connect", {
      has_local_pending_rows: true,
    });
    expect(other.body).toMatchObject({ resolution: "retry_later" });

    const empty = await rawSync(server, user, source, "POST", "/sync/connect", {
      has_local_pending_rows: false,
    });
    expect(empty.body).toMatchObject({ resolution: "initialize_empty" });
    expect((empty.body as { initialization_id?: string }).initialization_id ?? "").toBe("");
    const snapshot = await rawSync(server, user, source, "POST", "/sync/snapshot-sessions", {});
    expect(snapshot).toMatchObject({ status: 200, body: { row_count: 0 } });
    const peer = await rawSync(server, user, `${source}-b`, "POST", "/sync/connect", {
      has_local_pending_rows: true,
    });
    expect(peer.body).toMatchObject({ resolution: "remote_authoritative" });
  });

  it("LC-19 raw: an initializer that dies before its commit leaks nothing; a later initializer wins", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "lc19");
    const [deviceA, deviceB] = [`raw-a-${randomUUID()}`, `raw-b-${randomUUID()}`];
    const row = (name: string): PushRow => {
      const id = randomUUID();
      return {
        schema: "business",
        table: "users",
        key: { id },
        op: "INSERT",
        base_row_version: 0,
        payload: {
          id,
          name,
          email: `${name}@example.com`,
          created_at: "2026-03-24T18:42:11Z",
          updated_at: "2026-03-24T18:42:11Z",
        },
      };
    };
    const stage = async (source: string, rows: PushRow[], commit: boolean) => {
      const connect = await rawSync(server, user, source, "POST", "/sync/connect", {
        has_local_pending_rows: true,
      });
      expect(connect.body).toMatchObject({ resolution: "initialize_local" });
      const created = await rawSync(server, user, source, "POST", "/sync/push-sessions", {
        source_bundle_id: 1,
        planned_row_count: rows.length,
        canonical_request_hash: canonicalRequestHash(rows),
        initialization_id: (connect.body as { initialization_id: string }).initialization_id,
      });
      expect(created.status).toBe(200);
      const pushId = (created.body as { push_id: string }).push_id;
      const chunk = await rawSync(server, user, source, "POST", `/sync/push-sessions/${pushId}/chunks`, {
        start_row_ordinal: 0,
        rows,
      });
      expect(chunk.status).toBe(200);
      if (commit) {
        const committed = await rawSync(server, user, source, "POST", `/sync/push-sessions/${pushId}/commit`);
        expect(committed.status).toBe(200);
      }
    };
    const lost = row("Crashed initializer");
    await stage(deviceA, [lost], false);
    // The lease runs out while A is gone (the Go test sleeps past a 200 ms lease).
    await moveInitializationLease(server, user, 0);
    const won = row("Later initializer");
    await stage(deviceB, [won], true);

    const pulled = await rawSync(server, user, deviceB, "GET", "/sync/pull?after_bundle_seq=0");
    const keys = (pulled.body as { bundles: { rows: { key: { id: string } }[] }[] }).bundles.flatMap(
      (bundle) => bundle.rows.map((r) => r.key.id),
    );
    expect(keys).toEqual([won.key.id]);
    expect(keys).not.toContain(lost.key.id);
  });

  it("LC-21 syncThenDetach flushes, detaches in one round and leaves the data on the server", async () => {
    const user = await newUser(server, "lc21");
    const device = await attached(user);
    const grace = await device.insertUser("Grace");
    await device.insertPost(grace, "Compilers");
    const result = await device.client.syncThenDetach();
    expect(result).toMatchObject({
      isSuccess: true,
      detach: "detached",
      syncRounds: 1,
      remainingPendingRowCount: 0,
    });
    expect(await device.attachment()).toMatchObject({ bindingState: "anonymous", attachedUserId: "" });
    expect(await device.count("users")).toBe(0);
    expect(await device.count("posts")).toBe(0);
    const check = await verifier(user);
    expect(await check.names()).toEqual(["Grace"]);
    expect(await check.count("posts")).toBe(1);
  });

  it("LC-22 syncThenDetach whose pull fails keeps the database attached with the pushed rows", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "lc22");
    const device = await attached(user, { retry: "none" });
    const grace = await device.insertUser("Grace");
    await device.insertPost(grace, "Compilers");
    await failRequests(server, user, {
      endpoint: "pull",
      status: 500,
      body: { error: "pull_failed", message: "injected" },
    });
    await expect(device.client.syncThenDetach()).rejects.toMatchObject({ status: 500 });
    expect(await device.attachment()).toMatchObject({ bindingState: "attached", attachedUserId: user.id });
    expect(await device.names()).toEqual(["Grace"]);
    expect(await device.isClean()).toBe(true);
    expect(await (await verifier(user)).names()).toEqual(["Grace"]);
  });

  it("LC-23 LC-24 syncThenDetach syncs again when writes land during a round, and gives up when they keep coming", async () => {
    const user = await newUser(server, "lc23");
    const device = await attached(user);
    await device.insertUser("First");
    let pulls = 0;
    device.net.after = async (request) => {
      if (request.endpoint !== "pull" || ++pulls > 1) return;
      const late = await device.insertUser("Late");
      await device.insertPost(late, "Late post");
    };
    expect(await device.client.syncThenDetach()).toMatchObject({ isSuccess: true, syncRounds: 2 });
    expect(await (await verifier(user)).names()).toEqual(["First", "Late"]);

    const busy = await newUser(server, "lc24");
    const writer = await attached(busy);
    await writer.insertUser("Start");
    let rounds = 0;
    writer.net.after = async (request) => {
      if (request.endpoint !== "pull" || ++rounds > 2) return;
      const author = await writer.insertUser(`Arrival ${rounds}`);
      await writer.insertPost(author, `Arrival post ${rounds}`);
    };
    expect(await writer.client.syncThenDetach()).toMatchObject({
      isSuccess: false,
      detach: "blocked_unsynced_data",
      syncRounds: 2,
      remainingPendingRowCount: 2,
    });
    writer.net.after = undefined;
    expect(await writer.attachment()).toMatchObject({ bindingState: "attached" });
    const reopened = await writer.restart();
    expect(await reopened.client.attach(busy.id)).toMatchObject({ outcome: "resumed_attached_state" });
    expect((await reopened.client.pendingSyncStatus()).blocksDetach).toBe(true);
  });

  it("LC-25 LC-31 one install alternates users after detaching; each user sees only their own rows", async () => {
    const [userA, userB] = [await newUser(server, "lc25a"), await newUser(server, "lc25b")];
    const install = await attached(userA);
    await install.insertUser("Row of A");
    await install.client.pushPending();
    const sourceA = (await install.client.sourceInfo()).currentSourceId;
    expect((await install.client.detach()).outcome).toBe("detached");
    expect((await install.client.sourceInfo()).currentSourceId).not.toBe(sourceA);

    install.signIn(userB);
    expect(await install.client.attach(userB.id)).toMatchObject({ outcome: "started_empty" });
    expect(await install.count("users")).toBe(0);
    await install.insertUser("Row of B");
    await install.client.pushPending();
    const sourceB = (await install.client.sourceInfo()).currentSourceId;
    expect((await install.client.detach()).outcome).toBe("detached");
    expect((await install.client.sourceInfo()).currentSourceId).not.toBe(sourceB);

    expect(await (await verifier(userA)).names()).toEqual(["Row of A"]);
    expect(await (await verifier(userB)).names()).toEqual(["Row of B"]);
  });

  it("LC-26 after a detach the same user continues on a fresh source whose sequence starts at 1", async () => {
    const user = await newUser(server, "lc26");
    const device = await attached(user);
    await device.insertUser("Before detach");
    await device.client.pushPending();
    const before = (await device.client.sourceInfo()).currentSourceId;
    expect(await device.nextSourceBundleId()).toBe(2);
    await device.client.detach();
    const after = (await device.client.sourceInfo()).currentSourceId;
    expect(after).not.toBe(before);
    expect(await device.nextSourceBundleId()).toBe(1);

    expect(await device.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    await device.insertUser("After detach");
    await device.client.pushPending();
    expect(await device.nextSourceBundleId(after)).toBe(2);
    expect(await (await verifier(user)).names()).toEqual(["After detach", "Before detach"]);
  });

  it("LC-27 writes made while detached are captured once and survive a restart", async () => {
    const user = await newUser(server, "lc27");
    const device = await attached(user);
    await device.client.detach();
    await device.insertUser("Offline");
    const check = async (d: Device) => {
      expect(await d.dirtyRows()).toMatchObject([{ table_name: "users", op: "INSERT" }]);
      expect((await d.query("SELECT apply_mode FROM _sync_apply_state"))[0]).toEqual({ apply_mode: 0n });
      expect((await d.client.pendingSyncStatus()).pendingRowCount).toBe(1);
    };
    await check(device);
    await check(await device.restart());
  });

  it("LC-29 a database reopened over its durable attachment detaches without attaching first", async () => {
    const [user, other] = [await newUser(server, "lc29a"), await newUser(server, "lc29b")];
    const device = await attached(user);
    const reopened = await device.restart();
    expect((await reopened.client.detach()).outcome).toBe("detached");
    reopened.signIn(other);
    expect(await reopened.client.attach(other.id)).toMatchObject({
      status: "connected",
      outcome: "started_empty",
    });
  });

  it("LC-30 uninstallSync removes sync and keeps the rows; a reinstall restores the account", async () => {
    const user = await newUser(server, "lc30");
    const device = await attached(user);
    const kept = await device.insertUser("Kept");
    await device.client.pushPending();
    await device.client.uninstallSync();
    const leftovers = await device.query<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE name LIKE '\\_sync\\_%' ESCAPE '\\' OR name LIKE 'trg\\_%' ESCAPE '\\'",
    );
    expect(leftovers).toEqual([]);
    await expect(device.client.sync()).rejects.toMatchObject({ code: "client_closed" });
    // Without sync the app's tables are plain tables: writes go through and nothing records them.
    await device.run("DELETE FROM users WHERE id = ?", [kept]);
    expect(await device.count("users")).toBe(0);

    const reinstalled = await device.restart();
    expect(await reinstalled.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await reinstalled.names()).toEqual(["Kept"]);
    await reinstalled.insertUser("After reinstall");
    expect(await reinstalled.dirtyRows()).toHaveLength(1);
  });

  it("LC-32 one install alternates users with one-row chunks and several bundles each", async () => {
    const install = await devices.open(await newUser(server, "lc32-setup"), {
      uploadLimit: 1,
      downloadLimit: 1,
      snapshotChunkRows: 2,
    });
    for (const label of ["a", "b"]) {
      const user = await newUser(server, `lc32${label}`);
      install.signIn(user);
      expect(await install.client.attach(user.id)).toMatchObject({ outcome: "started_empty" });
      for (let round = 1; round <= 3; round++) {
        await install.insertUser(`${label} round ${round}`);
        expect((await install.client.pushPending()).outcome).toBe("committed");
      }
      expect(await install.nextSourceBundleId()).toBe(4);
      expect((await install.client.detach()).outcome).toBe("detached");
      const check = await devices.open(user, { snapshotChunkRows: 2 });
      await check.client.attach(user.id);
      expect(await check.names()).toEqual([1, 2, 3].map((round) => `${label} round ${round}`));
    }
  });

  it("LC-33 an install that seeded one user restores another user's state on a fresh source", async () => {
    const [userX, userY] = [await newUser(server, "lc33x"), await newUser(server, "lc33y")];
    const install = await devices.open(userX);
    await install.insertUser("Seed of X");
    expect(await install.client.attach(userX.id)).toMatchObject({ outcome: "seeded_from_local" });
    await install.client.pushPending();
    expect(await install.nextSourceBundleId()).toBe(2);
    await install.client.detach();

    const other = await attached(userY);
    await other.insertUser("Row of Y");
    await other.client.pushPending();

    install.signIn(userY);
    expect(await install.client.attach(userY.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await install.names()).toEqual(["Row of Y"]);
    expect(await install.nextSourceBundleId()).toBe(1);
    await install.insertUser("Follow-up of Y");
    await install.client.pushPending();
    expect(await install.nextSourceBundleId()).toBe(2);
    expect(await (await verifier(userY)).names()).toEqual(["Follow-up of Y", "Row of Y"]);
  });

  it("LC-35 a fully staged remote replacement is finished by attach without downloading again", async () => {
    const user = await newUser(server, "lc35");
    const source = await attached(user);
    await source.insertUser("Remote row");
    await source.client.pushPending();

    // A local-only trigger makes the final apply fail after every chunk was staged: the crash
    // window between staging and applying, without killing the process.
    const block =
      "CREATE TRIGGER block_apply BEFORE INSERT ON users WHEN NEW.name = 'Remote row' BEGIN SELECT RAISE(ABORT, 'apply blocked'); END";
    const device = await devices.open(user, { setupSql: block });
    await expect(device.client.attach(user.id)).rejects.toThrow(/apply blocked/);
    expect(await device.operation()).toMatchObject({ kind: "remote_replace" });
    expect(await device.stageRows()).toBe(1);
    await expect(device.insertUser("Meanwhile")).rejects.toThrow(/SYNC_TRANSITION_PENDING/);
    await expect(device.client.attach("someone-else")).rejects.toMatchObject({
      code: "attach_local_state_conflict",
    });
    await device.run("DROP TRIGGER block_apply");

    device.net.clear();
    expect(await device.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    // The capability check still runs first (the KMP/Dart gate); the snapshot is not fetched again.
    expect(device.net.sent.map((request) => request.endpoint)).toEqual(["capabilities"]);
    expect(await device.names()).toEqual(["Remote row"]);
    expect((await device.operation()).kind).toBe("none");

    // A detach cancels a pending replacement instead: the stage is dropped, the database anonymous.
    const cancelled = await devices.open(user, { setupSql: block });
    await expect(cancelled.client.attach(user.id)).rejects.toThrow(/apply blocked/);
    expect((await cancelled.client.detach()).outcome).toBe("detached");
    expect(await cancelled.operation()).toMatchObject({ kind: "none" });
    expect(await cancelled.stageRows()).toBe(0);
    expect(await cancelled.attachment()).toMatchObject({ bindingState: "anonymous" });
  });

  it("LC-36 attach checks the lifecycle capability and retries only transient connect failures", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "lc36");
    const probe = await rawSync(server, user, "probe", "GET", "/sync/capabilities");
    const capabilities = probe.body as { features: Record<string, boolean> };
    const { connect_lifecycle: _dropped, ...otherFeatures } = capabilities.features;
    await failRequests(server, user, {
      endpoint: "capabilities",
      status: 200,
      body: { ...capabilities, features: otherFeatures },
    });
    const gated = await devices.open(user, { retry: FAST_RETRY });
    await expect(gated.client.attach(user.id)).rejects.toMatchObject({
      code: "attach_lifecycle_unsupported",
    });
    expect(gated.net.count("connect")).toBe(0);

    await failRequests(server, user, { endpoint: "connect", status: 503 });
    const retried = await devices.open(user, { retry: FAST_RETRY });
    expect(await retried.client.attach(user.id)).toMatchObject({ outcome: "started_empty" });
    expect(retried.net.count("connect")).toBe(2);

    const stranger = await devices.open({ id: user.id, token: "not-a-token" }, { retry: FAST_RETRY });
    await expect(stranger.client.attach(user.id)).rejects.toMatchObject({ code: "authentication_failed" });
    expect(stranger.net.sent).toHaveLength(1);

    const other = await newUser(server, "lc36b");
    await failRequests(server, other, { endpoint: "connect", status: 503, count: 3 });
    const exhausted = await devices.open(other, { retry: FAST_RETRY });
    await expect(exhausted.client.attach(other.id)).rejects.toMatchObject({
      code: "transient_retry_exhausted",
      attempts: 3,
    });
    expect(exhausted.net.count("connect")).toBe(3);
    await failRequests(server, other, { endpoint: "connect", status: 503 });
    const once = await devices.open(other, { retry: "none" });
    await expect(once.client.attach(other.id)).rejects.toMatchObject({ status: 503 });
    expect(once.net.count("connect")).toBe(1);
  });

  it("LC-38 simulator fresh install: offline guest data seeds the account at sign-in", async () => {
    const user = await newUser(server, "lc38");
    const phone = await devices.open(user);
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) {
      const id = await phone.insertUser(`Guest ${n}`);
      await phone.insertPost(id, `Guest post ${n}`);
      ids.push(id);
    }
    for (const id of ids.slice(0, 3)) await phone.renameUser(id, `${await phone.userName(id)} (edited)`);
    await phone.run("DELETE FROM posts WHERE author_id = ?", [ids[4]!]);
    await phone.run("DELETE FROM users WHERE id = ?", [ids[4]!]);
    expect(await phone.client.attach(user.id)).toMatchObject({ outcome: "seeded_from_local" });
    expect((await phone.client.pushPending()).outcome).toBe("committed");
    const check = await verifier(user);
    expect(await check.count("users")).toBe(4);
    expect(await check.count("posts")).toBe(4);
    expect(await check.count("users", "name LIKE '% (edited)'")).toBe(3);
  });

  it("LC-39 simulator normal usage: creates, updates and deletes while attached reach the server", async () => {
    const user = await newUser(server, "lc39");
    const phone = await attached(user);
    const ids: string[] = [];
    for (let n = 1; n <= 10; n++) ids.push(await phone.insertUser(`User ${n}`));
    await phone.client.pushPending();
    for (const id of ids.slice(0, 8)) await phone.renameUser(id, `${await phone.userName(id)} v2`);
    for (const id of ids.slice(8)) await phone.run("DELETE FROM users WHERE id = ?", [id]);
    await phone.client.pushPending();
    const check = await verifier(user);
    expect(await check.count("users")).toBe(8);
    expect(await check.count("users", "name LIKE '% v2'")).toBe(8);
  });

  it("LC-40 LC-41 simulator reinstall and device replacement restore the account and keep syncing", async () => {
    const user = await newUser(server, "lc40");
    const original = await attached(user);
    for (const name of ["One", "Two", "Three"]) await original.insertUser(name);
    await original.client.sync();
    await original.close();
    await rm(original.file);

    const reinstalled = await devices.open(user, { file: original.file });
    expect(await reinstalled.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(await reinstalled.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await reinstalled.names()).toEqual(["One", "Three", "Two"]);

    const replacement = await attached(user);
    expect(await replacement.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await replacement.count("users")).toBe(3);
    await replacement.insertUser("Four");
    await replacement.client.pushPending();
    await reinstalled.client.pullToStable();
    expect(await reinstalled.names()).toEqual(await replacement.names());
    expect(await reinstalled.count("users")).toBe(4);
  });
});
