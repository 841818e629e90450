/**
 * Automatic downloads with bundle-change watch (`client.start()`): a watching device is woken by a
 * peer's push and by a server-originated write, catches up when it reconnects, and many watchers
 * converge together; a device with watch off, or facing a server that does not advertise it, never
 * opens `/sync/watch` and keeps up by polling; the server forgets a watcher that leaves, politely or
 * by losing its connection.
 *
 * Watching devices poll only once a minute, and convergence is awaited for 10 seconds: a watcher
 * that converges did so because the stream woke it.
 */
import type { AutomaticDownloadOptions } from "@oversync/client";
import { addUser, newId, userNames } from "../app-data.js";
import { expectConverged } from "../convergence.js";
import type { Device } from "../device.js";
import { startNetworkProxy } from "../network-proxy.js";
import { type Scenario, type ScenarioContext, check, checkEqual, sleep, waitFor } from "../scenario.js";
import { advertisesWatch, serverWrite, signIn, watchSubscriberCount } from "../server-api.js";
import { signInDevices } from "./sign-in.js";

/** Watch on, timer polls too rare to matter, quick reconnects. */
const WATCHING: AutomaticDownloadOptions = {
  watch: "auto",
  intervalMillis: 60_000,
  reconnectMinMillis: 100,
  reconnectMaxMillis: 500,
};

/** Polling every 200 ms (watch off, or a server without watch). */
const POLLING: AutomaticDownloadOptions = { intervalMillis: 200 };

/** Far below the watchers' one-minute poll, far above a wake-up on a busy machine. */
const CONVERGE_MS = 10_000;

const watchPeerPush: Scenario = {
  name: "watch-peer-push",
  description: "a watcher is woken by a peer's push",
  async run(context) {
    const [watcher, writer] = await signInDevices(context, ["watcher", "writer"]);
    await startWatching(context, [watcher]);
    const mark = watcher.requests.length;
    const row = await context.step("the writer adds a user and syncs", () =>
      writeAndSync(writer, "Watch peer Ada"),
    );
    await context.step("the watcher converges through its stream", async () => {
      await waitForUser(watcher, row);
      checkEqual(watcher.requestsTo("GET", "/sync/watch").length, 1, "watch streams opened (no reconnect)");
      check(watcher.requestsTo("GET", "/sync/pull", mark).length >= 1, "the wake-up must lead to a pull");
    });
    await stopWatching(context, [watcher]);
    await context.step("both devices and the server agree", () =>
      expectConverged(context, [watcher, writer]),
    );
  },
};

const watchServerOriginated: Scenario = {
  name: "watch-server-originated",
  description: "a watcher is woken by a server-originated write",
  async run(context) {
    const [watcher, other] = await signInDevices(context, ["watcher", "other"]);
    await startWatching(context, [watcher]);
    const writerId = "server:simulate";
    const row = { id: newId(), name: "Watch server Ada" };
    const bundle = await context.step("the server commits a user through its own write path", async () => {
      const committed = await serverWrite(context, context.userId, writerId, {
        ...row,
        email: "watch-server-ada@example.com",
      });
      checkEqual([committed.sourceId, committed.rowCount], [writerId, 1], "server-originated bundle");
      return committed;
    });
    await context.step("the watcher converges through its stream", async () => {
      await waitForUser(watcher, { ...row, bundleSeq: bundle.bundleSeq });
      const logged = await context.postgres?.bundles(context.userId);
      if (logged !== undefined) {
        checkEqual(
          logged.filter((entry) => entry.bundleSeq === bundle.bundleSeq).map((entry) => entry.sourceId),
          [writerId],
          "PostgreSQL: the bundle's source is the server writer",
        );
      }
    });
    await stopWatching(context, [watcher]);
    await context.step("another device pulls it; all agree", async () => {
      await other.client.sync();
      await expectConverged(context, [watcher, other]);
    });
  },
};

