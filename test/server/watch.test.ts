/**
 * Bundle-change watch in the runtime, against real PostgreSQL: commits wake subscribers through a
 * real NOTIFY/LISTEN, across two services with separate pools and LISTEN sessions on one database;
 * the catch-up event on subscribe; coalescing for a reader that falls behind; nothing delivered for
 * rolled-back work; and a LISTEN session killed with pg_terminate_backend is replaced and the
 * bundle committed while it was down still wakes its subscriber.
 */
import { OversyncError } from "@oversync/protocol";
import { type ListenClient, PgNotificationListener, createSyncService } from "@oversync/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction, withClient } from "../../packages/server/src/db/session.js";
import { notifyBundleCommitted } from "../../packages/server/src/watch/bundle-watch.js";
import { type TestDatabase, adminUrl, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { actor, initializeScope, push, rejection, userRow, uuid } from "./service-harness.js";
import {
  type WatchNode,
  eventually,
  nextEvent,
  readUntilSeq,
  sessionPids,
  startWatchNode,
  testPool,
} from "./watch-support.js";

let db: TestDatabase;
/** This suite's own pool (db.pool stays unused; see testPool). */
let sql: pg.Pool;
let nodeA: WatchNode;
let nodeB: WatchNode;
let admin: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase("oversync_watch");
  sql = testPool(db.url);
  await createBusinessSchema(sql);
  nodeA = await startWatchNode(db.url, "watch-node-a");
  nodeB = await startWatchNode(db.url, "watch-node-b");
  admin = new pg.Pool({ connectionString: adminUrl, max: 1 });
});

afterAll(async () => {
  await nodeA?.close();
  await nodeB?.close();
  await admin?.end();
  await sql?.end();
  await db?.drop();
});

/** A fresh user whose scope is initialized, with its device actor. */
async function freshUser(prefix: string) {
  const who = actor(`${prefix}-${uuid()}`);
  await initializeScope(nodeA.service, who);
  return who;
}

describe("wake-ups", () => {
  it("a push commit wakes a subscriber of the same service with the bundle's seq and source", async () => {
    const who = await freshUser("same");
    const watch = await nodeA.service.openBundleWatch(who, { after_bundle_seq: 0 });
    const committed = await push(nodeA.service, who, 1, [userRow(uuid(), "Ada")]);
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: committed.bundle_seq,
      source_id: who.sourceId,
      source_bundle_id: 1,
    });
    watch.close();
  });

  it("a commit through one service wakes a subscriber of another service on the same database", async () => {
    const who = await freshUser("cross");
    const onB = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    const first = await push(nodeA.service, who, 1, [userRow(uuid(), "Ada")]);
    expect(await nextEvent(onB)).toStrictEqual({
      bundle_seq: first.bundle_seq,
      source_id: who.sourceId,
      source_bundle_id: 1,
    });
    // And the other way round.
    const onA = await nodeA.service.openBundleWatch(who, { after_bundle_seq: first.bundle_seq });
    const second = await push(nodeB.service, who, 2, [userRow(uuid(), "Bob")]);
    expect(await nextEvent(onA)).toStrictEqual({
      bundle_seq: second.bundle_seq,
      source_id: who.sourceId,
      source_bundle_id: 2,
    });
    expect(await nextEvent(onB)).toStrictEqual({
      bundle_seq: second.bundle_seq,
      source_id: who.sourceId,
      source_bundle_id: 2,
    });
    onA.close();
    onB.close();
  });

  it("wakes only the subscribers of the user whose bundle committed", async () => {
    const quiet = await freshUser("quiet");
    const busy = await freshUser("busy");
    const quietWatch = await nodeB.service.openBundleWatch(quiet, { after_bundle_seq: 0 });
    const busyWatch = await nodeB.service.openBundleWatch(busy, { after_bundle_seq: 0 });
    await push(nodeA.service, busy, 1, [userRow(uuid(), "Ada")]);
    expect((await nextEvent(busyWatch)).bundle_seq).toBe(1);
    await push(nodeA.service, quiet, 1, [userRow(uuid(), "Cy")]);
    // The quiet user's first event is its own bundle, not the busy user's.
    expect(await nextEvent(quietWatch)).toStrictEqual({
      bundle_seq: 1,
      source_id: quiet.sourceId,
      source_bundle_id: 1,
    });
    quietWatch.close();
    busyWatch.close();
  });
});

