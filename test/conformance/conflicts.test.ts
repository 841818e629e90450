/**
 * Live conformance, catalog group E (conflicts): a push meets a newer server version of a row
 * (written by another device, or by the server itself through `serve --test-hooks`) and the
 * client's resolver settles it, our client against a live server.
 */
import {
  type ConflictContext,
  type ConflictResolver,
  type RowValues,
  clientWins,
  mergeRows,
  serverWins,
} from "@oversync/client";
import { expect, it } from "vitest";
import { type Device, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import { type LiveUser, newUser, requireHooks, serverWrite } from "./server-calls.js";

describeLive("live conformance: conflicts", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** A user whose row `name` is on the server and on a second device B (with `options`). */
  async function sharedRow(label: string, name: string, options: Parameters<typeof devices.open>[1] = {}) {
    const user = await newUser(server, label);
    const a = await attached(user);
    const id = await a.insertUser(name);
    await a.client.pushPending();
    const b = await attached(user, options);
    expect(await b.userName(id)).toBe(name);
    return { user, a, b, id };
  }

  /** Renames user row `id` as the server's own code would. */
  async function serverRename(user: LiveUser, id: string, name: string): Promise<void> {
    await serverWrite(server, user, [
      {
        sql: "UPDATE business.users SET name = $3 WHERE _sync_scope_id = $1 AND id = $2",
        params: [user.id, id, name],
      },
    ]);
  }

  it("CF-01 the default resolver takes the server's version and the push succeeds", async (context) => {
    requireHooks(server, context);
    const { user, b, id } = await sharedRow("cf01", "Ada");
    await serverRename(user, id, "Ada Server");
    await b.renameUser(id, "Ada Local");
    expect((await b.client.pushPending()).outcome).toBe("no_change");
    expect(await b.userName(id)).toBe("Ada Server");
    expect(await b.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 2 } });
    expect(await b.isClean()).toBe(true);
  });

  it("CF-01 (KMP variant) a peer's edit wins under serverWins and an observer converges", async () => {
    const { user, a, b, id } = await sharedRow("cf01kmp", "Grace", { resolver: serverWins });
    await a.renameUser(id, "Grace Server");
    await a.client.pushPending();
    await b.renameUser(id, "Grace Local");
    await b.client.sync();
    const observer = await attached(user);
    for (const device of [a, b, observer]) {
      await device.client.pullToStable();
      expect(await device.userName(id)).toBe("Grace Server");
    }
  });

  it("CF-02 client-wins converges although the pusher has not seen a peer bundle", async () => {
    const { user, a, b, id } = await sharedRow("cf02", "Grace", { resolver: clientWins });
    await a.insertUser("Peer");
    await a.client.pushPending();
    await a.renameUser(id, "Grace Server");
    await a.client.pushPending();
    await b.renameUser(id, "Grace Client");
    expect(await b.client.pushPending()).toMatchObject({
      outcome: "committed",
      syncStatus: { lastBundleSeqSeen: 1 },
    });
    expect(await b.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 4 } });
    expect(await b.names()).toEqual(["Grace Client", "Peer"]);
    const observer = await attached(user);
    await a.client.pullToStable();
    for (const device of [a, observer]) {
      expect(await device.names()).toEqual(["Grace Client", "Peer"]);
      expect(await device.client.lastBundleSeqSeen()).toBe(4);
    }
  });

  it("CF-03 CF-08 a merging resolver sees both sides and its merged row is pushed on the server's version", async () => {
    const seen: ConflictContext[] = [];
    const merge = mergeRows((conflict) => {
      seen.push(conflict);
      return { ...(conflict.serverRow as RowValues), email: (conflict.localRow as RowValues).email! };
    });
    const { user, a, b, id } = await sharedRow("cf03", "Ada", { resolver: merge });
    await a.renameUser(id, "Ada Server");
    await a.client.pushPending();
    await b.run("UPDATE users SET email = 'local@example.com' WHERE id = ?", [id]);
    expect((await b.client.pushPending()).outcome).toBe("committed");
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      schema: "business",
      table: "users",
      key: { id },
      localOp: "UPDATE",
      baseRowVersion: 1n,
      serverRowVersion: 2n,
      serverRowDeleted: false,
      localRow: { id, name: "Ada", email: "local@example.com" },
      serverRow: { id, name: "Ada Server", email: "Ada@example.com" },
    });
    const uploads = b.net
      .to("push_session_chunk")
      .map((request) => (request.body as { rows: unknown[] }).rows[0]);
    expect(uploads.at(-1)).toMatchObject({
      base_row_version: 2,
      payload: { name: "Ada Server", email: "local@example.com" },
    });
    const check = await attached(user);
    expect(await check.query("SELECT name, email FROM users")).toEqual([
      { name: "Ada Server", email: "local@example.com" },
    ]);
    expect(await b.query("SELECT name, email FROM users")).toEqual([
      { name: "Ada Server", email: "local@example.com" },
    ]);
  });

  it("CF-04 keep-local retries the same bundle on the server's version and wins", async () => {
    const { user, a, b, id } = await sharedRow("cf04", "Linus", { resolver: clientWins });
    await a.renameUser(id, "Linus Server");
    await a.client.pushPending();
    await b.renameUser(id, "Linus Local");
    expect((await b.client.pushPending()).outcome).toBe("committed");
    expect(
      b.net
        .to("push_session_create")
        .map((request) => (request.body as { source_bundle_id: number }).source_bundle_id),
    ).toEqual([1, 1]);
    expect(
      b.net
        .to("push_session_chunk")
        .map(
          (request) => (request.body as { rows: { base_row_version: number }[] }).rows[0]!.base_row_version,
        ),
    ).toEqual([1, 2]);
    const [state] = await b.query<{ row_version: bigint }>("SELECT row_version FROM _sync_row_state");
    expect(state!.row_version).toBe(3n);
    expect(await b.nextSourceBundleId()).toBe(2);
    await a.client.pullToStable();
    expect(await a.userName(id)).toBe("Linus Local");
    expect(await (await attached(user)).userName(id)).toBe("Linus Local");
  });

  it("CF-05 when the server changes the row before every retry, the push gives up and keeps the intent queued", async (context) => {
    requireHooks(server, context);
    const { user, b, id } = await sharedRow("cf05", "Ada", { resolver: clientWins });
    let edits = 0;
    b.net.before = async (request) => {
      if (request.endpoint === "push_session_commit") await serverRename(user, id, `Server edit ${++edits}`);
    };
    await b.renameUser(id, "Ada Local");
    // One row: this client retries once per row plus two (KMP: twice), so 4 commits are refused.
    await expect(b.client.pushPending()).rejects.toMatchObject({
      code: "push_conflict_retry_exhausted",
      retryCount: 3,
      remainingDirtyRowCount: 1n,
    });
    expect(b.net.count("push_session_commit")).toBe(4);
    const [queued] = await b.dirtyRows();
    expect(queued).toMatchObject({ op: "UPDATE", base_row_version: 5 });
    expect(JSON.parse(queued!.payload!)).toMatchObject({ name: "Ada Local" });
    expect((await b.outbox()).rows).toBe(0);
    expect(await b.nextSourceBundleId()).toBe(1);
    expect(await b.client.lastBundleSeqSeen()).toBe(1);
  });

  it("CF-06 CF-07 a conflict in a chunked bundle retries the whole bundle, siblings included", async () => {
    const { user, a, b, id } = await sharedRow("cf06", "Grace", { resolver: clientWins, uploadLimit: 2 });
    await a.renameUser(id, "Grace Server");
    await a.client.pushPending();
    await b.renameUser(id, "Grace Client");
    await b.insertUser("Extra 1");
    await b.insertUser("Extra 2");
    expect((await b.client.pushPending()).outcome).toBe("committed");
    expect(
      b.net
        .to("push_session_create")
        .map((request) => (request.body as { source_bundle_id: number }).source_bundle_id),
    ).toEqual([1, 1]);
    expect(b.net.count("push_session_chunk")).toBeGreaterThan(2);
    expect(await b.isClean()).toBe(true);
    expect(await b.nextSourceBundleId()).toBe(2);
    const observer = await attached(user);
    expect(await observer.names()).toEqual(["Extra 1", "Extra 2", "Grace Client"]);
  });

  it("CF-09 a latest-updated_at merge keeps the newer edit, local or remote", async () => {
    const latest = mergeRows((conflict) => {
      const local = conflict.localRow as RowValues;
      const remote = conflict.serverRow as RowValues;
      return Date.parse(String(local.updated_at)) >= Date.parse(String(remote.updated_at)) ? local : remote;
    });
    const { user, a, b, id } = await sharedRow("cf09", "Ada", { resolver: latest });
    const edit = (device: Device, name: string, at: string) =>
      device.run("UPDATE users SET name = ?, updated_at = ? WHERE id = ?", [name, at, id]);
    await edit(a, "Older remote", "2026-01-01T10:00:00Z");
    await a.client.pushPending();
    await edit(b, "Newer local", "2026-01-01T11:00:00Z");
    await b.client.sync();
    expect(await b.userName(id)).toBe("Newer local");

    await a.client.pullToStable();
    await edit(a, "Newer remote", "2026-01-01T13:00:00Z");
    await a.client.sync();
    await edit(b, "Older local", "2026-01-01T12:00:00Z");
    await b.client.sync();
    expect(await b.userName(id)).toBe("Newer remote");
    expect(await (await attached(user)).userName(id)).toBe("Newer remote");
  });

  it("CF-10 a resolution that does not fit the conflict puts the whole bundle back into the queue", async () => {
    const keepMerged: ConflictResolver = (conflict) => ({
      kind: "keep_merged",
      row: conflict.serverRow ?? { id: conflict.key.id! },
    });
    const { a, b, id } = await sharedRow("cf10", "Ada", { resolver: keepMerged });
    const sibling = await b.insertUser("Sibling");
    await a.renameUser(id, "Ada Server");
    await a.client.pushPending();
    await b.run("DELETE FROM users WHERE id = ?", [id]);
    await expect(b.client.pushPending()).rejects.toMatchObject({ code: "invalid_conflict_resolution" });
    expect((await b.outbox()).rows).toBe(0);
    const queued = (await b.dirtyRows()).map((row) => [JSON.parse(row.key_json).id, row.op]);
    expect(queued).toEqual(
      expect.arrayContaining([
        [id, "DELETE"],
        [sibling, "INSERT"],
      ]),
    );
    expect(await b.nextSourceBundleId()).toBe(1);

    const { a: a2, b: b2, id: id2 } = await sharedRow("cf10b", "Bob", { resolver: clientWins });
    await a2.run("DELETE FROM users WHERE id = ?", [id2]);
    await a2.client.pushPending();
    await b2.renameUser(id2, "Bob Local");
    await expect(b2.client.pushPending()).rejects.toMatchObject({ code: "invalid_conflict_resolution" });
    expect(await b2.dirtyRows()).toMatchObject([{ op: "UPDATE" }]);
  });

  it("CF-11 simulator conflicts under chunked load: server-wins, client-wins and a timestamp merge", async () => {
    const user = await newUser(server, "cf11");
    const phone = await attached(user);
    const latest = mergeRows((conflict) => {
      const local = conflict.localRow as RowValues;
      const remote = conflict.serverRow as RowValues;
      return Date.parse(String(local.updated_at)) >= Date.parse(String(remote.updated_at)) ? local : remote;
    });
    for (const [label, resolver, winner] of [
      ["server-wins", serverWins, "phone"],
      ["client-wins", clientWins, "laptop"],
      ["latest-updated-at", latest, "laptop"],
    ] as const) {
      const target = await phone.insertUser(`${label} target`);
      const siblings: string[] = [];
      for (let n = 1; n <= 6; n++) siblings.push(await phone.insertUser(`${label} sibling ${n}`));
      await phone.client.sync();
      const laptop = await attached(user, { resolver, uploadLimit: 3 });
      const stamp = (device: Device, id: string, name: string, at: string) =>
        device.run("UPDATE users SET name = ?, updated_at = ? WHERE id = ?", [name, at, id]);
      await stamp(phone, target, `${label} by phone`, "2026-02-01T10:00:00Z");
      await phone.client.sync();
      for (const id of [target, ...siblings])
        await stamp(laptop, id, `${label} by laptop`, "2026-02-01T11:00:00Z");
      laptop.net.clear();
      await laptop.client.sync();
      expect(laptop.net.count("push_session_create")).toBe(2);
      expect(laptop.net.count("push_session_chunk")).toBeGreaterThanOrEqual(4);
      await phone.client.sync();
      for (const device of [phone, laptop]) {
        expect(await device.userName(target)).toBe(`${label} by ${winner}`);
        for (const id of siblings) expect(await device.userName(id)).toBe(`${label} by laptop`);
        expect(await device.isClean()).toBe(true);
      }
      expect(await laptop.client.lastBundleSeqSeen()).toBe(await phone.client.lastBundleSeqSeen());
      await laptop.close();
    }
    expect(await (await attached(user)).count("users")).toBe(21);
  });

  it("CF-12 repeated client-wins conflicts after earlier bundles converge every round", async () => {
    const user = await newUser(server, "cf12");
    const a = await attached(user, { uploadLimit: 1, downloadLimit: 1 });
    const hot = await a.insertUser("Base");
    await a.client.pushPending();
    for (let n = 1; n <= 3; n++) {
      await a.insertUser(`Unrelated ${n}`);
      await a.client.pushPending();
    }
    const b = await attached(user, { resolver: clientWins, uploadLimit: 1, downloadLimit: 1 });
    const c = await attached(user, { uploadLimit: 1, downloadLimit: 1 });
    for (let round = 1; round <= 3; round++) {
      await a.renameUser(hot, `Server Round ${round}`);
      await a.client.pushPending();
      await b.renameUser(hot, `Client Round ${round}`);
      await b.client.pushPending();
      for (const device of [a, b, c]) {
        await device.client.pullToStable();
        expect(await device.userName(hot)).toBe(`Client Round ${round}`);
      }
    }
    for (const device of [a, b, c]) {
      expect(await device.client.lastBundleSeqSeen()).toBe(10);
      expect(await device.isClean()).toBe(true);
    }
  });

  it("CF-13 (settles in one push here) a long-diverged writer under server-wins converges on the leader's state", async () => {
    // KMP retries a conflicted push twice and surfaces PushConflictRetryExhausted while the writer
    // still has conflicting rows; this client retries once per row plus two, so one push settles.
    const user = await newUser(server, "cf13");
    const leader = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    const hot = await leader.insertUser("Hot round 0");
    const hotPost = await leader.insertPost(hot, "Hot post round 0");
    await leader.client.pushPending();
    const writer = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    const observer = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    for (let round = 1; round <= 6; round++) {
      await leader.renameUser(hot, `Hot round ${round}`);
      await leader.run("UPDATE posts SET title = ? WHERE id = ?", [`Hot post round ${round}`, hotPost]);
      await leader.insertUser(`Batch ${round}`);
      await leader.client.pushPending();
      if (round % 2 === 0) {
        await writer.renameUser(hot, `Writer round ${round}`);
        await writer.run("UPDATE posts SET title = ? WHERE id = ?", [`Writer post round ${round}`, hotPost]);
      }
    }
    expect((await writer.client.pushPending()).outcome).toBe("no_change");
    for (const device of [writer, observer]) {
      await device.client.pullToStable();
      expect(await device.userName(hot)).toBe("Hot round 6");
      expect(await device.query("SELECT title FROM posts")).toEqual([{ title: "Hot post round 6" }]);
      expect(await device.client.lastBundleSeqSeen()).toBe(7);
      expect(await device.isClean()).toBe(true);
    }
    await writer.insertUser("Writer batch");
    await writer.client.pushPending();
    for (const device of [leader, writer, observer]) {
      await device.client.pullToStable();
      expect(await device.client.lastBundleSeqSeen()).toBe(8);
      expect(await device.count("users")).toBe(8);
    }
  });
});