const watchReconnectCatchUp: Scenario = {
  name: "watch-reconnect-catch-up",
  description: "a watcher reconnects after its checkpoint and catches up",
  async run(context) {
    const [watcher, writer] = await signInDevices(context, ["watcher", "writer"]);
    await startWatching(context, [watcher]);
    await stopWatching(context, [watcher]);
    const checkpoint = (await watcher.syncState()).lastBundleSeqSeen;
    const row = await context.step("while the watcher is away, the writer adds a user", async () => {
      const written = await writeAndSync(writer, "Watch reconnect Ada");
      await sleep(300);
      check(!(await userNames(watcher)).has(written.id), "a stopped watcher must not download anything");
      return written;
    });
    const mark = watcher.requests.length;
    await startWatching(context, [watcher]);
    await context.step("the watcher reconnects after its checkpoint and catches up", async () => {
      await waitForUser(watcher, row);
      const reconnect = watcher.requestsTo("GET", "/sync/watch", mark)[0];
      checkEqual(
        reconnect?.query.get("after_bundle_seq"),
        String(checkpoint),
        "after_bundle_seq of the reconnect",
      );
    });
    await stopWatching(context, [watcher]);
    await context.step("both devices and the server agree", () =>
      expectConverged(context, [watcher, writer]),
    );
  },
};

const watchDefaultOff: Scenario = {
  name: "watch-default-off",
  description: "watch off: no /sync/watch, yet the device keeps up by polling",
  async run(context) {
    const [poller, manual, writer] = await signInDevices(context, ["poller", "manual", "writer"]);
    await context.step("the server advertises watch, the poller polls with watch off", async () => {
      const token = await signIn(context.serverUrl, context.userId);
      check(
        await advertisesWatch(context.serverUrl, token, (await poller.syncState()).sourceId),
        "the server must advertise bundle_change_watch, or watch being off proves nothing",
      );
      poller.client.start({ ...POLLING, watch: "off" });
      context.defer(() => poller.client.stop());
    });
    const row = await context.step("the writer adds a user and syncs", () =>
      writeAndSync(writer, "Watch off Ada"),
    );
    await context.step("the poller gets it by polling; the manual device by its own sync", async () => {
      await waitForUser(poller, row);
      await poller.client.stop();
      await manual.client.sync();
      check(await holdsRow(manual, row), "the manual device must have the user after its sync");
      for (const device of [poller, manual]) {
        checkEqual(device.requestsTo("GET", "/sync/watch").length, 0, `${device.name} watch streams`);
      }
      check(poller.requestsTo("GET", "/sync/pull").length >= 2, "the poller must have polled repeatedly");
      checkEqual(await watchSubscriberCount(context, context.userId), 0, "server watch subscribers");
    });
    await context.step("all devices and the server agree", () =>
      expectConverged(context, [poller, manual, writer]),
    );
  },
};

const watchServerUnsupportedFallback: Scenario = {
  name: "watch-server-unsupported-fallback",
  description: "a server without watch: the device polls instead",
  async run(context) {
    const olderServer = await startNetworkProxy(context.serverUrl, { hideWatch: true });
    context.defer(() => olderServer.close());
    const watcher = await context.step("the watcher signs in through a server without watch", async () => {
      const device = await context.openDevice("watcher", { serverUrl: olderServer.url });
      await device.attach(context.userId);
      const token = await signIn(olderServer.url, context.userId);
      check(
        !(await advertisesWatch(olderServer.url, token, (await device.syncState()).sourceId)),
        "the proxied capabilities must not advertise watch",
      );
      return device;
    });
    const [writer] = await signInDevices(context, ["writer"]);
    await context.step("the watcher starts automatic downloads with watch auto", async () => {
      watcher.client.start({ ...POLLING, watch: "auto" });
      context.defer(() => watcher.client.stop());
    });
    const row = await context.step("the writer adds a user and syncs", () =>
      writeAndSync(writer, "Watch fallback Ada"),
    );
    await context.step("the watcher gets it by polling, never opening /sync/watch", async () => {
      await waitForUser(watcher, row);
      await watcher.client.stop();
      checkEqual(watcher.requestsTo("GET", "/sync/watch").length, 0, "watch streams");
      check(watcher.requestsTo("GET", "/sync/pull").length >= 1, "the watcher must have polled");
    });
    await context.step("both devices and the server agree", () =>
      expectConverged(context, [watcher, writer]),
    );
  },
};