describe("catch-up on subscribe", () => {
  it("sends one event with the latest seq at once when the client is behind, then later commits", async () => {
    const who = await freshUser("behind");
    const probe = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    for (let id = 1; id <= 3; id++) await push(nodeA.service, who, id, [userRow(uuid(), `U${id}`)]);
    await readUntilSeq(probe, 3);
    const watch = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 1 });
    // June's catch-up event carries only the seq.
    expect(await watch.next(0)).toStrictEqual({ bundle_seq: 3 });
    await push(nodeA.service, who, 4, [userRow(uuid(), "U4")]);
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: 4,
      source_id: who.sourceId,
      source_bundle_id: 4,
    });
    watch.close();
  });

  it("sends nothing at once when the client is up to date; the first event is the next commit", async () => {
    const who = await freshUser("current");
    await push(nodeA.service, who, 1, [userRow(uuid(), "Ada")]);
    const watch = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 1 });
    expect(await watch.next(0)).toBe("idle");
    await push(nodeA.service, who, 2, [userRow(uuid(), "Bob")]);
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: 2,
      source_id: who.sourceId,
      source_bundle_id: 2,
    });
    watch.close();
  });

  it("a client claiming a seq beyond the latest is still woken by the next commit", async () => {
    const who = await freshUser("ahead");
    await push(nodeA.service, who, 1, [userRow(uuid(), "Ada")]);
    const watch = await nodeA.service.openBundleWatch(who, { after_bundle_seq: 99 });
    await push(nodeA.service, who, 2, [userRow(uuid(), "Bob")]);
    expect((await nextEvent(watch)).bundle_seq).toBe(2);
    watch.close();
  });
});

describe("coalescing", () => {
  it("a subscriber that reads nothing while three bundles commit then gets only the newest", async () => {
    const who = await freshUser("slow");
    const slow = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    // The probe reads promptly; once it has seen seq 3, the hub has handled all three notifications.
    const probe = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    for (let id = 1; id <= 3; id++) await push(nodeA.service, who, id, [userRow(uuid(), `U${id}`)]);
    const seen: number[] = [];
    while (seen.at(-1) !== 3) seen.push((await nextEvent(probe)).bundle_seq);
    expect(seen).toStrictEqual([...seen].sort((a, b) => a - b));
    expect(await slow.next(0)).toStrictEqual({ bundle_seq: 3, source_id: who.sourceId, source_bundle_id: 3 });
    expect(await slow.next(0)).toBe("idle");
    slow.close();
    probe.close();
  });
});

describe("rolled-back work", () => {
  it("a NOTIFY inside a transaction that rolls back is never delivered", async () => {
    const who = await freshUser("rollback");
    const watch = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    // Announce a bundle far ahead, then roll back. Were it delivered, the real seq 1 below would be
    // dropped as older than what the stream holds.
    await withClient(sql, async (client) => {
      await client.query("BEGIN");
      await notifyBundleCommitted(client, "oversync_bundle_change_v1", who.userId, {
        bundle_seq: 999,
        source_id: "phantom",
        source_bundle_id: 1,
      });
      await client.query("ROLLBACK");
    });
    const committed = await push(nodeA.service, who, 1, [userRow(uuid(), "Ada")]);
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: committed.bundle_seq,
      source_id: who.sourceId,
      source_bundle_id: 1,
    });
    watch.close();
  });

  it("a push commit refused with a conflict wakes nobody", async () => {
    const who = await freshUser("conflict");
    const id = uuid();
    await push(nodeA.service, who, 1, [userRow(id, "Ada")]);
    const watch = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 1 });
    const error = await rejection(push(nodeA.service, who, 2, [userRow(id, "Again")]));
    expect(error.code).toBe("push_conflict");
    await push(nodeA.service, who, 2, [userRow(uuid(), "Bob")]);
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: 2,
      source_id: who.sourceId,
      source_bundle_id: 2,
    });
    watch.close();
  });

  it("the same transaction machinery commits a NOTIFY it sends", async () => {
    const who = await freshUser("commit");
    const watch = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    await withClient(sql, (client) =>
      inTransaction(client, {}, () =>
        notifyBundleCommitted(client, "oversync_bundle_change_v1", who.userId, {
          bundle_seq: 7,
          source_id: "direct",
          source_bundle_id: 3,
        }),
      ),
    );
    expect(await nextEvent(watch)).toStrictEqual({ bundle_seq: 7, source_id: "direct", source_bundle_id: 3 });
    watch.close();
  });
});

