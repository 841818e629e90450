/**
 * Several devices of one user editing the same data: a delete that must not come back, a long
 * mixed session, and a foreign-key graph (self-reference, a cycle, cascades) that reaches other
 * devices only whole, one bundle at a time.
 */
import { addPost, addUser, deleteUser, newId, renameUser, userNames } from "../app-data.js";
import { expectConverged } from "../convergence.js";
import type { Device } from "../device.js";
import { type Scenario, type ScenarioContext, check, checkEqual } from "../scenario.js";
import { signInDevices } from "./sign-in.js";

const multiDeviceSync: Scenario = {
  name: "multi-device-sync",
  description: "two devices; a deleted row must not come back anywhere",
  async run(context) {
    const [first, second] = await signInDevices(context, ["device-1", "device-2"]);
    const personA = newId();
    const personB = newId();
    await context.step("each device adds a user and syncs", async () => {
      await addUser(first, personA, "Person A (device 1)");
      await addUser(second, personB, "Person B (device 2)");
      checkEqual((await first.client.sync()).pushOutcome, "committed", "device 1 push");
      checkEqual((await second.client.sync()).pushOutcome, "committed", "device 2 push");
      await first.client.sync();
      checkEqual([...(await userNames(first)).keys()].sort(), [personA, personB].sort(), "users on device 1");
    });
    await context.step("device 1 deletes person A and syncs; it stays deleted", async () => {
      await deleteUser(first, personA);
      checkEqual((await first.client.sync()).pushOutcome, "committed", "delete push");
      await first.client.sync();
      check(!(await userNames(first)).has(personA), "person A came back on device 1 after sync");
    });
    await context.step("device 2 pulls the delete", async () => {
      checkEqual((await second.client.pullToStable()).outcome, "applied_incremental", "device 2 pull");
      checkEqual([...(await userNames(second)).keys()], [personB], "users on device 2");
      const states = await context.postgres?.rowStates(context.userId, "users");
      if (states !== undefined) checkEqual(states, { live: 1, deleted: 1 }, "PostgreSQL users row versions");
    });
    await context.step("both devices and the server agree", () => expectConverged(context, [first, second]));
  },
};

const multiDeviceComplex: Scenario = {
  name: "multi-device-complex",
  description: "a long two-device session of adds, edits, deletes, a re-add",
  async run(context) {
    const [one, two] = await signInDevices(context, ["device-1", "device-2"]);
    const [a1, a2, a3, b1, b2, b3, post] = Array.from({ length: 7 }, newId) as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const sync = async (device: Device) => {
      await device.client.pushPending();
      await device.client.pullToStable();
    };
    const moves: [string, Device, () => Promise<void>][] = [
      ["device 1 adds A1, A2, A3", one, () => addUsers(one, [a1, "A1"], [a2, "A2"], [a3, "A3"])],
      ["device 2 adds B1, B2", two, () => addUsers(two, [b1, "B1"], [b2, "B2"])],
      ["device 1 renames A2", one, () => renameUser(one, a2, "A2 renamed")],
      [
        "device 2 deletes A1 and adds a post by A2",
        two,
        async () => {
          await deleteUser(two, a1);
          await addPost(two, post, a2, "Post by A2");
        },
      ],
      ["device 1 adds B3", one, () => addUser(one, b3, "B3")],
      ["device 2 renames B2", two, () => renameUser(two, b2, "B2 renamed")],
      ["device 1 deletes A3", one, () => deleteUser(one, a3)],
      ["device 1 adds A3 again", one, () => addUser(one, a3, "A3 again")],
      ["device 1 renames the new A3", one, () => renameUser(one, a3, "A3 again renamed")],
    ];
    for (const [name, device, move] of moves) {
      await context.step(`${name}, then syncs`, async () => {
        await move();
        await sync(device);
      });
    }
    await context.step("both devices pull and hold exactly the expected users", async () => {
      await one.client.pullToStable();
      await two.client.pullToStable();
      const expected = new Map([
        [a2, "A2 renamed"],
        [a3, "A3 again renamed"],
        [b1, "B1"],
        [b2, "B2 renamed"],
        [b3, "B3"],
      ]);
      for (const device of [one, two]) {
        checkEqual([...(await userNames(device))].sort(), [...expected].sort(), `users on ${device.name}`);
        checkEqual(await device.count("posts"), 1, `posts on ${device.name}`);
      }
    });
    await context.step("both devices and the server agree", () => expectConverged(context, [one, two]));
  },
};

