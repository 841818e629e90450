/**
 * `@oversync/kysely` with the sync client, end to end: two devices of one user (real SQLite files,
 * each with the sync client and Kysely over the same driver) against the reference server over
 * loopback HTTP on real PostgreSQL, with the example schema. Typed writes through Kysely are
 * captured and pushed like any other and reach the other device; a Kysely transaction commits as
 * one, and one that throws leaves nothing queued; INTEGERs keep every digit through sync under
 * `integers: "bigint"`, and under "number" come back as numbers or are refused; Kysely live queries
 * fire after a relevant local write and after a sync from the other device, and not for another table.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import {
  OversyncClientError,
  type QueryListener,
  type SqliteDriver,
  SqliteError,
  type SyncClient,
} from "@oversync/client";
import { OversyncDialect, liveQuery, watchQuery } from "@oversync/kysely";
import { type ColumnType, type Generated, Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { openExampleDevice, signIn, startQuietReferenceServer } from "../support/readme-support.js";

/** The example schema's tables these tests use, as an app declares them for Kysely. */
interface Database {
  users: {
    id: string;
    name: string;
    email: string;
    created_at: Generated<string>;
    updated_at: Generated<string>;
  };
  posts: {
    id: string;
    title: string;
    content: string;
    author_id: string | null;
    created_at: Generated<string>;
    updated_at: Generated<string>;
  };
  typed_rows: {
    id: string;
    name: string;
    count_value: number | null;
    // A boolean column: stored as INTEGER 0/1, written as a boolean or a number.
    enabled_flag: ColumnType<number, boolean | number, boolean | number>;
  };
}

/** The same tables read with `integers: "bigint"`. */
interface ExactDatabase {
  typed_rows: {
    id: string;
    name: string;
    count_value: bigint | null;
    enabled_flag: ColumnType<bigint, boolean | bigint, boolean | bigint>;
  };
}

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  /** Kysely over the client's driver, INTEGERs as numbers. */
  readonly db: Kysely<Database>;
  /** Kysely over the same driver, INTEGERs as bigint. */
  readonly exact: Kysely<ExactDatabase>;
}

/** A live query's deliveries, and waits for one that matches. */
class Results<R> {
  readonly results: R[][] = [];
  readonly errors: unknown[] = [];
  private readonly waiters = new Set<() => void>();
  readonly listener: QueryListener<R> = {
    onResult: (rows) => {
      this.results.push(rows);
      for (const wake of this.waiters) wake();
    },
    onError: (error) => {
      this.errors.push(error);
      for (const wake of this.waiters) wake();
    },
  };

  /** Resolves once the latest result (the current one included) satisfies `predicate`. */
  until(predicate: (rows: R[]) => boolean): Promise<R[]> {
    return this.when(() => {
      const latest = this.results.at(-1);
      return latest !== undefined && predicate(latest) ? latest : undefined;
    });
  }

  /** Resolves with the `count`-th failure once it has been delivered. */
  failure(count: number): Promise<unknown> {
    return this.when(() => (this.errors.length >= count ? this.errors[count - 1] : undefined));
  }

  private when<T>(check: () => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const wake = () => {
        const value = check();
        if (value === undefined) return;
        this.waiters.delete(wake);
        resolve(value);
      };
      this.waiters.add(wake);
      wake();
    });
  }
}

const USER = `kysely-${randomUUID()}`;
const MAX_SAFE = 2 ** 53 - 1;

let database: TestDatabase;
let dir: string;
let server: RunningServer;
let token: string;
let phone: Device;
let laptop: Device;

async function openDevice(name: string): Promise<Device> {
  const { driver, client } = await openExampleDevice(server, join(dir, `${name}.db`), () => token);
  await client.attach(USER);
  return {
    driver,
    client,
    db: new Kysely<Database>({ dialect: new OversyncDialect({ driver }) }),
    exact: new Kysely<ExactDatabase>({ dialect: new OversyncDialect({ driver, integers: "bigint" }) }),
  };
}

async function pending(device: Device): Promise<{ queued: boolean; rows: number }> {
  const status = await device.client.pendingSyncStatus();
  return { queued: status.hasPendingSyncData, rows: status.pendingRowCount };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: unknown) => error,
  );
}

