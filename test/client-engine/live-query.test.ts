/**
 * Live queries (`client.watchQuery`, `client.liveQuery`) over a real SQLite file and the fake sync
 * server: a query re-runs exactly when a table it reads changes, from the application's writes or
 * from applied sync, bursts coalesced, one run in flight, the last result read after the last
 * change. Negative checks never wait for time to pass: they wait for a later event that would come
 * after the unwanted one (another watcher's result, the next relevant change) and count.
 */
import type { QueryListener, SqliteRow, SqliteValue, SyncConfig, SyncClient } from "@oversync/client";
import { afterEach, describe, expect, it } from "vitest";
import { tablesReadBy, watchQuery } from "../../packages/client/src/engine/live-query.js";
import { type EngineHarness, SCHEMA_PRESETS, startEngineHarness } from "./engine-harness.js";

const USERS_POSTS: SyncConfig = {
  schema: "main",
  syncTables: [
    { tableName: "users", syncKeyColumnName: "id" },
    { tableName: "posts", syncKeyColumnName: "id" },
  ],
};

const SCHEMA = [
  ...SCHEMA_PRESETS["users-posts"]!,
  "CREATE INDEX posts_by_user ON posts(user_id)",
  "CREATE VIEW user_names AS SELECT name FROM users",
  "CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL)",
];

/** A watcher that records what it receives; `settled(n)` resolves once n callbacks arrived. */
interface Recorder<R> {
  readonly results: R[][];
  readonly errors: unknown[];
  readonly listener: QueryListener<R>;
  settled(count: number): Promise<void>;
}

function recorder<R = SqliteRow>(): Recorder<R> {
  const results: R[][] = [];
  const errors: unknown[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      if (results.length + errors.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  return {
    results,
    errors,
    listener: {
      onResult: (rows) => {
        results.push(rows);
        check();
      },
      onError: (error) => {
        errors.push(error);
        check();
      },
    },
    settled: (count) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, resolve });
        check();
      }),
  };
}