describe("subscribe", () => {
  it("refuses a user that never connected, and an initializing scope", async () => {
    const stranger = actor(`stranger-${uuid()}`);
    expect((await rejection(nodeA.service.openBundleWatch(stranger, { after_bundle_seq: 0 }))).code).toBe(
      "scope_uninitialized",
    );
    const seeding = actor(`seeding-${uuid()}`);
    await nodeA.service.connect(seeding, { has_local_pending_rows: true });
    const other = { ...seeding, sourceId: "other-device" };
    const refused = await rejection(nodeB.service.openBundleWatch(other, { after_bundle_seq: 0 }));
    expect(refused.code).toBe("scope_initializing");
    expect(nodeB.service.watchSubscriberCount(seeding.scopeId)).toBe(0);
  });

  it("counts open watches per user and process, back to zero as they close", async () => {
    const who = await freshUser("count");
    const first = await nodeA.service.openBundleWatch(who, { after_bundle_seq: 0 });
    const second = await nodeA.service.openBundleWatch(who, { after_bundle_seq: 0 });
    const elsewhere = await nodeB.service.openBundleWatch(who, { after_bundle_seq: 0 });
    expect(nodeA.service.watchSubscriberCount(who.scopeId)).toBe(2);
    expect(nodeB.service.watchSubscriberCount(who.scopeId)).toBe(1);
    first.close();
    first.close();
    expect(nodeA.service.watchSubscriberCount(who.scopeId)).toBe(1);
    second.close();
    elsewhere.close();
    expect(nodeA.service.watchSubscriberCount(who.scopeId)).toBe(0);
    expect(nodeB.service.watchSubscriberCount(who.scopeId)).toBe(0);
    expect(await first.next(0)).toBe("closed");
  });

  it("is refused with 503 bundle_change_watch_disabled when watch is not configured", async () => {
    const plain = createSyncService({
      pool: sql,
      appName: "no-watch",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      logger: { warn: () => undefined, error: () => undefined },
    });
    await plain.bootstrap();
    const who = await freshUser("disabled");
    const error = await rejection(plain.openBundleWatch(who, { after_bundle_seq: 0 }));
    expect([error.code, error.status]).toStrictEqual(["bundle_change_watch_disabled", 503]);
    expect((await plain.capabilities(who)).features.bundle_change_watch).toBe(false);
    expect((await nodeA.service.capabilities(who)).features.bundle_change_watch).toBe(true);
    await plain.close();
  });

  it("closing the service ends its open watches", async () => {
    const node = await startWatchNode(db.url, "watch-node-closing");
    const who = await freshUser("closing");
    const watch = await node.service.openBundleWatch(who, { after_bundle_seq: 0 });
    const pending = watch.next(60_000);
    await node.close();
    expect(await pending).toBe("closed");
    expect(node.service.watchSubscriberCount(who.scopeId)).toBe(0);
    const error = await rejection(node.service.openBundleWatch(who, { after_bundle_seq: 0 }));
    expect(error).toBeInstanceOf(OversyncError);
    expect(error.code).toBe("service_unavailable");
  });
});

/** A pg client for the LISTEN session whose connect() first waits for `gate()`. */
function gatedClient(url: string, applicationName: string, gate: () => Promise<void>): ListenClient {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  return {
    async connect() {
      await gate();
      await client.connect();
    },
    query: (text: string) => client.query(text),
    on: ((event: "end", listener: () => void) => client.on(event, listener)) as ListenClient["on"],
    end: () => client.end(),
  };
}

describe("LISTEN session loss", () => {
  it("is replaced after pg_terminate_backend, and a bundle committed meanwhile still wakes the subscriber", async () => {
    const name = "watch-reconnect";
    let release: () => void = () => undefined;
    let gate = Promise.resolve();
    const listener = new PgNotificationListener({
      createClient: () => gatedClient(db.url, name, () => gate),
      minReconnectDelayMs: 10,
      maxReconnectDelayMs: 50,
      logger: { error: () => undefined },
    });
    const node = await startWatchNode(db.url, "watch-node-reconnect", { notifications: listener });
    try {
      const who = await freshUser("reconnect");
      const watch = await node.service.openBundleWatch(who, { after_bundle_seq: 0 });
      const [oldPid] = await sessionPids(admin, db.name, name);
      expect(oldPid).toBeDefined();

      // Hold reconnection until the test has committed a bundle nobody is listening for.
      gate = new Promise<void>((resolve) => (release = resolve));
      await admin.query("SELECT pg_terminate_backend($1)", [oldPid]);
      await eventually(async () => expect(await sessionPids(admin, db.name, name)).toStrictEqual([]));
      const missed = await push(nodeA.service, who, 1, [userRow(uuid(), "Ada")]);
      release();

      // The catch-up after reconnecting reads the latest seq; it carries no source fields.
      expect(await nextEvent(watch)).toStrictEqual({ bundle_seq: missed.bundle_seq });
      const [newPid] = await sessionPids(admin, db.name, name);
      expect(newPid).toBeDefined();
      expect(newPid).not.toBe(oldPid);

      // Later commits arrive through the new session as usual.
      const later = await push(nodeA.service, who, 2, [userRow(uuid(), "Bob")]);
      expect(await nextEvent(watch)).toStrictEqual({
        bundle_seq: later.bundle_seq,
        source_id: who.sourceId,
        source_bundle_id: 2,
      });
      watch.close();
    } finally {
      await node.close();
      await listener.close();
    }
  });
});