beforeAll(async () => {
  database = await createTestDatabase("oversync_kysely");
  dir = await mkdtemp(join(tmpdir(), "oversync-kysely-sync-"));
  server = await startQuietReferenceServer(database.url, join(dir, "data"));
  token = await signIn(server, USER);
  phone = await openDevice("phone");
  laptop = await openDevice("laptop");
});

afterAll(async () => {
  for (const device of [phone, laptop]) {
    await device?.db.destroy();
    await device?.exact.destroy();
    await device?.client.close();
    await device?.driver.close();
  }
  await server?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("writes through Kysely sync like any other", () => {
  it("typed insert, update and delete are queued, pushed, and reach the other device", async () => {
    const [ada, bob] = [randomUUID(), randomUUID()];
    await phone.db
      .insertInto("users")
      .values([
        { id: ada, name: "Ada", email: "ada@example.com" },
        { id: bob, name: "Bob", email: "bob@example.com" },
      ])
      .execute();
    const updated = await phone.db
      .updateTable("users")
      .set({ name: "Ada Lovelace" })
      .where("id", "=", ada)
      .executeTakeFirstOrThrow();
    expect(updated.numUpdatedRows).toBe(1n);
    await phone.db.deleteFrom("users").where("id", "=", bob).execute();
    const selected = await phone.db.selectFrom("users").select(["id", "name"]).execute();
    expectTypeOf(selected).toEqualTypeOf<{ id: string; name: string }[]>();
    expect(selected).toEqual([{ id: ada, name: "Ada Lovelace" }]);
    expect(await pending(phone)).toMatchObject({ queued: true });

    expect(await phone.client.pushPending()).toMatchObject({ outcome: "committed" });
    expect(await pending(phone)).toEqual({ queued: false, rows: 0 });
    const { rows } = await database.pool.query(
      "SELECT id::text, name FROM business.users WHERE _sync_scope_id = $1",
      [USER],
    );
    expect(rows).toEqual([{ id: ada, name: "Ada Lovelace" }]);

    await laptop.client.sync();
    expect(await laptop.db.selectFrom("users").select(["id", "name"]).execute()).toEqual([
      { id: ada, name: "Ada Lovelace" },
    ]);
  });

  it("a Kysely transaction commits its writes as one, and they sync", async () => {
    const [author, post] = [randomUUID(), randomUUID()];
    await phone.db.transaction().execute(async (trx) => {
      // The post comes first: the foreign key is checked at COMMIT, when the author exists.
      await trx
        .insertInto("posts")
        .values({ id: post, title: "Notes", content: "on the engine", author_id: author })
        .execute();
      await trx.insertInto("users").values({ id: author, name: "Charles", email: "c@example.com" }).execute();
    });
    expect(await pending(phone)).toMatchObject({ queued: true });
    expect(await phone.client.sync()).toMatchObject({ pushOutcome: "committed" });

    await laptop.client.sync();
    const joined = await laptop.db
      .selectFrom("posts")
      .innerJoin("users", "users.id", "posts.author_id")
      .select(["posts.title", "users.name"])
      .where("posts.id", "=", post)
      .execute();
    expect(joined).toEqual([{ title: "Notes", name: "Charles" }]);
  });

  it("a transaction that throws rolls back and leaves nothing queued for sync", async () => {
    expect(await pending(phone)).toEqual({ queued: false, rows: 0 });
    const id = randomUUID();
    const thrown = new Error("the user pressed cancel");
    const error = await failure(
      phone.db.transaction().execute(async (trx) => {
        await trx.insertInto("users").values({ id, name: "Dora", email: "d@example.com" }).execute();
        await trx.updateTable("users").set({ email: "changed@example.com" }).execute();
        throw thrown;
      }),
    );
    expect(error).toBe(thrown);
    expect(await phone.db.selectFrom("users").select("id").where("id", "=", id).execute()).toEqual([]);
    expect(
      await phone.db.selectFrom("users").select("email").where("email", "=", "changed@example.com").execute(),
    ).toEqual([]);
    expect(await pending(phone)).toEqual({ queued: false, rows: 0 });
  });

  it("a failed COMMIT (a post whose author does not exist) surfaces as the SqliteError, with nothing queued", async () => {
    const error = await failure(
      phone.db.transaction().execute(async (trx) => {
        await trx
          .insertInto("posts")
          .values({ id: randomUUID(), title: "Orphan", content: "", author_id: randomUUID() })
          .execute();
      }),
    );
    expect(error).toBeInstanceOf(SqliteError);
    expect(error).toMatchObject({ code: "sqlite_error", sqliteCode: "SQLITE_CONSTRAINT" });
    expect(
      await phone.db.selectFrom("posts").select("title").where("title", "=", "Orphan").execute(),
    ).toEqual([]);
    expect(await pending(phone)).toEqual({ queued: false, rows: 0 });
  });
});

describe("INTEGERs through sync", () => {
  const [safe, beyond, largest] = [randomUUID(), randomUUID(), randomUUID()];

  beforeAll(async () => {
    // Numbers and booleans from the number-mode Kysely, bigints from the exact one.
    await phone.db
      .insertInto("typed_rows")
      .values({ id: safe, name: "safe", count_value: MAX_SAFE, enabled_flag: true })
      .execute();
    await phone.exact
      .insertInto("typed_rows")
      .values([
        { id: beyond, name: "beyond", count_value: 2n ** 53n, enabled_flag: false },
        { id: largest, name: "largest", count_value: 2n ** 63n - 1n, enabled_flag: 1n },
      ])
      .execute();
    await phone.client.sync();
    await laptop.client.sync();
  });

  it("are stored as INTEGER, reach PostgreSQL with every digit, and round-trip exactly as bigint", async () => {
    expect(
      await phone.driver.query(
        "SELECT typeof(count_value) AS count, typeof(enabled_flag) AS flag FROM typed_rows WHERE id = ?",
        [safe],
      ),
    ).toEqual([{ count: "integer", flag: "integer" }]);
    const { rows } = await database.pool.query(
      "SELECT name, count_value::text AS count_value, enabled_flag FROM business.typed_rows " +
        "WHERE _sync_scope_id = $1 ORDER BY name",
      [USER],
    );
    expect(rows).toEqual([
      { name: "beyond", count_value: "9007199254740992", enabled_flag: false },
      { name: "largest", count_value: "9223372036854775807", enabled_flag: true },
      { name: "safe", count_value: "9007199254740991", enabled_flag: true },
    ]);
    const exact = await laptop.exact
      .selectFrom("typed_rows")
      .select(["name", "count_value", "enabled_flag"])
      .orderBy("name")
      .execute();
    expect(exact).toEqual([
      { name: "beyond", count_value: 2n ** 53n, enabled_flag: 0n },
      { name: "largest", count_value: 2n ** 63n - 1n, enabled_flag: 1n },
      { name: "safe", count_value: BigInt(MAX_SAFE), enabled_flag: 1n },
    ]);
  });

  it('under "number": 2^53−1 is a number and the row is plain JSON; 2^53 and beyond are refused', async () => {
    const [row] = await laptop.db
      .selectFrom("typed_rows")
      .select(["id", "count_value", "enabled_flag"])
      .where("id", "=", safe)
      .execute();
    expect(row).toEqual({ id: safe, count_value: MAX_SAFE, enabled_flag: 1 });
    expect(JSON.stringify(row)).toBe(`{"id":"${safe}","count_value":9007199254740991,"enabled_flag":1}`);
    for (const id of [beyond, largest]) {
      const error = await failure(
        laptop.db.selectFrom("typed_rows").select("count_value").where("id", "=", id).execute(),
      );
      expect(error).toBeInstanceOf(OversyncClientError);
      expect(error).toMatchObject({
        code: "integer_out_of_range",
        message: expect.stringContaining('column "count_value"'),
      });
    }
  });
});

describe("live queries written with Kysely", () => {
  it("fire after a relevant local write and after a sync from the other device, not for another table", async () => {
    type Post = { id: string; title: string };
    const posts = new Results<Post>();
    const query = laptop.db.selectFrom("posts").select(["id", "title"]).orderBy("title");
    const stopPosts = watchQuery(laptop.client, query, posts.listener);
    // Subscribed after the posts watch, so after a change it runs (and delivers) after that one.
    const users = new Results<{ id: string }>();
    const stopUsers = watchQuery(laptop.client, laptop.db.selectFrom("users").select("id"), users.listener);
    try {
      await posts.until((rows) => rows.length > 0);
      const user = randomUUID();
      await users.until((rows) => !rows.some((row) => row.id === user));
      const delivered = posts.results.length;

      await laptop.db.insertInto("users").values({ id: user, name: "Eve", email: "e@example.com" }).execute();
      await users.until((rows) => rows.some((row) => row.id === user));
      // A run of the posts query for this write would have been delivered before the users one.
      expect(posts.results.length).toBe(delivered);

      const mine = randomUUID();
      await laptop.db
        .insertInto("posts")
        .values({ id: mine, title: "From the laptop", content: "" })
        .execute();
      const afterLocal = await posts.until((rows) => rows.some((row) => row.id === mine));
      expectTypeOf(afterLocal).toEqualTypeOf<Post[]>();

      const theirs = randomUUID();
      await phone.db
        .insertInto("posts")
        .values({ id: theirs, title: "From the phone", content: "" })
        .execute();
      await phone.client.sync();
      await laptop.client.sync();
      const afterSync = await posts.until((rows) => rows.some((row) => row.id === theirs));
      expect(afterSync.map((row) => row.title)).toEqual(
        expect.arrayContaining(["From the laptop", "From the phone"]),
      );
      expect(posts.errors).toEqual([]);
    } finally {
      stopPosts();
      stopUsers();
    }
  });

  it("bind parameters and map rows as the dialect does: a refused row goes to onError and the watch goes on", async () => {
    const id = randomUUID();
    await laptop.db
      .insertInto("typed_rows")
      .values({ id, name: "counter", count_value: 1, enabled_flag: false })
      .execute();
    const counts = new Results<{ count_value: number | null }>();
    const stop = watchQuery(
      laptop.client,
      laptop.db
        .selectFrom("typed_rows")
        .select("count_value")
        .where("id", "=", id)
        // A boolean, which the driver itself would refuse: bound as 0 by the dialect's rules.
        .where("enabled_flag", "=", sql<number>`${false}`),
      counts.listener,
    );
    try {
      await counts.until((rows) => rows[0]?.count_value === 1);
      await laptop.exact
        .updateTable("typed_rows")
        .set({ count_value: 2n ** 60n })
        .where("id", "=", id)
        .execute();
      expect(await counts.failure(1)).toMatchObject({ code: "integer_out_of_range" });
      await laptop.db.updateTable("typed_rows").set({ count_value: 2 }).where("id", "=", id).execute();
      await counts.until((rows) => rows[0]?.count_value === 2);
      expect(() =>
        watchQuery(
          laptop.client,
          laptop.db
            .selectFrom("typed_rows")
            .select("id")
            .where("name", "=", new Date() as never),
          counts.listener,
        ),
      ).toThrow(expect.objectContaining({ code: "sql_param_invalid" }));
    } finally {
      stop();
    }
  });

  it("liveQuery is the same watch as an async iterator, typed by the query and its integers mode", async () => {
    const id = randomUUID();
    await laptop.exact
      .insertInto("typed_rows")
      .values({ id, name: "iterated", count_value: 2n ** 62n, enabled_flag: true })
      .execute();
    const results = liveQuery(
      laptop.client,
      laptop.exact.selectFrom("typed_rows").select(["name", "count_value"]).where("id", "=", id),
      { integers: "bigint" },
    );
    expectTypeOf(results).toEqualTypeOf<
      AsyncIterableIterator<{ name: string; count_value: bigint | null }[], undefined, undefined>
    >();
    try {
      expect((await results.next()).value).toEqual([{ name: "iterated", count_value: 2n ** 62n }]);
      await laptop.exact
        .updateTable("typed_rows")
        .set({ count_value: -(2n ** 62n) })
        .where("id", "=", id)
        .execute();
      expect((await results.next()).value).toEqual([{ name: "iterated", count_value: -(2n ** 62n) }]);
    } finally {
      expect(await results.return?.()).toEqual({ done: true, value: undefined });
    }
    expect(await results.next()).toEqual({ done: true, value: undefined });

    // Under "number" (the default) the same row is refused: the iteration throws it and ends.
    const numbers = liveQuery(
      laptop.client,
      laptop.db.selectFrom("typed_rows").select("count_value").where("id", "=", id),
    );
    expectTypeOf(numbers).toEqualTypeOf<
      AsyncIterableIterator<{ count_value: number | null }[], undefined, undefined>
    >();
    expect(await failure(numbers.next())).toMatchObject({ code: "integer_out_of_range" });
    expect(await numbers.next()).toEqual({ done: true, value: undefined });
  });
});
