/**
 * Live conformance, catalog group B (push): what our client uploads (read from the requests it
 * sends), how a push survives failures at each step (injected by `serve --test-hooks`), and the
 * local state it leaves, against a live server.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { type Device, type SentRequest, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import { type LiveUser, failRequests, newUser, requireHooks } from "./server-calls.js";

/** The rows a push chunk request carried. */
interface ChunkRow {
  readonly table: string;
  readonly key: { readonly id: string };
  readonly op: string;
  readonly base_row_version: number;
  readonly payload?: Record<string, unknown> | null;
}

function chunkRows(requests: SentRequest[]): ChunkRow[][] {
  return requests.map((request) => (request.body as { rows: ChunkRow[] }).rows);
}

describeLive("live conformance: push", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** The `(row_version, deleted)` the device records for a key of `table`. */
  async function rowState(device: Device, table: string, id: string) {
    const [row] = await device.query<{ row_version: bigint; deleted: bigint }>(
      "SELECT row_version, deleted FROM _sync_row_state WHERE table_name = ? AND key_json LIKE ?",
      [table, `%${id}%`],
    );
    return row === undefined ? undefined : { version: Number(row.row_version), deleted: row.deleted === 1n };
  }

  it("PU-01 PU-14 edits of one unsynced row go up as one INSERT; the replay queues nothing and later writes are captured", async () => {
    const user = await newUser(server, "pu01");
    const device = await attached(user);
    const id = await device.insertUser("Draft");
    await device.renameUser(id, "Final");
    expect(await device.dirtyRows()).toMatchObject([{ table_name: "users", op: "INSERT" }]);
    expect(JSON.parse((await device.dirtyRows())[0]!.payload!)).toMatchObject({ name: "Final" });

    expect((await device.client.pushPending()).outcome).toBe("committed");
    const chunks = chunkRows(device.net.to("push_session_chunk"));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject([{ op: "INSERT", base_row_version: 0, payload: { name: "Final" } }]);
    // The committed session is the server's to expire: the client does not delete it.
    expect(device.net.count("push_session_delete")).toBe(0);
    expect(await device.dirtyRows()).toEqual([]);
    expect(await rowState(device, "users", id)).toEqual({ version: 1, deleted: false });
    expect(await device.nextSourceBundleId()).toBe(2);
    expect(await device.client.lastBundleSeqSeen()).toBe(1);
    expect((await device.query("SELECT apply_mode FROM _sync_apply_state"))[0]).toEqual({ apply_mode: 0n });

    await device.renameUser(id, "Edited later");
    expect(await device.dirtyRows()).toMatchObject([{ op: "UPDATE", base_row_version: 1 }]);
  });

  it("PU-02 PU-03 a device's own push after a peer's leaves its checkpoint; a pull (also after a restart) fetches the peer bundle", async () => {
    for (const restart of [false, true]) {
      const user = await newUser(server, restart ? "pu03" : "pu02");
      const a = await attached(user);
      let b = await attached(user);
      await a.insertUser("From A");
      await a.client.pushPending();
      await b.insertUser("From B");
      expect(await b.client.pushPending()).toMatchObject({
        outcome: "committed",
        syncStatus: { lastBundleSeqSeen: 0 },
      });
      if (restart) {
        b = await b.restart();
        expect(await b.client.attach(user.id)).toMatchObject({ outcome: "resumed_attached_state" });
      }
      expect(await b.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 2 } });
      expect(await b.names()).toEqual(["From A", "From B"]);
    }
  });

  it("PU-04 a push whose session create loses its connection keeps the frozen rows and commits them next time", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu04");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Recoverable");
    await failRequests(server, user, { endpoint: "push_session_create", disconnect: true });
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "network_error" });
    expect(await device.dirtyRows()).toEqual([]);
    expect(await device.outbox()).toMatchObject({ state: "prepared", rows: 1 });
    expect((await device.client.pushPending()).outcome).toBe("committed");
    const peer = await attached(user);
    expect(await peer.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await peer.names()).toEqual(["Recoverable"]);
  });

  it("PU-05 a dirty set larger than one chunk goes up as one bundle in several chunks", async () => {
    const user = await newUser(server, "pu05");
    const device = await attached(user, { uploadLimit: 2 });
    for (let n = 1; n <= 5; n++) await device.insertUser(`User ${n}`);
    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect(device.net.count("push_session_create")).toBe(1);
    expect(chunkRows(device.net.to("push_session_chunk")).map((rows) => rows.length)).toEqual([2, 2, 1]);
    expect(
      device.net
        .to("push_session_chunk")
        .map((request) => (request.body as { start_row_ordinal: number }).start_row_ordinal),
    ).toEqual([0, 2, 4]);
    expect(await device.isClean()).toBe(true);
    expect(await device.nextSourceBundleId()).toBe(2);
    expect(await device.client.lastBundleSeqSeen()).toBe(1);

    // The KMP variant: 7 user/post pairs with chunks of 4 rows, and a second device converging.
    const other = await newUser(server, "pu05kmp");
    const writer = await attached(other, { uploadLimit: 4 });
    for (let n = 1; n <= 7; n++) await writer.insertPost(await writer.insertUser(`Author ${n}`), `Post ${n}`);
    await writer.client.pushPending();
    expect(writer.net.count("push_session_chunk")).toBe(4);
    const reader = await attached(other);
    expect(await reader.count("users")).toBe(7);
    expect(await reader.count("posts")).toBe(7);
    for (const device of [writer, reader]) expect(await device.client.lastBundleSeqSeen()).toBe(1);
  });

  it("PU-06 pushing nothing changes nothing and opens no push session", async () => {
    const user = await newUser(server, "pu06");
    const device = await attached(user);
    device.net.clear();
    expect((await device.client.pushPending()).outcome).toBe("no_change");
    // No request at all: attach's capability check is recent enough for the gate.
    expect(device.net.sent).toEqual([]);
    expect(await device.outbox()).toMatchObject({ state: "none", rows: 0 });
    expect(await device.nextSourceBundleId()).toBe(1);
    expect(await device.client.lastBundleSeqSeen()).toBe(0);
  });

  it("PU-07 PU-08 uploads order parents before children (deletes the other way) and derive each op from the synced state", async () => {
    const user = await newUser(server, "pu07");
    const device = await attached(user);
    const author = await device.insertUser("Author");
    const post = await device.insertPost(author, "Post");
    const kept = await device.insertUser("Kept");
    const removed = await device.insertUser("Removed");
    await device.client.pushPending();
    const first = chunkRows(device.net.to("push_session_chunk"))[0]!;
    expect(first.map((row) => row.table)).toEqual(["users", "users", "users", "posts"]);
    expect(first.every((row) => row.op === "INSERT" && row.base_row_version === 0)).toBe(true);
    expect(device.net.to("push_session_create")[0]!.body).toMatchObject({ source_bundle_id: 1 });

    device.net.clear();
    // Deleted child-last in SQLite (the foreign keys are deferred), uploaded child-first.
    await device.driver.transaction(async (tx) => {
      await tx.run("DELETE FROM users WHERE id = ?", [author]);
      await tx.run("DELETE FROM posts WHERE id = ?", [post]);
    });
    await device.renameUser(kept, "Kept v2");
    await device.run("DELETE FROM users WHERE id = ?", [removed]);
    const fresh = await device.insertUser("Fresh");
    const transient = await device.insertUser("Transient");
    await device.run("DELETE FROM users WHERE id = ?", [transient]);
    await device.client.pushPending();
    expect(device.net.to("push_session_create")[0]!.body).toMatchObject({ source_bundle_id: 2 });
    const rows = chunkRows(device.net.to("push_session_chunk")).flat();
    const byId = new Map(rows.map((row) => [row.key.id, row]));
    expect(byId.has(transient)).toBe(false);
    expect(byId.get(kept)).toMatchObject({ op: "UPDATE", base_row_version: 1, payload: { name: "Kept v2" } });
    expect(byId.get(fresh)).toMatchObject({ op: "INSERT", base_row_version: 0 });
    for (const id of [removed, author, post]) {
      expect(byId.get(id)).toMatchObject({ op: "DELETE", base_row_version: 1 });
      expect(byId.get(id)!.payload ?? null).toBeNull();
    }
    const order = rows.map((row) => `${row.op} ${row.table}`);
    expect(order.indexOf("DELETE posts")).toBeLessThan(order.indexOf("DELETE users"));
  });

  it("PU-09 a push cut before its commit uploads the whole frozen bundle again from row 0 after a restart", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu09");
    const device = await attached(user, { uploadLimit: 2, retry: "none" });
    for (let n = 1; n <= 3; n++) await device.insertUser(`User ${n}`);
    await failRequests(server, user, { endpoint: "push_session_commit", disconnect: true });
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "network_error" });
    expect(await device.outbox()).toMatchObject({ state: "prepared", rows: 3 });
    expect(await device.dirtyRows()).toEqual([]);

    const restarted = await device.restart({ uploadLimit: 2 });
    await restarted.client.attach(user.id);
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
    expect(restarted.net.count("push_session_create")).toBe(1);
    expect(restarted.net.to("push_session_create")[0]!.body).toMatchObject({ source_bundle_id: 1 });
    expect(
      restarted.net
        .to("push_session_chunk")
        .map((request) => (request.body as { start_row_ordinal: number }).start_row_ordinal),
    ).toEqual([0, 2]);
    expect(restarted.net.count("push_session_commit")).toBe(1);
    expect(await restarted.isClean()).toBe(true);
    expect(await restarted.nextSourceBundleId()).toBe(2);
  });

  it("PU-10 a commit whose answer was lost is found already committed and replayed without uploading again", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu10");
    const device = await attached(user, { retry: "none" });
    const id = await device.insertUser("Committed once");
    await failRequests(server, user, { endpoint: "push_session_commit", disconnect: true, when: "after" });
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "network_error" });
    expect(await device.outbox()).toMatchObject({ state: "prepared", rows: 1 });

    const restarted = await device.restart();
    await restarted.client.attach(user.id);
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
    expect(restarted.net.to("push_session_create").map((request) => request.status)).toEqual([200]);
    expect(restarted.net.count("push_session_chunk")).toBe(0);
    expect(restarted.net.count("push_session_commit")).toBe(0);
    expect(restarted.net.count("committed_bundle_rows")).toBe(1);
    expect(await rowState(restarted, "users", id)).toEqual({ version: 1, deleted: false });
    expect(await restarted.nextSourceBundleId()).toBe(2);
    expect(await restarted.isClean()).toBe(true);
    const peer = await attached(user);
    expect(await peer.names()).toEqual(["Committed once"]);
  });

  it("PU-12 app writes made during the upload or during the replay stay queued", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu12");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Frozen");
    let wrote = false;
    device.net.before = async (request) => {
      if (request.endpoint === "push_session_chunk" && !wrote) {
        wrote = true;
        await device.insertUser("Written during upload");
      }
    };
    await failRequests(server, user, { endpoint: "push_session_commit", disconnect: true });
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: "network_error" });
    expect(await device.dirtyRows()).toMatchObject([{ op: "INSERT" }]);
    expect((await device.outbox()).rows).toBe(1);

    device.net.before = async (request) => {
      if (request.endpoint === "committed_bundle_rows" && wrote) {
        wrote = false;
        await device.insertUser("Written during replay");
      }
    };
    // The retry commits the frozen bundle only; both later writes wait for the next push.
    expect((await device.client.pushPending()).outcome).toBe("committed");
    const queued = await device.dirtyRows();
    expect(queued.map((row) => JSON.parse(row.payload!).name)).toEqual([
      "Written during upload",
      "Written during replay",
    ]);
    expect((await device.outbox()).rows).toBe(0);
    expect(await device.stageRows()).toBe(0);
  });

  it("PU-13 only one bundle is ever frozen: rows written after a failed push wait for the next bundle", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu13");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("First");
    await failRequests(server, user, { endpoint: "push_session_create", status: 503 });
    await expect(device.client.pushPending()).rejects.toMatchObject({ status: 503 });
    await device.insertUser("Second");
    device.net.clear();
    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect(device.net.to("push_session_create").map((request) => request.body)).toMatchObject([
      { source_bundle_id: 1, planned_row_count: 1 },
    ]);
    expect(await device.dirtyRows()).toHaveLength(1);
    device.net.clear();
    await device.client.pushPending();
    expect(device.net.to("push_session_create").map((request) => request.body)).toMatchObject([
      { source_bundle_id: 2, planned_row_count: 1 },
    ]);
  });

  it("PU-15 self-referencing and cyclic rows commit and replay under deferred foreign keys", async () => {
    const user = await newUser(server, "pu15");
    const device = await attached(user);
    const [root, child] = [randomUUID(), randomUUID()];
    const [team, captain] = [randomUUID(), randomUUID()];
    await device.driver.transaction(async (tx) => {
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, ?, ?)", [child, "Child", root]);
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, ?, ?)", [root, "Root", null]);
      await tx.run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, ?, ?)", [
        team,
        "Team",
        captain,
      ]);
      await tx.run("INSERT INTO team_members (id, name, team_id) VALUES (?, ?, ?)", [
        captain,
        "Captain",
        team,
      ]);
    });
    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect(await device.isClean()).toBe(true);
    const peer = await attached(user);
    expect(await peer.query("SELECT name, parent_id FROM categories ORDER BY name")).toEqual([
      { name: "Child", parent_id: root },
      { name: "Root", parent_id: null },
    ]);
    expect(await peer.query("SELECT captain_member_id FROM teams")).toEqual([{ captain_member_id: captain }]);
  });

  /**
   * PU-16: per key, what was uploaded, what the app did to the same key meanwhile, and what must
   * hold after the replay (visible row, row state, requeued change). A committed row's version is
   * the bundle_seq that committed it, so every key ends at version 2 with its change rebased on 2.
   */
  async function rebaseMatrix(
    user: LiveUser,
    mutateDuring: (device: Device, mutate: () => Promise<void>) => Promise<Device>,
  ): Promise<void> {
    const device = await attached(user);
    const [k1, k2, k3] = [randomUUID(), randomUUID(), randomUUID()];
    for (const [id, name] of [
      [k1, "Seed 1"],
      [k2, "Seed 2"],
      [k3, "Seed 3"],
    ] as const)
      await device.insertUser(name, id);
    await device.client.pushPending();
    const [k4, k5] = [randomUUID(), randomUUID()];
    await device.renameUser(k1, "First");
    await device.renameUser(k2, "First");
    await device.run("DELETE FROM users WHERE id = ?", [k3]);
    await device.insertUser("First", k4);
    await device.insertUser("First", k5);
    const after = await mutateDuring(device, async () => {
      await device.renameUser(k1, "Second");
      await device.run("DELETE FROM users WHERE id = ?", [k2]);
      await device.insertUser("Recreated", k3);
      await device.renameUser(k4, "Second");
      await device.run("DELETE FROM users WHERE id = ?", [k5]);
    });
    const queued = new Map(
      (await after.dirtyRows()).map((row) => [JSON.parse(row.key_json).id as string, row]),
    );
    expect(await after.client.lastBundleSeqSeen()).toBe(2);
    const expectations: [string, string | undefined, boolean, string][] = [
      [k1, "Second", false, "UPDATE"],
      [k2, undefined, false, "DELETE"],
      [k3, "Recreated", true, "INSERT"],
      [k4, "Second", false, "UPDATE"],
      [k5, undefined, false, "DELETE"],
    ];
    for (const [id, visible, deleted, op] of expectations) {
      expect({ id, visible: await after.userName(id) }).toEqual({ id, visible });
      expect({ id, state: await rowState(after, "users", id) }).toEqual({
        id,
        state: { version: 2, deleted },
      });
      expect({ id, queued: queued.get(id) }).toMatchObject({ id, queued: { op, base_row_version: 2 } });
    }
  }

  it("PU-16 the app's newer intent on a key survives the replay, rebased on the committed version (during upload and replay)", async () => {
    for (const endpoint of ["push_session_chunk", "committed_bundle_rows"] as const) {
      await rebaseMatrix(await newUser(server, `pu16-${endpoint}`), async (device, mutate) => {
        let done = false;
        device.net.before = async (request) => {
          if (request.endpoint === endpoint && !done) {
            done = true;
            await mutate();
          }
        };
        await device.client.pushPending();
        return device;
      });
    }
  });

  it("PU-16 the app's newer intent on a key survives a restart between the commit and the replay", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu16-restart");
    await rebaseMatrix(user, async (device, mutate) => {
      await failRequests(server, user, { endpoint: "committed_bundle_rows", status: 503, count: 3 });
      await expect(device.client.pushPending()).rejects.toMatchObject({ code: "transient_retry_exhausted" });
      expect((await device.outbox()).state).toBe("committed_remote");
      await mutate();
      const restarted = await device.restart();
      await restarted.client.attach(user.id);
      await restarted.client.pushPending();
      return restarted;
    });
  });

  it("PU-17 a commit answer without bundle_hash fails closed and keeps the frozen bundle", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu17");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Kept");
    const { currentSourceId } = await device.client.sourceInfo();
    await failRequests(server, user, {
      endpoint: "push_session_commit",
      status: 200,
      body: { bundle_seq: 1, source_id: currentSourceId, source_bundle_id: 1, row_count: 1 },
    });
    await expect(device.client.pushPending()).rejects.toThrow(/bundle_hash/);
    expect(await device.dirtyRows()).toEqual([]);
    expect(await device.outbox()).toMatchObject({ state: "prepared", rows: 1 });
    expect(await device.nextSourceBundleId()).toBe(1);
    expect(await device.client.lastBundleSeqSeen()).toBe(0);
    expect((await device.client.pushPending()).outcome).toBe("committed");
  });

  it("PU-18 a 409 without a structured conflict keeps the frozen bundle", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu18");
    const device = await attached(user, { retry: "none" });
    await device.insertUser("Kept");
    await failRequests(server, user, {
      endpoint: "push_session_commit",
      status: 409,
      body: { error: "push_conflict", message: "a conflict without its details" },
    });
    await expect(device.client.pushPending()).rejects.toMatchObject({ status: 409 });
    expect(await device.dirtyRows()).toEqual([]);
    expect(await device.outbox()).toMatchObject({ state: "prepared", rows: 1 });
    expect(await device.nextSourceBundleId()).toBe(1);
  });

  it("PU-20 a BLOB key that is not a 16-byte UUID is refused (here at the INSERT, before any push)", async () => {
    const user = await newUser(server, "pu20");
    const device = await attached(user);
    await expect(
      device.run("INSERT INTO files (id, name, data) VALUES (x'0102', 'bad', x'00')"),
    ).rejects.toThrow(/SYNC_KEY_INVALID/);
    expect(await device.dirtyRows()).toEqual([]);
  });

  it("PU-21 a REAL value replays as the same value and is not queued again", async () => {
    const user = await newUser(server, "pu21");
    const device = await attached(user);
    await device.run(
      "INSERT INTO typed_rows (id, name, enabled_flag, rating) VALUES (?, 'real', 1, 6.57111473696007)",
      [randomUUID()],
    );
    await device.client.pushPending();
    expect(await device.isClean()).toBe(true);
    expect(
      await device.query("SELECT quote(rating) = quote(6.57111473696007) AS same FROM typed_rows"),
    ).toEqual([{ same: 1n }]);
  });

  it("PU-22 calls overlapping a running push are refused as contention; the push then completes", async () => {
    const user = await newUser(server, "pu22");
    const device = await attached(user);
    await device.insertUser("In flight");
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered: () => void = () => undefined;
    const inFlight = new Promise<void>((resolve) => (entered = resolve));
    device.net.before = async (request) => {
      if (request.endpoint === "push_session_create") {
        entered();
        await held;
      }
    };
    const push = device.client.pushPending();
    await inFlight;
    for (const call of [
      () => device.client.pushPending(),
      () => device.client.pullToStable(),
      () => device.client.rebuild(),
      () => device.client.sync(),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: "sync_operation_in_progress" });
    }
    release();
    expect((await push).outcome).toBe("committed");
  });

  it("PU-23 client timestamps reach timestamptz columns as the same instants", async () => {
    const user = await newUser(server, "pu23");
    const device = await attached(user);
    const id = randomUUID();
    const created = "2026-03-24T18:42:11.123456Z";
    const updated = "2026-03-24T20:42:11.654321+02:00";
    await device.run(
      "INSERT INTO users (id, name, email, created_at, updated_at) VALUES (?, 'Ada', 'a@x', ?, ?)",
      [id, created, updated],
    );
    await device.insertPost(id, "Timed");
    await device.client.pushPending();
    const peer = await attached(user);
    const [row] = await peer.query<{ created_at: string; updated_at: string }>(
      "SELECT created_at, updated_at FROM users WHERE id = ?",
      [id],
    );
    expect(Date.parse(row!.created_at)).toBe(Date.parse(created));
    expect(Date.parse(row!.updated_at)).toBe(Date.parse(updated));
    expect(await peer.count("posts")).toBe(1);
  });
});