function userRow(id: string, name: string) {
  return { schema: "main", table: "users", key: { id }, op: "INSERT" as const, payload: { id, name } };
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

let harness: EngineHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function openClient(): Promise<{ h: EngineHarness; client: SyncClient }> {
  harness = await startEngineHarness({ schema: SCHEMA, config: USERS_POSTS });
  await harness.client.open();
  return { h: harness, client: harness.client };
}

describe("watchQuery", () => {
  it("runs the query, then again after a local write to a table it reads, and not after a write to one it does not read", async () => {
    const { h, client } = await openClient();
    await h.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada')"]);
    const users = recorder<{ name: string }>();
    const posts = recorder<{ title: string }>();
    const stopUsers = client.watchQuery("SELECT name FROM users ORDER BY id", [], users.listener);
    const stopPosts = client.watchQuery("SELECT title FROM posts ORDER BY id", [], posts.listener);
    await Promise.all([users.settled(1), posts.settled(1)]);
    expect(users.results).toEqual([[{ name: "Ada" }]]);
    expect(posts.results).toEqual([[]]);

    // A posts write: the posts watcher re-runs. The users watcher subscribed first, so a (wrong)
    // re-run of it would have been scheduled and queued ahead of the posts run and delivered first.
    await h.driver.run("INSERT INTO posts(id, user_id, title) VALUES('p1', 'u1', 'Hello')");
    await posts.settled(2);
    expect(posts.results.at(-1)).toEqual([{ title: "Hello" }]);
    expect(users.results).toHaveLength(1);

    // A write to an unmanaged table reports nothing; the next users write is the next users event.
    await h.driver.run("INSERT INTO notes(id, body) VALUES('n1', 'x')");
    await h.driver.run("UPDATE users SET name = 'Ada L.' WHERE id = 'u1'");
    await users.settled(2);
    expect(users.results).toEqual([[{ name: "Ada" }], [{ name: "Ada L." }]]);
    expect(posts.results).toHaveLength(2);
    expect([...users.errors, ...posts.errors]).toEqual([]);
    stopUsers();
    stopPosts();
  });

  it("re-runs after a sync-applied change (pull) of a table it reads", async () => {
    const { h, client } = await openClient();
    await client.attach("user-1");
    const users = recorder<{ id: string; name: string }>();
    const stop = client.watchQuery("SELECT id, name FROM users ORDER BY id", [], users.listener);
    await users.settled(1);
    expect(users.results).toEqual([[]]);
    h.backend.appendBundle({ rows: [userRow("r1", "Remote")] });
    await client.pullToStable();
    await users.settled(2);
    expect(users.results).toEqual([[], [{ id: "r1", name: "Remote" }]]);
    stop();
  });

  it("follows views, joins, subqueries and index-only scans to their tables", async () => {
    const { h, client } = await openClient();
    const tables = (sql: string, params: SqliteValue[] = []) =>
      tablesReadBy(h.driver, sql, params).then((found) =>
        found === undefined ? undefined : [...found].sort(),
      );
    expect(await tables("SELECT * FROM user_names")).toEqual(["users"]);
    expect(await tables("SELECT title, name FROM posts JOIN users ON users.id = posts.user_id")).toEqual([
      "posts",
      "users",
    ]);
    expect(
      await tables("SELECT name FROM users WHERE id IN (SELECT user_id FROM posts WHERE title = ?)", ["x"]),
    ).toEqual(["posts", "users"]);
    expect(await tables("SELECT count(*) FROM posts WHERE user_id = ?", ["u1"])).toEqual(["posts"]);
    expect(await tables("WITH t AS (SELECT id FROM USERS) SELECT * FROM t")).toEqual(["users"]);
    expect(await tables("SELECT 1")).toEqual([]);

    // And the watcher of a view re-runs when the table under it changes.
    const names = recorder<{ name: string }>();
    const stop = client.watchQuery("SELECT name FROM user_names", [], names.listener);
    await names.settled(1);
    await h.driver.run("INSERT INTO users(id, name) VALUES('u1', 'Ada')");
    await names.settled(2);
    expect(names.results).toEqual([[], [{ name: "Ada" }]]);
    stop();
  });

  it("binds parameters, and `tables` overrides the plan", async () => {
    const { h, client } = await openClient();
    await h.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada'), ('u2', 'Bob')"]);
    const one = recorder<{ name: string }>();
    const stop = client.watchQuery("SELECT name FROM users WHERE id = ?", ["u2"], one.listener, {
      tables: ["POSTS"],
    });
    await one.settled(1);
    expect(one.results).toEqual([[{ name: "Bob" }]]);
    // Declared to depend on posts only: a users write is not its event, the posts write after it is.
    await h.driver.run("UPDATE users SET name = 'Bobby' WHERE id = 'u2'");
    await h.driver.run("INSERT INTO posts(id, user_id, title) VALUES('p1', 'u1', 'Hello')");
    await one.settled(2);
    expect(one.results).toEqual([[{ name: "Bob" }], [{ name: "Bobby" }]]);
    stop();
  });

  it("coalesces a burst of writes into one run", async () => {
    const { h, client } = await openClient();
    const count = recorder<{ n: bigint }>();
    const stop = client.watchQuery("SELECT count(*) AS n FROM users", [], count.listener);
    await count.settled(1);
    // One transaction of five statements, then two more writes: all before the next macrotask.
    await h.execute([1, 2, 3, 4, 5].map((n) => `INSERT INTO users(id, name) VALUES('t${n}', 'T')`));
    await h.driver.run("INSERT INTO users(id, name) VALUES('a', 'A')");
    await h.driver.run("INSERT INTO users(id, name) VALUES('b', 'B')");
    await count.settled(2);
    expect(count.results.map(([row]) => row!.n)).toEqual([0n, 7n]);
    // No run is left over: the next write's result is the third.
    await h.driver.run("DELETE FROM users WHERE id = 'a'");
    await count.settled(3);
    expect(count.results.map(([row]) => row!.n)).toEqual([0n, 7n, 6n]);
    stop();
  });

  it("a change during a running query makes exactly one more run, never two at once, and the last result is current", async () => {
    // The real connection and tracker; only the watched query waits on a gate before it runs, to
    // place writes deterministically while it is in flight.
    const { h, client } = await openClient();
    let inFlight = 0;
    let maxInFlight = 0;
    let queries = 0;
    let gate: Deferred | undefined = deferred();
    const arrived = deferred();
    const source = {
      db: {
        exec: (sql: string) => h.driver.exec(sql),
        run: (sql: string, params?: readonly SqliteValue[]) => h.driver.run(sql, params),
        query: async <R>(sql: string, params?: readonly SqliteValue[]) => {
          if (sql.startsWith("EXPLAIN") || sql.includes("sqlite_master"))
            return h.driver.query<R>(sql, params);
          queries++;
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            if (gate !== undefined) {
              arrived.resolve();
              await gate.promise;
            }
            return await h.driver.query<R>(sql, params);
          } finally {
            inFlight--;
          }
        },
      },
      subscribe: client.onTablesChanged.bind(client),
      closed: new AbortController().signal,
    };
    const seen = recorder<{ name: string }>();
    const stop = watchQuery<{ name: string }>(
      source,
      "SELECT name FROM users ORDER BY id",
      [],
      seen.listener,
    );
    // The first run waits at the gate; three writes arrive while it is in flight.
    await arrived.promise;
    await h.driver.run("INSERT INTO users(id, name) VALUES('u1', 'one')");
    await h.driver.run("INSERT INTO users(id, name) VALUES('u2', 'two')");
    await h.driver.run("UPDATE users SET name = 'ONE' WHERE id = 'u1'");
    expect(queries).toBe(1);
    const opened = gate!;
    gate = undefined;
    opened.resolve();
    await seen.settled(2);
    expect(queries).toBe(2);
    expect(maxInFlight).toBe(1);
    expect(seen.results.at(-1)).toEqual([{ name: "ONE" }, { name: "two" }]);
    // Nothing else was pending: the next write gives the third result from the third query.
    await h.driver.run("DELETE FROM users WHERE id = 'u2'");
    await seen.settled(3);
    expect(queries).toBe(3);
    expect(seen.results.at(-1)).toEqual([{ name: "ONE" }]);
    stop();
  });

  it("delivers nothing once stopped, even for a run in flight", async () => {
    const { h, client } = await openClient();
    const stopped = recorder();
    const witness = recorder();
    const stop = client.watchQuery("SELECT * FROM users", [], stopped.listener);
    stop();
    const stopWitness = client.watchQuery("SELECT * FROM users", [], witness.listener);
    await witness.settled(1);
    await h.driver.run("INSERT INTO users(id, name) VALUES('u1', 'Ada')");
    await witness.settled(2);
    expect(stopped.results).toEqual([]);
    expect(stopped.errors).toEqual([]);
    stopWitness();

    // An aborted signal stops a watcher the same way.
    const controller = new AbortController();
    const aborted = recorder();
    client.watchQuery("SELECT * FROM users", [], aborted.listener, { signal: controller.signal });
    controller.abort();
    const again = recorder();
    const stopAgain = client.watchQuery("SELECT * FROM users", [], again.listener);
    await h.driver.run("INSERT INTO users(id, name) VALUES('u2', 'Bob')");
    await again.settled(2);
    expect(aborted.results).toEqual([]);
    stopAgain();
  });

  it("reports a failing query to onError and keeps watching; a throwing onResult goes to onError", async () => {
    const { h, client } = await openClient();
    const broken = recorder();
    const stop = client.watchQuery("SELECT nope FROM users", [], broken.listener);
    await broken.settled(1);
    expect(broken.errors).toHaveLength(1);
    expect(broken.errors[0]).toMatchObject({ code: "sqlite_error" });
    // Its tables were unknowable, so any managed change runs it again (and it fails again).
    await h.driver.run("INSERT INTO users(id, name) VALUES('u1', 'Ada')");
    await broken.settled(2);
    expect(broken.errors).toHaveLength(2);
    stop();

    const errors: unknown[] = [];
    const failed = deferred();
    const stopThrowing = client.watchQuery("SELECT 1 AS one", [], {
      onResult: () => {
        throw new Error("listener bug");
      },
      onError: (error) => {
        errors.push(error);
        failed.resolve();
      },
    });
    await failed.promise;
    expect(errors).toEqual([new Error("listener bug")]);
    stopThrowing();
  });

  it("refuses a closed client", async () => {
    const { client } = await openClient();
    await client.close();
    expect(() => client.watchQuery("SELECT 1", [], recorder().listener)).toThrow(
      expect.objectContaining({ code: "client_closed" }),
    );
    expect(() => client.liveQuery("SELECT 1", [])).toThrow(
      expect.objectContaining({ code: "client_closed" }),
    );
  });
});

