/**
 * PgNotificationListener against real PostgreSQL: one session for every channel, delivery by
 * channel, unlisten, a throwing callback that does not disturb the others, a failed first connect
 * that a later listen() recovers from, and close() ending the session.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, adminUrl, createTestDatabase } from "../support/postgres.js";
import { eventually, pgListener, sessionPids, testPool } from "./watch-support.js";

let db: TestDatabase;
let sql: pg.Pool;
let admin: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase("oversync_listen");
  sql = testPool(db.url);
  admin = new pg.Pool({ connectionString: adminUrl, max: 1 });
});

afterAll(async () => {
  await sql?.end();
  await admin?.end();
  await db?.drop();
});

/** Collects payloads delivered to one callback. */
function collector(): { payloads: string[]; onPayload: (payload: string) => void } {
  const payloads: string[] = [];
  return { payloads, onPayload: (payload) => payloads.push(payload) };
}

describe("PgNotificationListener", () => {
  it("delivers each channel's payloads to its callbacks over one session, until unlisten", async () => {
    const name = "listen-channels";
    const listener = pgListener(db.url, name);
    try {
      const [a1, a2, b] = [collector(), collector(), collector()];
      const unlistenA1 = await listener.listen("chan_a", a1.onPayload);
      await listener.listen("chan_a", a2.onPayload);
      const unlistenB = await listener.listen("chan_b", b.onPayload);
      expect(await sessionPids(admin, db.name, name)).toHaveLength(1);

      await sql.query("SELECT pg_notify('chan_a', 'one'), pg_notify('chan_b', 'two')");
      await eventually(() => {
        expect([a1.payloads, a2.payloads, b.payloads]).toStrictEqual([["one"], ["one"], ["two"]]);
      });

      await unlistenA1();
      await unlistenA1();
      await unlistenB();
      await sql.query("SELECT pg_notify('chan_b', 'ignored')");
      await sql.query("SELECT pg_notify('chan_a', 'three')");
      await eventually(() => expect(a2.payloads).toStrictEqual(["one", "three"]));
      expect(a1.payloads).toStrictEqual(["one"]);
      expect(b.payloads).toStrictEqual(["two"]);
    } finally {
      await listener.close();
    }
  });

  it("keeps delivering to other callbacks when one throws, and reports the throw", async () => {
    const reported: string[] = [];
    const listener = pgListener(db.url, "listen-throw", {
      logger: { error: (message) => reported.push(message) },
    });
    try {
      const good = collector();
      await listener.listen("chan_t", () => {
        throw new Error("callback bug");
      });
      await listener.listen("chan_t", good.onPayload);
      await sql.query("SELECT pg_notify('chan_t', 'x'), pg_notify('chan_t', 'y')");
      await eventually(() => expect(good.payloads).toStrictEqual(["x", "y"]));
      await eventually(() =>
        expect(reported).toStrictEqual(["notification callback threw", "notification callback threw"]),
      );
    } finally {
      await listener.close();
    }
  });

  it("rejects listen() when the first session cannot open, and a later listen() opens it", async () => {
    let url = new URL(db.url);
    url.pathname = `/${db.name}_missing`;
    const listener = pgListener("unused", "listen-recover", {
      createClient: () =>
        new pg.Client({ connectionString: url.toString(), application_name: "listen-recover" }),
    });
    try {
      await expect(listener.listen("chan_r", () => undefined)).rejects.toThrow(/does not exist/);
      url = new URL(db.url);
      const got = collector();
      await listener.listen("chan_r", got.onPayload);
      await sql.query("SELECT pg_notify('chan_r', 'back')");
      await eventually(() => expect(got.payloads).toStrictEqual(["back"]));
    } finally {
      await listener.close();
    }
  });

  it("close() ends the session and refuses later listen() calls", async () => {
    const name = "listen-close";
    const listener = pgListener(db.url, name);
    await listener.listen("chan_c", () => undefined);
    expect(await sessionPids(admin, db.name, name)).toHaveLength(1);
    await listener.close();
    await eventually(async () => expect(await sessionPids(admin, db.name, name)).toStrictEqual([]));
    await expect(listener.listen("chan_c", () => undefined)).rejects.toThrow(/closed/);
  });
});
