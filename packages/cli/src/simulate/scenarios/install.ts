/**
 * Installing and reinstalling: a first install used before sign-in, everyday use on one device, a
 * reinstall that restores the account, and a new phone replacing an old one.
 */
import { rm } from "node:fs/promises";
import { addPost, addUser, deleteUser, newId, renameUser, userNames } from "../app-data.js";
import { expectConverged } from "../convergence.js";
import type { Scenario } from "../scenario.js";
import { check, checkEqual } from "../scenario.js";

const freshInstall: Scenario = {
  name: "fresh-install",
  description: "signed-out use, then sign-in seeds the new account",
  async run(context) {
    const phone = await context.step("install the app", () => context.openDevice("phone"));
    const users = Array.from({ length: 5 }, newId);
    const posts = users.map(newId);
    await context.step(
      "use it signed out: 5 users with a post each, rename 2, delete 1 with its post",
      async () => {
        for (const [index, id] of users.entries()) {
          await addUser(phone, id, `User ${index + 1}`);
          await addPost(phone, posts[index]!, id, `Post by user ${index + 1}`);
        }
        await renameUser(phone, users[0]!, "User 1 renamed");
        await renameUser(phone, users[1]!, "User 2 renamed");
        await phone.run("DELETE FROM posts WHERE id = ?", [posts[4]!]);
        await deleteUser(phone, users[4]!);
      },
    );
    await context.step("the signed-out writes wait in the queue", async () => {
      const pending = await phone.client.pendingSyncStatus();
      check(pending.hasPendingSyncData, "signed-out writes must be queued for the first sync");
      // Ten keys were touched; the two deleted before any push leave nothing to upload.
      checkEqual((await phone.syncState()).dirtyRows, 10n, "queued keys before sign-in");
    });
    await context.step("sign in: the new account is seeded from the local rows", async () => {
      const attached = await phone.attach(context.userId);
      checkEqual(attached.outcome, "seeded_from_local", "attach outcome");
    });
    const sourceId = (await phone.syncState()).sourceId;
    await context.step("first sync uploads the seed as one bundle", async () => {
      const report = await phone.client.sync();
      checkEqual(
        [report.pushOutcome, report.syncStatus.pending.pendingRowCount],
        ["committed", 0],
        "first sync",
      );
      checkEqual(
        [await phone.count("users"), await phone.count("posts")],
        [4, 4],
        "users and posts after sync",
      );
      const names = await userNames(phone);
      checkEqual(names.get(users[0]!), "User 1 renamed", "renamed user");
      check(!names.has(users[4]!), "the deleted user must stay deleted");
      const bundles = await context.postgres?.bundles(context.userId);
      if (bundles !== undefined) {
        checkEqual(
          bundles.map((bundle) => [bundle.sourceId, bundle.rowCount]),
          [[sourceId, 8]],
          "PostgreSQL bundle log: one bundle of 8 rows from the phone (deleted rows dropped)",
        );
      }
    });
    await context.step("restart the app: it resumes its attachment without the network", async () => {
      await phone.restart();
      const before = phone.requests.length;
      checkEqual(
        (await phone.attach(context.userId)).outcome,
        "resumed_attached_state",
        "attach after restart",
      );
      checkEqual(phone.requestsTo("POST", "/sync/connect", before).length, 0, "connect requests on resume");
      const report = await phone.client.sync();
      checkEqual(
        [report.pushOutcome, report.remoteOutcome],
        ["no_change", "already_at_target"],
        "sync after restart",
      );
    });
    await context.step("the phone and the server agree", () => expectConverged(context, [phone]));
  },
};

const normalUsage: Scenario = {
  name: "normal-usage",
  description: "create/update/delete rounds, one bundle per sync",
  async run(context) {
    const phone = await context.step("install and sign in to a new account", async () => {
      const device = await context.openDevice("phone");
      checkEqual((await device.attach(context.userId)).outcome, "started_empty", "attach outcome");
      return device;
    });
    const live: string[] = [];
    for (let round = 1; round <= 3; round++) {
      await context.step(`round ${round}: add 3 users, rename one, delete one, sync`, async () => {
        const before = (await phone.syncState()).lastBundleSeqSeen;
        for (let index = 1; index <= 3; index++) {
          const id = newId();
          await addUser(phone, id, `Round ${round} user ${index}`);
          live.push(id);
        }
        await renameUser(phone, live[0]!, `Renamed in round ${round}`);
        await deleteUser(phone, live.splice(1, 1)[0]!);
        const report = await phone.client.sync();
        checkEqual(report.pushOutcome, "committed", "push outcome");
        checkEqual(BigInt(report.syncStatus.lastBundleSeqSeen), before + 1n, "one bundle per round");
        checkEqual([...(await userNames(phone)).keys()].sort(), [...live].sort(), "users on the phone");
      });
    }
    await context.step("an idle sync pushes and pulls nothing", async () => {
      const before = (await phone.syncState()).lastBundleSeqSeen;
      const report = await phone.client.sync();
      checkEqual([report.pushOutcome, report.remoteOutcome], ["no_change", "already_at_target"], "idle sync");
      checkEqual(BigInt(report.syncStatus.lastBundleSeqSeen), before, "checkpoint after an idle sync");
      const bundles = await context.postgres?.bundles(context.userId);
      if (bundles !== undefined) checkEqual(bundles.length, 3, "PostgreSQL bundles: one per round");
    });
    await context.step("the phone and the server agree", () => expectConverged(context, [phone]));
  },
};