describe("liveQuery (async iterator)", () => {
  it("yields the first result, then one per change, and ends on break", async () => {
    const { h, client } = await openClient();
    const seen: string[][] = [];
    const names = client.liveQuery<{ name: string }>("SELECT name FROM users ORDER BY id", []);
    for await (const rows of names) {
      seen.push(rows.map((row) => row.name));
      if (seen.length === 2) break;
      await h.driver.run("INSERT INTO users(id, name) VALUES('u1', 'Ada')");
    }
    expect(seen).toEqual([[], ["Ada"]]);
    expect(await names.next()).toEqual({ done: true, value: undefined });
  });

  it("gives a slow consumer the newest result, ends on abort, and throws a failed run", async () => {
    const { h, client } = await openClient();
    const controller = new AbortController();
    const rows = client.liveQuery<{ n: bigint }>("SELECT count(*) AS n FROM users", [], {
      signal: controller.signal,
    });
    expect((await rows.next()).value).toEqual([{ n: 0n }]);
    // Two separate runs' results while nobody reads: the consumer gets the newer one.
    const witness = recorder<{ n: bigint }>();
    const stopWitness = client.watchQuery("SELECT count(*) AS n FROM users", [], witness.listener);
    await witness.settled(1);
    await h.driver.run("INSERT INTO users(id, name) VALUES('u1', 'A')");
    await witness.settled(2);
    await h.driver.run("INSERT INTO users(id, name) VALUES('u2', 'B')");
    await witness.settled(3);
    stopWitness();
    expect((await rows.next()).value).toEqual([{ n: 2n }]);
    const pending = rows.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(await rows.next()).toEqual({ done: true, value: undefined });

    const failing = client.liveQuery("SELECT nope FROM users", []);
    await expect(failing.next()).rejects.toMatchObject({ code: "sqlite_error" });
    expect(await failing.next()).toEqual({ done: true, value: undefined });
  });

  it("ends when the client closes, as a waiting consumer and a later one see", async () => {
    const { client } = await openClient();
    const rows = client.liveQuery<{ n: bigint }>("SELECT count(*) AS n FROM users", []);
    expect((await rows.next()).value).toEqual([{ n: 0n }]);
    const waiting = rows.next();
    await client.close();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(await rows.next()).toEqual({ done: true, value: undefined });
  });
});