const watchIdleCleanup: Scenario = {
  name: "watch-idle-cleanup",
  description: "the server drops watchers that stop or lose their connection",
  async run(context) {
    const network = await startNetworkProxy(context.serverUrl);
    context.defer(() => network.close());
    const [polite] = await signInDevices(context, ["polite"]);
    const roaming = await context.step("a second watcher signs in through its own network", async () => {
      const device = await context.openDevice("roaming", { serverUrl: network.url });
      await device.attach(context.userId);
      return device;
    });
    await startWatching(context, [polite]);
    await stopWatching(context, [polite]);
    await startWatching(context, [roaming]);
    await context.step("the roaming watcher's connection is cut: the server drops it", async () => {
      await network.offline();
      await waitForSubscribers(context, 0);
      await roaming.client.stop();
      const bundles = await context.postgres?.bundles(context.userId);
      if (bundles !== undefined)
        checkEqual(bundles.length, 0, "PostgreSQL bundles (the streams stayed idle)");
    });
  },
};

const watchManyClientsConverge: Scenario = {
  name: "watch-many-clients-converge",
  description: "eight watchers converge on one peer's push",
  async run(context) {
    const [writer] = await signInDevices(context, ["writer"]);
    const watchers = await signInDevices(
      context,
      Array.from({ length: 8 }, (_, index) => `watcher-${index + 1}`),
    );
    await startWatching(context, watchers);
    const row = await context.step("the writer adds a user and syncs", () =>
      writeAndSync(writer, "Watch many Ada"),
    );
    await context.step("all eight watchers converge through their streams", async () => {
      for (const watcher of watchers) {
        await waitForUser(watcher, row);
        checkEqual(watcher.requestsTo("GET", "/sync/watch").length, 1, `${watcher.name} watch streams`);
      }
    });
    await stopWatching(context, watchers);
    await context.step("all devices and the server agree", () =>
      expectConverged(context, [writer, ...watchers]),
    );
  },
};

/** Starts watching on `devices` and waits until the server holds a stream for each. */
async function startWatching(context: ScenarioContext, devices: readonly Device[]): Promise<void> {
  await context.step(
    `start watching on ${devices.length === 1 ? devices[0]!.name : `${devices.length} devices`}`,
    async () => {
      const before = await watchSubscriberCount(context, context.userId);
      for (const device of devices) {
        device.client.start(WATCHING);
        context.defer(() => device.client.stop());
      }
      await waitForSubscribers(context, before + devices.length);
    },
  );
}

/** Stops watching on `devices` and waits until the server has let go of their streams. */
async function stopWatching(context: ScenarioContext, devices: readonly Device[]): Promise<void> {
  await context.step(
    `stop watching on ${devices.length === 1 ? devices[0]!.name : `${devices.length} devices`}`,
    async () => {
      const before = await watchSubscriberCount(context, context.userId);
      for (const device of devices) await device.client.stop();
      await waitForSubscribers(context, before - devices.length);
    },
  );
}

function waitForSubscribers(context: ScenarioContext, count: number): Promise<true> {
  let last = -1;
  return waitFor(
    () => `the server to hold ${count} watch streams for the user (it holds ${last})`,
    async () => {
      last = await watchSubscriberCount(context, context.userId);
      return last === count;
    },
    { timeoutMs: CONVERGE_MS },
  );
}

/** A user row and the bundle that committed it. */
interface WrittenRow {
  readonly id: string;
  readonly name: string;
  readonly bundleSeq: bigint;
}

async function writeAndSync(writer: Device, name: string): Promise<WrittenRow> {
  const id = newId();
  await addUser(writer, id, name);
  const report = await writer.client.sync();
  checkEqual(report.pushOutcome, "committed", "writer push");
  return { id, name, bundleSeq: BigInt(report.syncStatus.lastBundleSeqSeen) };
}

/** True when `device` holds the row and has applied its bundle. */
async function holdsRow(device: Device, row: WrittenRow): Promise<boolean> {
  return (
    (await userNames(device)).get(row.id) === row.name &&
    (await device.syncState()).lastBundleSeqSeen >= row.bundleSeq
  );
}

/** Waits until `device` holds the row and has applied its bundle. */
async function waitForUser(device: Device, row: WrittenRow): Promise<void> {
  await waitFor(
    `${device.name} to hold user ${row.name} and reach bundle ${row.bundleSeq}`,
    () => holdsRow(device, row),
    { timeoutMs: CONVERGE_MS },
  );
}

export const WATCH_SCENARIOS: readonly Scenario[] = [
  watchPeerPush,
  watchServerOriginated,
  watchReconnectCatchUp,
  watchDefaultOff,
  watchServerUnsupportedFallback,
  watchIdleCleanup,
  watchManyClientsConverge,
];
