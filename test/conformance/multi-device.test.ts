/**
 * Live conformance, catalog groups J (multi-device convergence) and K (heavy / stress), plus the
 * simulator's complex multi-batch flow (PU-24): several devices of one user writing, pulling and
 * rebuilding until they agree, our client against a live server. Volumes are scaled to keep the
 * suite within minutes; each test says where it is smaller than upstream's heavy lane.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { type Device, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import { type LiveUser, failRequests, newUser, requireHooks, setRetainedFloor } from "./server-calls.js";

describeLive("live conformance: multi-device convergence", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** Every synced table's rows, keyed and sorted, for comparing devices. */
  async function contents(device: Device): Promise<Record<string, unknown[]>> {
    const tables: Record<string, string> = {
      users: "SELECT id, name, email FROM users ORDER BY id",
      posts: "SELECT id, title, author_id FROM posts ORDER BY id",
      categories: "SELECT id, name, parent_id FROM categories ORDER BY id",
      teams: "SELECT id, name, captain_member_id FROM teams ORDER BY id",
      team_members: "SELECT id, name, team_id FROM team_members ORDER BY id",
      files: "SELECT hex(id) AS id, name, hex(data) AS data FROM files ORDER BY id",
      file_reviews: "SELECT hex(id) AS id, review, hex(file_id) AS file_id FROM file_reviews ORDER BY id",
    };
    const result: Record<string, unknown[]> = {};
    for (const [table, sql] of Object.entries(tables)) result[table] = await device.query(sql);
    return result;
  }

  /** A rich batch: users with posts, a category, a team with a member, a file with a review. */
  async function richBatch(device: Device, label: string): Promise<void> {
    await device.driver.transaction(async (tx) => {
      for (let n = 1; n <= 2; n++) {
        const user = randomUUID();
        await tx.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
          user,
          `${label} user ${n}`,
          `${n}@x`,
        ]);
        await tx.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, 'c', ?)", [
          randomUUID(),
          `${label} post ${n}`,
          user,
        ]);
      }
      await tx.run("INSERT INTO categories (id, name) VALUES (?, ?)", [randomUUID(), `${label} category`]);
      const [team, member] = [randomUUID(), randomUUID()];
      await tx.run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, ?, ?)", [
        team,
        `${label} team`,
        member,
      ]);
      await tx.run("INSERT INTO team_members (id, name, team_id) VALUES (?, ?, ?)", [
        member,
        `${label} member`,
        team,
      ]);
      const file = Buffer.from(randomUUID().replaceAll("-", ""), "hex");
      await tx.run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
        file,
        `${label} file`,
        Buffer.from(label),
      ]);
      await tx.run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
        Buffer.from(randomUUID().replaceAll("-", ""), "hex"),
        `${label} review`,
        file,
      ]);
    });
  }

  it("MD-01 MD-02 one device's rows reach the other, and a delete is never resurrected", async () => {
    const user = await newUser(server, "md02");
    const d1 = await attached(user);
    const d2 = await attached(user);
    const author = await d1.insertUser("Author");
    await d1.insertPost(author, "Post");
    await d1.client.pushPending();
    await d2.client.pullToStable();
    expect(await d2.query("SELECT title, author_id FROM posts")).toEqual([
      { title: "Post", author_id: author },
    ]);
    for (const device of [d1, d2]) expect(await device.dirtyRows()).toEqual([]);

    await d1.run("DELETE FROM posts");
    await d1.run("DELETE FROM users");
    const a = await d1.insertUser("A");
    await d2.insertUser("B");
    await d1.client.sync();
    await d2.client.sync();
    await d1.client.sync();
    await d1.run("DELETE FROM users WHERE id = ?", [a]);
    await d1.client.sync();
    await d2.client.sync();
    for (const device of [d1, d2, await attached(user)]) expect(await device.names()).toEqual(["B"]);
  });

  it("MD-03 a long mixed sequence of creates, updates, deletes and a re-insert converges", async () => {
    const user = await newUser(server, "md03");
    const d1 = await attached(user);
    const d2 = await attached(user);
    const ids: Record<string, string> = {};
    const step = async (device: Device, action: () => Promise<unknown>) => {
      await action();
      await device.client.sync();
      await (device === d1 ? d2 : d1).client.sync();
    };
    const add = (device: Device, name: string) => async () => {
      ids[name] = await device.insertUser(name, ids[name]);
    };
    const rename = (device: Device, name: string, to: string) => () => device.renameUser(ids[name]!, to);
    const remove = (device: Device, name: string) => () =>
      device.run("DELETE FROM users WHERE id = ?", [ids[name]!]);
    for (const name of ["A1", "A2", "A3"]) await step(d1, add(d1, name));
    for (const name of ["B1", "B2"]) await step(d2, add(d2, name));
    await step(d1, rename(d1, "A2", "A2"));
    await step(d2, remove(d2, "A1"));
    await step(d1, add(d1, "B3"));
    await step(d2, rename(d2, "B2", "B2"));
    await step(d1, remove(d1, "A3"));
    await step(d1, add(d1, "A3"));
    await step(d1, rename(d1, "A3", "A3"));
    for (const device of [d1, d2, await attached(user)]) {
      expect(await device.names()).toEqual(["A2", "A3", "B1", "B2", "B3"]);
    }
  });

  it("MD-04 three devices take turns authoring rich batches and agree on every table", async () => {
    const user = await newUser(server, "md04");
    const trio = [
      await attached(user, { uploadLimit: 8, downloadLimit: 2 }),
      await attached(user, { uploadLimit: 8, downloadLimit: 2 }),
      await attached(user, { uploadLimit: 8, downloadLimit: 2 }),
    ] as const;
    const hot = await trio[0].insertUser("Hot round 0");
    for (const [round, device] of [trio[0], trio[1], trio[2]].entries()) {
      await device.client.pullToStable();
      await device.renameUser(hot, `Hot round ${round + 1}`);
      await richBatch(device, `round ${round + 1}`);
      await device.client.pushPending();
    }
    await trio[0].client.pullToStable();
    await richBatch(trio[0], "extra");
    await trio[0].client.pushPending();
    for (const device of trio) await device.client.pullToStable();
    const reference = await contents(trio[0]);
    expect(reference.users).toHaveLength(9);
    expect(reference.teams).toHaveLength(4);
    for (const device of trio) {
      expect(await device.client.lastBundleSeqSeen()).toBe(4);
      expect(await contents(device)).toEqual(reference);
      expect(await device.userName(hot)).toBe("Hot round 3");
      expect(await device.query("PRAGMA foreign_key_check")).toEqual([]);
      expect(await device.dirtyRows()).toEqual([]);
    }
  });

  it("MD-05 two writers with one-row chunks interleave six rounds and every device ends identical", async () => {
    const user = await newUser(server, "md05");
    const small = { uploadLimit: 1, downloadLimit: 1 };
    const [a, b, observer] = [
      await attached(user, small),
      await attached(user, small),
      await attached(user, small),
    ];
    for (let round = 1; round <= 6; round++) {
      await a.insertPost(await a.insertUser(`A user ${round}`), `A post ${round}`);
      await a.client.pushPending();
      await b.client.pullToStable();
      await b.insertPost(await b.insertUser(`B user ${round}`), `B post ${round}`);
      await b.client.pushPending();
      await a.client.pullToStable();
      await observer.client.pullToStable();
    }
    await b.client.pullToStable();
    for (const device of [a, b, observer]) {
      expect(await device.count("users")).toBe(12);
      expect(await device.count("posts")).toBe(12);
      expect(
        await device.userName(
          (await a.query<{ id: string }>("SELECT id FROM users WHERE name = 'B user 6'"))[0]!.id,
        ),
      ).toBe("B user 6");
      expect(await device.client.lastBundleSeqSeen()).toBe(12);
      expect(await device.isClean()).toBe(true);
    }
  });

  it("MD-06 two devices exchange fifty user/post pairs in batches and match bundle for bundle", async () => {
    const user = await newUser(server, "md06");
    const a = await attached(user, { uploadLimit: 16, downloadLimit: 2 });
    const b = await attached(user, { uploadLimit: 16, downloadLimit: 2 });
    const batches = async (device: Device, label: string, count: number) => {
      for (let batch = 1; batch <= count; batch++) {
        for (let n = 1; n <= 5; n++)
          await device.insertPost(
            await device.insertUser(`${label} ${batch}.${n}`),
            `${label} post ${batch}.${n}`,
          );
        await device.client.pushPending();
      }
    };
    await batches(a, "A", 6);
    expect(await b.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 6 } });
    expect([await b.count("users"), await b.count("posts")]).toEqual([30, 30]);
    await batches(b, "B", 4);
    // B's own commits 7–10 follow its checkpoint directly, so its checkpoint advances with them.
    expect(await b.client.lastBundleSeqSeen()).toBe(10);
    await a.client.pullToStable();
    for (const device of [a, b]) {
      expect([await device.count("users"), await device.count("posts")]).toEqual([50, 50]);
      expect(await device.client.lastBundleSeqSeen()).toBe(10);
    }
    expect(await contents(a)).toEqual(await contents(b));
  });

  it("MD-07 a follower pulling only every fourth round of twelve large rounds stays exact", async () => {
    const user = await newUser(server, "md07");
    const leader = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    const follower = await attached(user, { uploadLimit: 8, downloadLimit: 2 });
    const hot = await leader.insertUser("Hot");
    await leader.client.pushPending();
    for (let round = 1; round <= 12; round++) {
      await leader.renameUser(hot, `Hot round ${round}`);
      for (let n = 1; n <= 5; n++)
        await leader.insertPost(await leader.insertUser(`R${round} user ${n}`), `R${round} post ${n}`);
      await leader.client.pushPending();
      if (round % 4 === 0) {
        expect((await follower.client.pullToStable()).syncStatus.lastBundleSeqSeen).toBe(round + 1);
      }
    }
    for (const device of [leader, follower]) expect(await device.client.lastBundleSeqSeen()).toBe(13);
    expect(await contents(follower)).toEqual(await contents(leader));
    expect(await follower.userName(hot)).toBe("Hot round 12");
    expect(await follower.isClean()).toBe(true);
  });

  it("HV-01 HV-02 readers on the syncing connection always see whole states while it catches up (scaled down)", async () => {
    // Upstream runs 40–160 remote rounds and thousands of reads; a tenth keeps the same overlap.
    const user = await newUser(server, "hv01");
    const seed = await attached(user, { uploadLimit: 4, downloadLimit: 1 });
    const remoteIds: string[] = [];
    for (let n = 0; n < 16; n++) remoteIds.push(await seed.insertUser(`remote ${n}:0`));
    await seed.client.pushPending();
    const active = await attached(user, { uploadLimit: 4, downloadLimit: 1 });
    const localIds: string[] = [];
    for (let n = 0; n < 16; n++) localIds.push(await active.insertUser(`local ${n}:0`));
    await active.client.sync();
    await seed.client.pullToStable();

    let stop = false;
    const seen: number[] = [];
    const reader = async () => {
      while (!stop) {
        const rows = await active.query<{ id: string }>(
          "SELECT u.* FROM users u ORDER BY u.name LIMIT 100 OFFSET 0",
        );
        seen.push(rows.length);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const readers = [reader(), reader()];
    const counter = new Map<string, number>();
    for (let round = 1; round <= 12; round++) {
      const remote = remoteIds[round % 16]!;
      await seed.renameUser(remote, `remote ${round % 16}:${round}`);
      await seed.client.pushPending();
      for (let step = 0; step < 4; step++) {
        const local = localIds[(round * 4 + step) % 16]!;
        const next = (counter.get(local) ?? 0) + 1;
        counter.set(local, next);
        await active.renameUser(local, `local ${localIds.indexOf(local)}:${next}`);
      }
      await active.client.sync();
    }
    stop = true;
    await Promise.all(readers);
    await seed.client.pullToStable();
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([32]));
    expect(await contents(active)).toEqual(await contents(seed));
    for (const device of [seed, active]) expect(await device.isClean()).toBe(true);
    expect(await active.client.lastBundleSeqSeen()).toBe(await seed.client.lastBundleSeqSeen());
  });

  it("PU-24 simulator complex multi-batch: chunked graphs with BLOBs, crashes around the commit, pruning and a stale device (scaled down)", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "pu24");
    const phone = await attached(user, { uploadLimit: 40 });
    const originalUsers: string[] = [];
    const originalPosts: string[] = [];
    await phone.driver.transaction(async (tx) => {
      for (let u = 1; u <= 5; u++) {
        const id = randomUUID();
        originalUsers.push(id);
        for (let p = 1; p <= 20; p++) {
          const post = randomUUID();
          originalPosts.push(post);
          await tx.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, 'c', ?)", [
            post,
            `p${u}.${p}`,
            id,
          ]);
        }
        await tx.run("INSERT INTO users (id, name, email) VALUES (?, ?, 'e')", [id, `u${u}`]);
      }
    });
    for (let group = 1; group <= 5; group++) await richBatch(phone, `phone group ${group}`);
    await phone.client.pushPending();
    expect(phone.net.count("push_session_chunk")).toBeGreaterThan(1);

    const laptop = await devices.open(user, { uploadLimit: 40, snapshotChunkRows: 25, retry: "none" });
    expect(await laptop.client.attach(user.id)).toMatchObject({ outcome: "used_remote_state" });
    expect(laptop.net.count("snapshot_chunk")).toBeGreaterThan(1);
    const newUsers: string[] = [];
    for (let u = 1; u <= 5; u++) {
      const id = await laptop.insertUser(`new ${u}`);
      newUsers.push(id);
      for (let p = 1; p <= 4; p++) await laptop.insertPost(id, `new ${u}.${p}`);
    }
    for (const id of originalUsers.slice(0, 2))
      await laptop.run("UPDATE users SET email = 'updated' WHERE id = ?", [id]);
    for (const id of newUsers.slice(0, 3))
      await laptop.run("UPDATE users SET email = 'updated' WHERE id = ?", [id]);
    for (const id of originalPosts.slice(0, 8))
      await laptop.run("UPDATE posts SET content = 'updated' WHERE id = ?", [id]);
    for (const id of originalPosts.slice(8, 13)) await laptop.run("DELETE FROM posts WHERE id = ?", [id]);
    for (const id of newUsers.slice(3)) {
      await laptop.run("DELETE FROM posts WHERE author_id = ?", [id]);
      await laptop.run("DELETE FROM users WHERE id = ?", [id]);
    }
    for (let group = 1; group <= 5; group++) await richBatch(laptop, `laptop group ${group}`);

    // A crash before the commit: the restarted laptop uploads the whole frozen bundle again.
    await failRequests(server, user, { endpoint: "push_session_commit", disconnect: true });
    await expect(laptop.client.pushPending()).rejects.toMatchObject({ code: "network_error" });
    let restarted = await laptop.restart({ uploadLimit: 40, retry: "none" });
    await restarted.client.attach(user.id);
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
    expect(restarted.net.to("push_session_chunk")[0]!.body).toMatchObject({ start_row_ordinal: 0 });

    // A crash after the commit, before the replay: the restarted laptop finds it already committed.
    await restarted.run("UPDATE posts SET content = 'second batch' WHERE id = ?", [originalPosts[20]!]);
    await failRequests(server, user, { endpoint: "push_session_commit", disconnect: true, when: "after" });
    await expect(restarted.client.pushPending()).rejects.toMatchObject({ code: "network_error" });
    restarted = await restarted.restart({ uploadLimit: 40, retry: "none" });
    await restarted.client.attach(user.id);
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
    expect(restarted.net.count("push_session_chunk")).toBe(0);
    expect(restarted.net.count("committed_bundle_rows")).toBeGreaterThan(0);
    expect((await restarted.client.pullToStable()).outcome).toBe("already_at_target");

    await setRetainedFloor(server, user, await restarted.client.lastBundleSeqSeen());
    expect(await phone.client.pullToStable()).toMatchObject({ outcome: "applied_snapshot" });
    const check = await attached(user);
    const expected = await contents(restarted);
    expect(expected.users).toHaveLength(5 + 3 + 10 + 10);
    expect(expected.posts).toHaveLength(100 - 5 + 12 + 10 + 10);
    for (const device of [phone, check]) {
      expect(await contents(device)).toEqual(expected);
      expect(await device.query("PRAGMA foreign_key_check")).toEqual([]);
    }
  });
});
