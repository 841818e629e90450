/**
 * A device's life around the network and the account: losing the network (writes keep working and
 * wait, sync fails with a network error and loses nothing, coming back delivers everything both
 * ways, by hand and by the automatic downloads), and several accounts on one shared device (signing
 * out empties the synced tables, each account sees only its own rows).
 */
import { isSyncClientError } from "@oversync/client";
import { addPost, addUser, deleteUser, newId, renameUser, userNames } from "../app-data.js";
import { expectConverged } from "../convergence.js";
import type { Device } from "../device.js";
import { EXAMPLE_TABLES } from "../../example-schema.js";
import { startNetworkProxy } from "../network-proxy.js";
import { type Scenario, check, checkEqual, sleep, waitFor } from "../scenario.js";

/** Client error codes a sync may end with while the network is down. */
const NETWORK_FAILURES: ReadonlySet<string> = new Set([
  "network_error",
  "transient_retry_exhausted",
  "timeout",
]);

const offlineOnline: Scenario = {
  name: "offline-online",
  description: "offline writes wait; back online they sync both ways",
  async run(context) {
    const network = await startNetworkProxy(context.serverUrl);
    context.defer(() => network.close());
    const [alice, bob, carol, dave] = [newId(), newId(), newId(), newId()];
    const phone = await context.step(
      "phone (through its own network): sign in, add 2 users, sync",
      async () => {
        const device = await context.openDevice("phone", { serverUrl: network.url });
        await device.attach(context.userId);
        await addUser(device, alice, "Alice");
        await addUser(device, bob, "Bob");
        checkEqual((await device.client.sync()).pushOutcome, "committed", "push outcome");
        return device;
      },
    );
    const tablet = await context.step("tablet: sign in restores the 2 users", async () => {
      const device = await context.openDevice("tablet");
      checkEqual((await device.attach(context.userId)).restore?.rowCount, 2, "rows restored");
      return device;
    });
    const checkpoint = (await phone.syncState()).lastBundleSeqSeen;
    await context.step("the phone loses the network; it writes 3 changes and its sync fails", async () => {
      await network.offline();
      await addUser(phone, carol, "Carol (offline)");
      await renameUser(phone, alice, "Alice (renamed offline)");
      await deleteUser(phone, bob);
      const failure = await phone.client.sync().then(
        () => undefined,
        (error: unknown) => error,
      );
      check(
        isSyncClientError(failure) && NETWORK_FAILURES.has(failure.code),
        `an offline sync must fail with a network error, got ${failure === undefined ? "success" : String(failure)}`,
      );
      checkEqual((await phone.client.pendingSyncStatus()).pendingRowCount, 3, "changes waiting on the phone");
      checkEqual((await phone.syncState()).lastBundleSeqSeen, checkpoint, "phone checkpoint while offline");
      checkEqual(
        [...(await userNames(phone))].sort(),
        [
          [alice, "Alice (renamed offline)"],
          [carol, "Carol (offline)"],
        ].sort(),
        "the phone shows its offline writes",
      );
    });
    await context.step("meanwhile the tablet renames Alice too and adds Dave", async () => {
      await renameUser(tablet, alice, "Alice (renamed on the tablet)");
      await addUser(tablet, dave, "Dave");
      checkEqual((await tablet.client.sync()).pushOutcome, "committed", "tablet push");
    });
    await context.step(
      "back online, one sync delivers both ways (the tablet's Alice wins the conflict)",
      async () => {
        await network.online();
        checkEqual((await phone.client.sync()).pushOutcome, "committed", "phone push");
        await tablet.client.sync();
        const expected = [
          [alice, "Alice (renamed on the tablet)"],
          [carol, "Carol (offline)"],
          [dave, "Dave"],
        ].sort();
        for (const device of [phone, tablet]) {
          checkEqual([...(await userNames(device))].sort(), expected, `users on ${device.name}`);
        }
        await expectConverged(context, [phone, tablet]);
      },
    );
    const erin = newId();
    await context.step(
      "with automatic downloads on, the phone goes offline and misses a tablet write",
      async () => {
        phone.client.start({ intervalMillis: 200, reconnectMinMillis: 100, reconnectMaxMillis: 400 });
        context.defer(() => phone.client.stop());
        await network.offline();
        await addUser(tablet, erin, "Erin");
        checkEqual((await tablet.client.sync()).pushOutcome, "committed", "tablet push");
        await sleep(600);
        check(!(await userNames(phone)).has(erin), "the phone cannot have Erin while its network is down");
      },
    );
    await context.step("back online, the automatic downloads catch up by themselves", async () => {
      await network.online();
      await waitFor("the phone to download Erin after the network came back", async () =>
        (await userNames(phone)).has(erin),
      );
      await phone.client.stop();
      await expectConverged(context, [phone, tablet]);
    });
  },
};

