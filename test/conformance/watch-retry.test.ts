/**
 * Live conformance, catalog groups L (watch), M (retry / transport) and the two local groups a live
 * server shows (LV-08 table invalidations, LV-09 handshake gates): automatic downloads over the
 * server's `/sync/watch` stream, the transient retry loops against injected failures, and what the
 * client refuses before it syncs, our client against a live server.
 */
import { randomUUID } from "node:crypto";
import { EXAMPLE_CLIENT_CONFIG } from "@oversync/cli";
import type { TablesChanged } from "@oversync/client";
import { expect, it } from "vitest";
import { type Device, FAST_RETRY, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import {
  type LiveUser,
  eventually,
  failRequests,
  newUser,
  rawSync,
  requireHooks,
  serverWrite,
  watchSubscribers,
} from "./server-calls.js";

/** Far beyond any test: only the watch stream (or a fallback pull) can bring changes in time. */
const NO_POLLING = 3_600_000;

describeLive("live conformance: watch, retries and handshake", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  /** A pusher and a watcher of a fresh user, both attached. */
  async function pair(label: string) {
    const user = await newUser(server, label);
    const pusher = await attached(user);
    const watcher = await attached(user);
    return { user, pusher, watcher };
  }

  it("WA-01 the client reads a bundle event after heartbeats and unknown events, and pulls once for it", async (context) => {
    requireHooks(server, context);
    const { user, pusher, watcher } = await pair("wa01");
    await pusher.insertUser("Pushed");
    await pusher.client.pushPending();
    // A canned stream from the server's watch route: a heartbeat comment, an event the client
    // ignores, and a bundle event whose data spans two lines; then the stream ends.
    await failRequests(server, user, {
      endpoint: "watch",
      status: 200,
      content_type: "text/event-stream",
      body: ': heartbeat\n\nevent: other\ndata: {"x":1}\n\nevent: bundle\ndata: {"bundle_seq":\ndata: 1}\n\n',
    });
    watcher.net.clear();
    watcher.client.start({ watch: "auto", intervalMillis: NO_POLLING, reconnectMinMillis: 60_000 });
    await eventually("the pull the bundle event asked for", async () => (await watcher.count("users")) === 1);
    await watcher.client.stop();
    // One pull for the event, one fallback pull when the canned stream ended; none for the rest.
    expect(watcher.net.count("pull")).toBe(2);
  });

  it("WA-02 with watch off, or a server that does not advertise it, the client only polls", async (context) => {
    const { user, watcher } = await pair("wa02");
    watcher.net.clear();
    watcher.client.start({ watch: "off", intervalMillis: 30 });
    await eventually("three polls", () => watcher.net.count("pull") >= 3);
    await watcher.client.stop();
    expect(watcher.net.count("watch")).toBe(0);

    requireHooks(server, context);
    const probe = await rawSync(server, user, "probe", "GET", "/sync/capabilities");
    const capabilities = probe.body as { features: Record<string, boolean> };
    await failRequests(server, user, {
      endpoint: "capabilities",
      count: 1000,
      status: 200,
      body: { ...capabilities, features: { ...capabilities.features, bundle_change_watch: false } },
    });
    watcher.net.clear();
    watcher.client.start({ watch: "auto", intervalMillis: 30 });
    await eventually("three polls", () => watcher.net.count("pull") >= 3);
    await watcher.client.stop();
    expect(watcher.net.count("watch")).toBe(0);
  });

  it("WA-03 WA-06 WA-09 WA-11 a watching device holds one stream, pulls on each event and never polls while healthy", async () => {
    const { user, pusher, watcher } = await pair("wa03");
    const capabilities = await rawSync(server, user, "probe", "GET", "/sync/capabilities");
    expect(capabilities.body).toMatchObject({ features: { bundle_change_watch: true } });
    watcher.net.clear();
    watcher.client.start({ watch: "auto", intervalMillis: 20 });
    await eventually("the watch stream", async () => (await watchSubscribers(server, user)) === 1);
    const [request] = watcher.net.to("watch");
    expect(Object.fromEntries(request!.url.searchParams)).toEqual({ after_bundle_seq: "0" });
    expect(request!.sourceId).toBe((await watcher.attachment()).currentSourceId);
    // A healthy, idle stream suppresses timer pulls (KMP/Dart), whatever the interval.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(watcher.net.count("pull")).toBe(0);

    await pusher.insertUser("Peer push");
    await pusher.client.pushPending();
    await eventually("the peer's row", async () => (await watcher.names()).includes("Peer push"));
    expect(watcher.net.count("watch")).toBe(1);
    await watcher.client.stop();
    await eventually("no subscriber", async () => (await watchSubscribers(server, user)) === 0);
  });

  it("WA-04 a stream opened while another call holds the client still brings the device up to date", async () => {
    const { user, pusher, watcher } = await pair("wa04");
    await pusher.insertUser("Landed before the stream");
    await pusher.client.pushPending();
    // The watcher's own push commits, then holds the client before its replay: every wake-up of
    // the stream below (the one for the bundle already waiting, the one for this commit) arrives
    // while the client is busy.
    await watcher.insertUser("Local");
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let committed: () => void = () => undefined;
    const atReplay = new Promise<void>((resolve) => (committed = resolve));
    watcher.net.before = async (request) => {
      if (request.endpoint !== "committed_bundle_rows") return;
      committed();
      await held;
    };
    const push = watcher.client.pushPending();
    await atReplay;
    watcher.client.start({ watch: "auto", intervalMillis: NO_POLLING });
    await eventually("the watch stream", async () => (await watchSubscribers(server, user)) === 1);
    // Time for the stream's first event to arrive and meet the busy client (a pull that succeeded
    // instead would only make this test pass).
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await push;
    await eventually(
      "the bundle that was waiting when the stream opened",
      async () => (await watcher.names()).includes("Landed before the stream"),
      3000,
    );
    await watcher.client.stop();
  });

  it("WA-05 a stream reopened after a source rotation names the new source", async (context) => {
    requireHooks(server, context);
    const { user, watcher } = await pair("wa05");
    await watcher.insertUser("Pending");
    const old = (await watcher.attachment()).currentSourceId;
    await watcher.run("UPDATE _sync_source_state SET next_source_bundle_id = 7 WHERE source_id = ?", [old]);
    await expect(watcher.client.pushPending()).rejects.toMatchObject({ code: "source_recovery_required" });

    // The first stream is refused and the fallback pull meets the pending recovery, which only the
    // app can settle: automatic sync pauses (uploads are off: this is about the download loop).
    await failRequests(server, user, { endpoint: "watch", status: 503 });
    watcher.net.clear();
    const paused = new Promise<void>((resolve) => {
      const off = watcher.client.onStatus((status) => {
        if (status.automaticSync !== "paused") return;
        off();
        resolve();
      });
    });
    watcher.client.start({
      watch: "auto",
      intervalMillis: NO_POLLING,
      reconnectMinMillis: 20,
      uploads: "off",
    });
    await paused;
    expect(watcher.client.status.lastError).toMatchObject({
      code: "source_recovery_required",
      needsApp: true,
    });
    expect(await watcher.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    const current = (await watcher.attachment()).currentSourceId;
    expect(current).not.toBe(old);
    expect(watcher.client.status.automaticSync).toBe("running");
    await eventually("the reopened stream", async () => (await watchSubscribers(server, user)) === 1);
    await watcher.client.stop();
    expect(watcher.net.to("watch").map((request) => request.sourceId)).toEqual([old, current]);
  });

  it("WA-07 a cut or malformed stream is reopened, with a fallback pull in between", async (context) => {
    requireHooks(server, context);
    const { user, pusher, watcher } = await pair("wa07");
    await failRequests(server, user, { endpoint: "watch", disconnect: true });
    await failRequests(server, user, {
      endpoint: "watch",
      status: 200,
      content_type: "text/event-stream",
      body: "event: bundle\ndata: {not json\n\n",
    });
    watcher.net.clear();
    watcher.client.start({
      watch: "auto",
      intervalMillis: NO_POLLING,
      reconnectMinMillis: 20,
      reconnectMaxMillis: 40,
    });
    await eventually("the third, healthy stream", async () => (await watchSubscribers(server, user)) === 1);
    expect(watcher.net.count("watch")).toBe(3);
    expect(watcher.net.count("pull")).toBeGreaterThanOrEqual(2);
    await pusher.insertUser("After reconnecting");
    await pusher.client.pushPending();
    await eventually("the pushed row", async () => (await watcher.names()).includes("After reconnecting"));
    await watcher.client.stop();
  });

  it("WA-08 a failed stream setup still polls; a 403 forbidden switches to polling for good", async (context) => {
    requireHooks(server, context);
    const { user, watcher } = await pair("wa08");
    await failRequests(server, user, { endpoint: "watch", status: 503 });
    watcher.net.clear();
    watcher.client.start({ watch: "auto", intervalMillis: NO_POLLING, reconnectMinMillis: 20 });
    await eventually(
      "a healthy stream after the failed one",
      async () => (await watchSubscribers(server, user)) === 1,
    );
    expect(watcher.net.count("pull")).toBeGreaterThanOrEqual(1);
    await watcher.client.stop();

    await failRequests(server, user, {
      endpoint: "watch",
      count: 1000,
      status: 403,
      body: { error: "bundle_change_watch_forbidden", message: "not for this user" },
    });
    watcher.net.clear();
    watcher.client.start({ watch: "auto", intervalMillis: 30, reconnectMinMillis: 20 });
    await eventually("polling after the refusal", () => watcher.net.count("pull") >= 4);
    await watcher.client.stop();
    expect(watcher.net.count("watch")).toBe(1);
  });

  it("WA-11 the live stream: 401 without a token, events for pushes and server writes, catch-up after a missed push, eight watchers", async (context) => {
    const user = await newUser(server, "wa11");
    const unauthenticated = await fetch(`${server.url}/sync/watch?after_bundle_seq=0`);
    expect(unauthenticated.status).toBe(401);
    await unauthenticated.body?.cancel();

    const pusher = await attached(user);
    const watchers = await Promise.all(Array.from({ length: 8 }, () => attached(user)));
    for (const watcher of watchers) watcher.client.start({ watch: "auto", intervalMillis: NO_POLLING });
    await eventually("eight streams", async () => (await watchSubscribers(server, user)) === 8);
    await pusher.insertUser("For everyone");
    await pusher.client.pushPending();
    for (const watcher of watchers) {
      await eventually("every watcher's copy", async () => (await watcher.count("users")) === 1);
    }
    // A watcher that was away reconnects after its checkpoint and catches up at once.
    const away = watchers[0]!;
    await away.client.stop();
    await pusher.insertUser("Missed");
    await pusher.client.pushPending();
    away.client.start({ watch: "auto", intervalMillis: NO_POLLING });
    await eventually("the missed row", async () => (await away.count("users")) === 2);
    expect(away.net.to("watch").at(-1)!.url.searchParams.get("after_bundle_seq")).toBe("1");

    if (server.hooks) {
      await serverWrite(server, user, [
        {
          sql: "INSERT INTO business.users (id, name, email) VALUES ($1, 'From the server', 's@x')",
          params: [randomUUID()],
        },
      ]);
      await eventually("the server-originated row", async () =>
        (await away.names()).includes("From the server"),
      );
    } else {
      context.annotate("server-originated wake-up not checked: the server has no --test-hooks");
    }
    for (const watcher of watchers) await watcher.client.stop();
    await eventually("no subscriber", async () => (await watchSubscribers(server, user)) === 0);
  });

  it("LV-07 automatic downloads started before attach() wait without touching the network, then watch once attached", async () => {
    const user = await newUser(server, "lv07");
    const device = await devices.open(user);
    // Go's loop treats "not attached yet" as a precondition: no request, and the backoff stays at
    // its minimum, so the stream opens as soon as the app attaches.
    device.client.start({ watch: "auto", intervalMillis: NO_POLLING, reconnectMinMillis: 20 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const beforeAttach = device.net.sent.map((request) => request.endpoint);
    await device.client.attach(user.id);
    await eventually("the stream after attach", async () => (await watchSubscribers(server, user)) === 1);
    await device.client.stop();
    expect(beforeAttach).toEqual([]);
  });

  it("RT-01 RT-02 a push retries transient failures, gives up with a typed error, and never retries a 401", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "rt01");
    const device = await attached(user, { retry: FAST_RETRY });
    await device.insertUser("Retried");
    await failRequests(server, user, { endpoint: "push_session_create", status: 503 });
    expect((await device.client.pushPending()).outcome).toBe("committed");
    expect(device.net.count("push_session_create")).toBe(2);

    await device.insertUser("Exhausted");
    await failRequests(server, user, { endpoint: "push_session_create", status: 503, count: 3 });
    await expect(device.client.pushPending()).rejects.toMatchObject({
      code: "transient_retry_exhausted",
      operation: "push_pending",
      attempts: 3,
    });
    // The exhausted bundle is still frozen; with an expired token its push fails once, unretried.
    device.signIn({ id: user.id, token: "expired-token" });
    device.net.clear();
    await expect(device.client.pushPending()).rejects.toMatchObject({
      code: "authentication_failed",
      status: 401,
    });
    expect(device.net.sent).toHaveLength(1);
    expect((await device.outbox()).rows).toBe(1);
  });

  it("RT-03 RT-04 a pull retries transient failures and gives up with a typed error", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "rt03");
    const writer = await attached(user);
    const reader = await attached(user, { retry: FAST_RETRY });
    await writer.insertUser("Pulled");
    await writer.client.pushPending();
    await failRequests(server, user, { endpoint: "pull", status: 503 });
    reader.net.clear();
    expect((await reader.client.pullToStable()).outcome).toBe("applied_incremental");
    expect(reader.net.count("pull")).toBe(2);

    await writer.insertUser("Not pulled");
    await writer.client.pushPending();
    await failRequests(server, user, { endpoint: "pull", status: 503, count: 3 });
    await expect(reader.client.pullToStable()).rejects.toMatchObject({
      code: "transient_retry_exhausted",
      operation: "pull_to_stable",
      attempts: 3,
    });
    expect(await reader.names()).toEqual(["Pulled"]);
  });

  it("RT-05 a failed commit keeps the prepared bundle replayable; a committed bundle not yet visible is fetched again", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "rt05");
    const device = await attached(user, { retry: FAST_RETRY });
    await device.insertUser("Replayable");
    await failRequests(server, user, { endpoint: "push_session_commit", status: 503 });
    await failRequests(server, user, {
      endpoint: "committed_bundle_rows",
      status: 404,
      body: { error: "committed_bundle_not_found", message: "not visible yet" },
    });
    expect((await device.client.pushPending()).outcome).toBe("committed");
    const hashes = device.net
      .to("push_session_create")
      .map((request) => (request.body as { canonical_request_hash: string }).canonical_request_hash);
    expect(hashes).toHaveLength(2);
    expect(hashes[1]).toBe(hashes[0]);
    expect(device.net.count("committed_bundle_rows")).toBe(2);
    expect(await device.isClean()).toBe(true);
  });

  it("LV-08 applied changes from the server announce their tables; a blocked detach announces nothing", async () => {
    const user = await newUser(server, "lv08");
    const a = await attached(user);
    await a.insertUser("Seed");
    await a.client.pushPending();
    const b = await devices.open(user);
    const events: TablesChanged[] = [];
    b.client.onTablesChanged((change) => {
      if (change.origin === "sync") events.push(change);
    });
    const take = () =>
      events
        .splice(0)
        .flatMap((change) => [...change.tables])
        .sort();
    await b.client.attach(user.id);
    expect(take()).toContain("users");

    await a.insertUser("Incremental");
    await a.client.pushPending();
    await b.client.pullToStable();
    expect(take()).toEqual(["users"]);

    await b.insertUser("Own push");
    await b.client.pushPending();
    expect(take()).toContain("users");

    const shared = (await b.query<{ id: string }>("SELECT id FROM users WHERE name = 'Seed'"))[0]!.id;
    await a.client.pullToStable();
    await a.renameUser(shared, "Server version");
    await a.client.pushPending();
    await b.renameUser(shared, "Local version");
    await b.client.sync();
    expect(take()).toContain("users");
    expect(await b.userName(shared)).toBe("Server version");

    await b.insertUser("Unsynced");
    expect((await b.client.detach()).outcome).toBe("blocked_unsynced_data");
    expect(take()).toEqual([]);
    await b.client.sync();
    take();
    expect((await b.client.detach()).outcome).toBe("detached");
    expect(take()).toContain("users");
  });

  it("LV-09 the handshake refuses a server whose tables or protocol differ, before any write is lost", async (context) => {
    const user = await newUser(server, "lv09");
    const subset = {
      ...EXAMPLE_CLIENT_CONFIG,
      syncTables: EXAMPLE_CLIENT_CONFIG.syncTables.filter((table) => table.tableName !== "typed_rows"),
    };
    const serverOnly = await devices.open(user, { config: subset });
    await serverOnly.insertUser("Kept");
    await expect(serverOnly.client.attach(user.id)).rejects.toMatchObject({
      code: "table_contract_mismatch",
      serverOnlyTables: ["business.typed_rows"],
    });
    expect(await serverOnly.dirtyRows()).toHaveLength(1);

    const extra = {
      ...EXAMPLE_CLIENT_CONFIG,
      syncTables: [...EXAMPLE_CLIENT_CONFIG.syncTables, { tableName: "notes", syncKeyColumnName: "id" }],
    };
    const clientOnly = await devices.open(user, {
      config: extra,
      setupSql: "CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)",
    });
    await expect(clientOnly.client.attach(user.id)).rejects.toMatchObject({
      code: "table_contract_mismatch",
      clientOnlyTables: ["business.notes"],
    });
    const otherSchema = await devices.open(user, {
      config: { ...EXAMPLE_CLIENT_CONFIG, schema: "inventory" },
    });
    await expect(otherSchema.client.attach(user.id)).rejects.toMatchObject({
      code: "table_contract_mismatch",
    });
    for (const device of [clientOnly, otherSchema]) {
      expect(await device.attachment()).toMatchObject({ bindingState: "anonymous" });
    }

    requireHooks(server, context);
    const device = await attached(user);
    await device.insertUser("Pending");
    const probe = await rawSync(server, user, "probe", "GET", "/sync/capabilities");
    await failRequests(server, user, {
      endpoint: "capabilities",
      status: 200,
      body: { ...(probe.body as object), protocol_version: "v2" },
    });
    // The app starts again (a running client trusts a check for a minute): resuming the attached
    // state needs no network, so its first push checks the server and refuses it.
    const restarted = await device.restart();
    expect(await restarted.client.attach(user.id)).toMatchObject({ outcome: "resumed_attached_state" });
    await expect(restarted.client.pushPending()).rejects.toMatchObject({ code: "protocol_version_mismatch" });
    expect(restarted.net.count("push_session_create")).toBe(0);
    expect(await restarted.dirtyRows()).toHaveLength(1);
    expect((await restarted.client.pushPending()).outcome).toBe("committed");
  });
});