const reinstall: Scenario = {
  name: "reinstall",
  description: "the app is reinstalled; sign-in restores the account",
  async run(context) {
    const users = [newId(), newId(), newId()];
    let phone = await context.step("first install: sign in, add 3 users and a post, sync", async () => {
      const device = await context.openDevice("phone");
      await device.attach(context.userId);
      for (const [index, id] of users.entries()) await addUser(device, id, `Reinstall user ${index + 1}`);
      await addPost(device, newId(), users[0]!, "Before the reinstall");
      checkEqual((await device.client.sync()).pushOutcome, "committed", "push outcome");
      return device;
    });
    const firstSource = (await phone.syncState()).sourceId;
    await context.step("uninstall: the database file is deleted", async () => {
      await phone.close();
      for (const suffix of ["", "-wal", "-shm", "-journal"])
        await rm(`${phone.file}${suffix}`, { force: true });
    });
    phone = await context.step("reinstall and sign in: the account's rows are restored", async () => {
      const device = await context.openDevice("phone");
      const attached = await device.attach(context.userId);
      checkEqual(attached.outcome, "used_remote_state", "attach outcome");
      checkEqual(attached.restore?.rowCount, 4, "rows restored from the snapshot");
      checkEqual([...(await userNames(device)).keys()].sort(), [...users].sort(), "restored users");
      return device;
    });
    const secondSource = (await phone.syncState()).sourceId;
    check(secondSource !== firstSource, "a reinstalled app must write under a new source id");
    await context.step("an explicit rebuild keeps the source and the rows", async () => {
      const report = await phone.client.rebuild();
      checkEqual(report.outcome, "applied_snapshot", "rebuild outcome");
      checkEqual((await phone.syncState()).sourceId, secondSource, "source after a keep-source rebuild");
      checkEqual(await phone.count("users"), 3, "users after rebuild");
    });
    await context.step("write after the reinstall and sync", async () => {
      await addUser(phone, newId(), "After the reinstall");
      checkEqual((await phone.client.sync()).pushOutcome, "committed", "push outcome");
      const sources = await context.postgres?.sources(context.userId);
      if (sources !== undefined) {
        const ours = sources.find((source) => source.sourceId === secondSource);
        checkEqual(ours?.lastSourceBundleId, 1n, "PostgreSQL: the new source's first bundle");
        check(
          sources.some((source) => source.sourceId === firstSource),
          "PostgreSQL still knows the first install's source",
        );
      }
    });
    await context.step("the phone and the server agree", () => expectConverged(context, [phone]));
  },
};

const deviceReplacement: Scenario = {
  name: "device-replacement",
  description: "a new phone takes over; the old one syncs and signs out",
  async run(context) {
    const original = newId();
    const replacement = newId();
    const oldPhone = await context.step("old phone: sign in, add a user, sync", async () => {
      const device = await context.openDevice("old-phone");
      await device.attach(context.userId);
      await addUser(device, original, "From the old phone");
      checkEqual((await device.client.sync()).pushOutcome, "committed", "push outcome");
      return device;
    });
    const newPhone = await context.step("new phone: sign in restores the account", async () => {
      const device = await context.openDevice("new-phone");
      checkEqual((await device.attach(context.userId)).outcome, "used_remote_state", "attach outcome");
      checkEqual([...(await userNames(device)).keys()], [original], "users on the new phone");
      return device;
    });
    await context.step("the new phone writes; both phones sync", async () => {
      await addUser(newPhone, replacement, "From the new phone");
      checkEqual((await newPhone.client.sync()).pushOutcome, "committed", "new phone push");
      await oldPhone.client.sync();
      checkEqual(
        (await userNames(oldPhone)).get(replacement),
        "From the new phone",
        "old phone sees the new row",
      );
      await expectConverged(context, [oldPhone, newPhone]);
    });
    await context.step("the old phone syncs and signs out: its synced tables are emptied", async () => {
      await addUser(oldPhone, newId(), "Last write on the old phone");
      const result = await oldPhone.client.syncThenDetach();
      checkEqual([result.isSuccess, result.detach], [true, "detached"], "syncThenDetach");
      checkEqual(await oldPhone.count("users"), 0, "users left on the old phone");
      checkEqual((await oldPhone.syncState()).bindingState, "anonymous", "old phone binding");
    });
    await context.step("the new phone gets the old phone's last write", async () => {
      await newPhone.client.sync();
      checkEqual(await newPhone.count("users"), 3, "users on the new phone");
      await expectConverged(context, [newPhone]);
    });
  },
};

export const INSTALL_SCENARIOS: readonly Scenario[] = [
  freshInstall,
  normalUsage,
  reinstall,
  deviceReplacement,
];