const userSwitch: Scenario = {
  name: "user-switch",
  description: "accounts take turns on one device; each sees only its rows",
  async run(context) {
    const userA = context.userId;
    const userB = context.newUserId("b");
    const aRows = [newId(), newId(), newId()];
    const [guest, bRow] = [newId(), newId()];
    const shared = await context.step(
      "A signs in on the shared device, adds 2 users and a post, syncs",
      async () => {
        const device = await context.openDevice("shared");
        await device.attach(userA);
        await addUser(device, aRows[0]!, "A's first user");
        await addUser(device, aRows[1]!, "A's second user");
        await addPost(device, newId(), aRows[0]!, "A's post");
        checkEqual((await device.client.sync()).pushOutcome, "committed", "push outcome");
        return device;
      },
    );
    await context.step("A writes again; signing out is refused while that write is unsynced", async () => {
      await addUser(shared, aRows[2]!, "A's unsynced user");
      const refused = await shared.client.detach();
      checkEqual(
        [refused.outcome, refused.pendingRowCount],
        ["blocked_unsynced_data", 1],
        "detach with a pending write",
      );
      checkEqual((await shared.syncState()).attachedUserId, userA, "still signed in as A");
    });
    await context.step("A syncs and signs out: every synced table is emptied", async () => {
      const result = await shared.client.syncThenDetach();
      checkEqual([result.isSuccess, result.detach], [true, "detached"], "syncThenDetach");
      await expectEmpty(shared);
      checkEqual((await shared.syncState()).bindingState, "anonymous", "binding after sign-out");
    });
    await context.step("signed out, the app writes a guest row; it is queued at once", async () => {
      await addUser(shared, guest, "Guest");
      checkEqual(
        (await shared.client.pendingSyncStatus()).pendingRowCount,
        1,
        "pending rows while signed out",
      );
    });
    await context.step(
      "B signs in: the guest row seeds B's new account; none of A's rows appear",
      async () => {
        checkEqual((await shared.attach(userB)).outcome, "seeded_from_local", "attach outcome");
        await addUser(shared, bRow, "B's user");
        checkEqual((await shared.client.sync()).pushOutcome, "committed", "push outcome");
        checkEqual(
          [...(await userNames(shared)).keys()].sort(),
          [guest, bRow].sort(),
          "users while B is signed in",
        );
        await expectConverged(context, [shared], userB);
      },
    );
    await context.step("B signs out; A signs in again and gets exactly A's rows back", async () => {
      const result = await shared.client.syncThenDetach();
      checkEqual(result.isSuccess, true, "B's syncThenDetach");
      await expectEmpty(shared);
      checkEqual((await shared.attach(userA)).outcome, "used_remote_state", "A's attach outcome");
      checkEqual(
        [...(await userNames(shared)).keys()].sort(),
        [...aRows].sort(),
        "users while A is signed in",
      );
      checkEqual(await shared.count("posts"), 1, "A's posts");
      await expectConverged(context, [shared], userA);
    });
    await context.step("B's own phone sees exactly B's rows", async () => {
      const phone = await context.openDevice("b-phone");
      await phone.attach(userB);
      checkEqual([...(await userNames(phone)).keys()].sort(), [guest, bRow].sort(), "users on B's phone");
      await expectConverged(context, [phone], userB);
    });
  },
};

async function expectEmpty(device: Device): Promise<void> {
  for (const table of EXAMPLE_TABLES)
    checkEqual(await device.count(table.name), 0, `${table.name} rows after sign-out`);
}

export const SESSION_SCENARIOS: readonly Scenario[] = [offlineOnline, userSwitch];