const bundleFkAtomicity: Scenario = {
  name: "bundle-fk-atomicity",
  description: "an FK graph (self-ref, cycle, cascade) moves whole, per bundle",
  async run(context) {
    const ids = {
      user: newId(),
      post: newId(),
      root: newId(),
      child: newId(),
      team: newId(),
      member: newId(),
    };
    const graphTables = ["users", "posts", "categories", "teams", "team_members"];
    const writer = await context.step(
      "device 1: sign in and write the graph in one transaction",
      async () => {
        const device = await context.openDevice("device-1");
        await device.attach(context.userId);
        await device.edit(async (run) => {
          await run("INSERT INTO users (id, name, email) VALUES (?, 'Ada', 'ada@example.com')", [ids.user]);
          await run("INSERT INTO posts (id, title, content, author_id) VALUES (?, 'Hello', 'Seed', ?)", [
            ids.post,
            ids.user,
          ]);
          await run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Root', NULL)", [ids.root]);
          await run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Child', ?)", [
            ids.child,
            ids.root,
          ]);
          // The cycle: the team names its captain before the member row exists.
          await run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, 'Alpha', ?)", [
            ids.team,
            ids.member,
          ]);
          await run("INSERT INTO team_members (id, name, team_id) VALUES (?, 'Captain', ?)", [
            ids.member,
            ids.team,
          ]);
        });
        checkEqual((await device.syncState()).dirtyRows, 6n, "queued rows before the push");
        return device;
      },
    );
    const seedSeq = await context.step("device 1 pushes the graph as one bundle", async () => {
      const report = await writer.client.pushPending();
      checkEqual([report.outcome, report.syncStatus.pending.pendingRowCount], ["committed", 0], "seed push");
      await expectBundleRows(context, BigInt(report.syncStatus.lastBundleSeqSeen), 6);
      return BigInt(report.syncStatus.lastBundleSeqSeen);
    });
    const readers: Device[] = [];
    for (const name of ["device-2", "device-3"]) {
      await context.step(`${name}: sign in restores the whole graph`, async () => {
        const device = await context.openDevice(name);
        const attached = await device.attach(context.userId);
        checkEqual([attached.outcome, attached.restore?.rowCount], ["used_remote_state", 6], "attach");
        checkEqual(await counts(device, graphTables), [1, 1, 2, 1, 1], `graph on ${name}`);
        checkEqual((await device.syncState()).lastBundleSeqSeen, seedSeq, `${name} checkpoint`);
        readers.push(device);
      });
    }
    const [editor, follower] = readers as [Device, Device];
    await context.step("device 2 renames the child category locally, without syncing", () =>
      editor.run("UPDATE categories SET name = 'Child draft' WHERE id = ?", [ids.child]),
    );
    const deleteSeq = await context.step(
      "device 1 deletes the graph (cascading) and pushes one bundle",
      async () => {
        await writer.edit(async (run) => {
          await run("DELETE FROM categories WHERE id = ?", [ids.root]);
          await run("DELETE FROM teams WHERE id = ?", [ids.team]);
          await run("DELETE FROM posts WHERE id = ?", [ids.post]);
          await run("DELETE FROM users WHERE id = ?", [ids.user]);
        });
        const report = await writer.client.pushPending();
        checkEqual(report.outcome, "committed", "delete push");
        checkEqual(BigInt(report.syncStatus.lastBundleSeqSeen), seedSeq + 1n, "delete bundle sequence");
        // The cascaded child category and team member travel in the same bundle.
        await expectBundleRows(context, BigInt(report.syncStatus.lastBundleSeqSeen), 6);
        return report.syncStatus.lastBundleSeqSeen;
      },
    );
    await context.step("device 3 applies the delete bundle in one transaction", async () => {
      const changes: string[][] = [];
      const unsubscribe = follower.client.onTablesChanged(({ tables, origin }) => {
        if (origin === "sync") changes.push([...tables].sort());
      });
      try {
        const report = await follower.client.pullToStable();
        checkEqual(
          [report.outcome, report.syncStatus.lastBundleSeqSeen],
          ["applied_incremental", deleteSeq],
          "pull",
        );
      } finally {
        unsubscribe();
      }
      checkEqual(
        changes,
        [[...graphTables].sort()],
        "sync table-change notifications (one per applied bundle)",
      );
      checkEqual(await counts(follower, graphTables), [0, 0, 0, 0, 0], "graph on device 3");
    });
    await context.step("device 2 pulls with its edit queued; the next sync lets the server win", async () => {
      const pulled = await editor.client.pullToStable();
      checkEqual(pulled.syncStatus.lastBundleSeqSeen, deleteSeq, "device 2 checkpoint after the pull");
      checkEqual(await editor.count("categories"), 0, "categories on device 2 after the pull");
      checkEqual(pulled.syncStatus.pending.pendingRowCount, 1, "device 2's edit stays queued");
      await editor.client.sync();
      checkEqual(await counts(editor, graphTables), [0, 0, 0, 0, 0], "graph on device 2 after sync");
      const states = await context.postgres?.rowStates(context.userId, "categories");
      if (states !== undefined)
        checkEqual(states, { live: 0, deleted: 2 }, "PostgreSQL category row versions");
    });
    await context.step("all three devices and the server agree", () =>
      expectConverged(context, [writer, editor, follower]),
    );
  },
};

async function addUsers(device: Device, ...users: [string, string][]): Promise<void> {
  for (const [id, name] of users) await addUser(device, id, name);
}

async function counts(device: Device, tables: readonly string[]): Promise<number[]> {
  const result: number[] = [];
  for (const table of tables) result.push(await device.count(table));
  return result;
}

/** With `--db`: the bundle `seq` of the run's user holds `rows` rows. */
async function expectBundleRows(context: ScenarioContext, seq: bigint, rows: number): Promise<void> {
  const bundles = await context.postgres?.bundles(context.userId);
  if (bundles === undefined) return;
  checkEqual(
    bundles.find((bundle) => bundle.bundleSeq === seq)?.rowCount,
    rows,
    `PostgreSQL rows of bundle ${seq}`,
  );
}

export const MULTI_DEVICE_SCENARIOS: readonly Scenario[] = [
  multiDeviceSync,
  multiDeviceComplex,
  bundleFkAtomicity,
];
