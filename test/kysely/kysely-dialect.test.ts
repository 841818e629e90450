/**
 * `OversyncDialect` over a real SQLite file (better-sqlite3 through the client's driver), without a
 * sync client: how parameters are bound (safe-integer numbers as INTEGER, seen with `typeof()` in a
 * column that keeps what it is given), which values are refused before SQLite sees them, how
 * INTEGERs come back under `integers: "number"` and `"bigint"`, what Kysely's results report, and
 * that Kysely transactions are real SQLite transactions on the driver's one connection. Syncing
 * what Kysely writes is test/kysely/kysely-sync.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OversyncClientError, type SqliteDriver, SqliteError } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { OversyncDialect } from "@oversync/kysely";
import { Kysely, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from "vitest";

/** `v` has no declared type, so SQLite stores each value in the class it was bound as. */
interface Database {
  vals: { id: number; v: unknown };
  parents: { id: number; name: string };
  children: { id: number; parent_id: number };
}

interface BigintDatabase {
  vals: { id: bigint; v: unknown };
}

const MAX_SAFE = 2 ** 53 - 1;

let dir: string;
let driver: SqliteDriver;
let db: Kysely<Database>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "oversync-kysely-"));
  driver = await openBetterSqlite3Driver(join(dir, "app.db"));
  await driver.exec(
    "PRAGMA foreign_keys = ON;" +
      "CREATE TABLE vals (id INTEGER PRIMARY KEY, v);" +
      "CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL);" +
      "CREATE TABLE children (id INTEGER PRIMARY KEY, " +
      "parent_id INTEGER NOT NULL REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED);",
  );
  db = new Kysely<Database>({ dialect: new OversyncDialect({ driver }) });
});

afterEach(async () => {
  await db.destroy();
  await driver.close();
  await rm(dir, { recursive: true, force: true });
});

/** Each stored value with its storage class, read through the driver (INTEGER as bigint). */
async function stored(): Promise<{ id: bigint; type: string; v: unknown }[]> {
  return driver.query("SELECT id, typeof(v) AS type, v FROM vals ORDER BY id");
}

/** The error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: unknown) => error,
  );
}

describe("parameters", () => {
  it("binds safe-integer numbers as INTEGER, other finite numbers as REAL, booleans as 1/0, the rest as given", async () => {
    const blob = new Uint8Array([1, 2, 3]);
    await db
      .insertInto("vals")
      .values([
        { id: 1, v: 5 },
        { id: 2, v: -7 },
        { id: 3, v: 2.5 },
        { id: 4, v: true },
        { id: 5, v: false },
        { id: 6, v: 2 ** 53 },
        { id: 7, v: 12n },
        { id: 8, v: "text" },
        { id: 9, v: blob },
        { id: 10, v: null },
      ])
      .execute();
    expect(await stored()).toEqual([
      { id: 1n, type: "integer", v: 5n },
      { id: 2n, type: "integer", v: -7n },
      { id: 3n, type: "real", v: 2.5 },
      { id: 4n, type: "integer", v: 1n },
      { id: 5n, type: "integer", v: 0n },
      // Not a safe integer: the number is bound as the REAL it is, not as an INTEGER it may not be.
      { id: 6n, type: "real", v: 2 ** 53 },
      { id: 7n, type: "integer", v: 12n },
      { id: 8n, type: "text", v: "text" },
      { id: 9n, type: "blob", v: blob },
      { id: 10n, type: "null", v: null },
    ]);
    // In a WHERE, a LIMIT and a raw expression alike.
    const found = await db.selectFrom("vals").select("id").where("v", "=", 5).limit(1).execute();
    expect(found).toEqual([{ id: 1 }]);
    const [types] = await db
      .selectNoFrom([sql<string>`typeof(${5})`.as("whole"), sql<string>`typeof(${0.5})`.as("fraction")])
      .execute();
    expect(types).toEqual({ whole: "integer", fraction: "real" });
  });

  it("refuses values SQLite cannot store as given with sql_param_invalid, and writes nothing", async () => {
    const cases: [unknown, RegExp][] = [
      [new Date(0), /parameter 2 is a Date; bind date\.toISOString\(\)/],
      [{ a: 1 }, /parameter 2 is an object; bind JSON\.stringify/],
      [[1, 2], /parameter 2 is an array/],
      [Number.NaN, /parameter 2 is NaN/],
      [Number.POSITIVE_INFINITY, /parameter 2 is Infinity/],
      [Number.NEGATIVE_INFINITY, /parameter 2 is -Infinity/],
      [Symbol("s"), /parameter 2 is a symbol/],
    ];
    for (const [value, message] of cases) {
      const error = await failure(
        db
          .insertInto("vals")
          .values({ id: 1, v: value as never })
          .execute(),
      );
      expect(error, String(message)).toBeInstanceOf(OversyncClientError);
      expect(error, String(message)).toMatchObject({
        code: "sql_param_invalid",
        message: expect.stringMatching(message),
      });
    }
    const raw = await failure(sql`SELECT ${undefined} AS v`.execute(db));
    expect(raw).toMatchObject({
      code: "sql_param_invalid",
      message: expect.stringMatching(/parameter 1 is undefined; bind null/),
    });
    expect(await stored()).toEqual([]);
  });
});

describe("rows", () => {
  beforeEach(async () => {
    await db
      .insertInto("vals")
      .values([
        { id: 1, v: 42n },
        { id: 2, v: BigInt(MAX_SAFE) },
        { id: 3, v: -BigInt(MAX_SAFE) },
        { id: 4, v: 1.5 },
        { id: 5, v: "x" },
      ])
      .execute();
  });

  it('maps INTEGERs to numbers under integers: "number" (±(2^53−1) included), so rows are plain JSON', async () => {
    const rows = await db.selectFrom("vals").selectAll().orderBy("id").execute();
    expect(rows).toEqual([
      { id: 1, v: 42 },
      { id: 2, v: MAX_SAFE },
      { id: 3, v: -MAX_SAFE },
      { id: 4, v: 1.5 },
      { id: 5, v: "x" },
    ]);
    expect(JSON.stringify(rows)).toBe(
      `[{"id":1,"v":42},{"id":2,"v":${MAX_SAFE}},{"id":3,"v":${-MAX_SAFE}},{"id":4,"v":1.5},{"id":5,"v":"x"}]`,
    );
    const [counted] = await db.selectFrom("vals").select(db.fn.countAll().as("n")).execute();
    expect(counted).toEqual({ n: 5 });
  });

  it('refuses an INTEGER beyond ±(2^53−1) under "number" with integer_out_of_range, naming the column', async () => {
    for (const value of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      await db.deleteFrom("vals").where("id", "=", 9).execute();
      await db.insertInto("vals").values({ id: 9, v: value }).execute();
      const error = await failure(db.selectFrom("vals").select(["id", "v"]).where("id", "=", 9).execute());
      expect(error, String(value)).toBeInstanceOf(OversyncClientError);
      expect(error, String(value)).toMatchObject({
        code: "integer_out_of_range",
        message: expect.stringMatching(
          new RegExp(`column "v" holds the INTEGER ${value}.*integers: "bigint"`),
        ),
      });
    }
  });

  it('returns every INTEGER exactly as bigint under integers: "bigint"', async () => {
    const exact = new Kysely<BigintDatabase>({
      dialect: new OversyncDialect({ driver, integers: "bigint" }),
    });
    await exact
      .insertInto("vals")
      .values([
        { id: 6n, v: 2n ** 53n },
        { id: 7n, v: 2n ** 63n - 1n },
        { id: 8n, v: -(2n ** 63n) },
      ])
      .execute();
    const rows = await exact.selectFrom("vals").selectAll().orderBy("id").execute();
    expect(rows).toEqual([
      { id: 1n, v: 42n },
      { id: 2n, v: BigInt(MAX_SAFE) },
      { id: 3n, v: -BigInt(MAX_SAFE) },
      { id: 4n, v: 1.5 },
      { id: 5n, v: "x" },
      { id: 6n, v: 2n ** 53n },
      { id: 7n, v: 2n ** 63n - 1n },
      { id: 8n, v: -(2n ** 63n) },
    ]);
    await exact.destroy();
  });

  it("refuses an unknown integers mode with invalid_argument", () => {
    expect(() => new OversyncDialect({ driver, integers: "string" as never })).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });
});

describe("results", () => {
  it("reports insertId and affected rows as bigint, and RETURNING rows mapped like any row", async () => {
    const inserted = await db.insertInto("vals").values({ id: 7, v: "a" }).executeTakeFirstOrThrow();
    expect(inserted.insertId).toBe(7n);
    expect(inserted.numInsertedOrUpdatedRows).toBe(1n);
    await db
      .insertInto("vals")
      .values([
        { id: 8, v: "b" },
        { id: 9, v: "c" },
      ])
      .execute();
    const updated = await db
      .updateTable("vals")
      .set({ v: "z" })
      .where("id", ">=", 8)
      .executeTakeFirstOrThrow();
    expect(updated.numUpdatedRows).toBe(2n);
    const returned = await db.deleteFrom("vals").where("id", "=", 9).returning(["id", "v"]).execute();
    expect(returned).toEqual([{ id: 9, v: "z" }]);
    const deleted = await db.deleteFrom("vals").executeTakeFirstOrThrow();
    expect(deleted.numDeletedRows).toBe(2n);
  });

  it("runs schema statements, introspection, raw SQL and streams", async () => {
    await db.schema
      .createTable("tags")
      .addColumn("id", "integer", (column) => column.primaryKey())
      .addColumn("label", "text")
      .execute();
    const tables = await db.introspection.getTables();
    expect(tables.map((table) => table.name).sort()).toEqual(["children", "parents", "tags", "vals"]);
    await sql`INSERT INTO tags (id, label) VALUES (${1}, ${"one"}), (${2}, ${"two"}), (${3}, ${"three"})`.execute(
      db,
    );
    const raw = await sql<{ id: number; label: string }>`SELECT id, label FROM tags WHERE id > ${1}`.execute(
      db,
    );
    expect(raw.rows).toEqual([
      { id: 2, label: "two" },
      { id: 3, label: "three" },
    ]);
    const chunks: number[] = [];
    for await (const row of db.selectFrom("vals").select("id").stream(2)) chunks.push(row.id);
    expect(chunks).toEqual([]);
    await db
      .insertInto("vals")
      .values([1, 2, 3].map((id) => ({ id, v: id })))
      .execute();
    for await (const row of db.selectFrom("vals").select("id").orderBy("id").stream(2)) chunks.push(row.id);
    expect(chunks).toEqual([1, 2, 3]);
  });
});

describe("transactions", () => {
  it("commits a transaction's writes together", async () => {
    const result = await db.transaction().execute(async (trx) => {
      await trx.insertInto("parents").values({ id: 1, name: "p" }).execute();
      await trx.insertInto("children").values({ id: 1, parent_id: 1 }).execute();
      return "done";
    });
    expect(result).toBe("done");
    expect(await db.selectFrom("children").selectAll().execute()).toEqual([{ id: 1, parent_id: 1 }]);
  });

  it("rolls back when the callback throws, and rethrows its error", async () => {
    const thrown = new Error("changed my mind");
    const error = await failure(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("parents").values({ id: 1, name: "p" }).execute();
        expect(await trx.selectFrom("parents").select("id").execute()).toEqual([{ id: 1 }]);
        throw thrown;
      }),
    );
    expect(error).toBe(thrown);
    expect(await db.selectFrom("parents").selectAll().execute()).toEqual([]);
    // The connection is free again: a later transaction commits.
    await db.transaction().execute((trx) => trx.insertInto("parents").values({ id: 2, name: "q" }).execute());
    expect(await db.selectFrom("parents").select("id").execute()).toEqual([{ id: 2 }]);
  });

  it("surfaces a failed COMMIT (a deferred foreign key) as the SqliteError, with nothing written", async () => {
    const error = await failure(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("parents").values({ id: 1, name: "p" }).execute();
        await trx.insertInto("children").values({ id: 1, parent_id: 99 }).execute();
      }),
    );
    expect(error).toBeInstanceOf(SqliteError);
    expect(error).toMatchObject({ code: "sqlite_error", sqliteCode: "SQLITE_CONSTRAINT" });
    expect(await db.selectFrom("parents").selectAll().execute()).toEqual([]);
    expect(await driver.query("SELECT 1 FROM children")).toEqual([]);
  });

  it("a failed COMMIT of a controlled transaction: the error surfaces, the transaction refuses statements, rollback releases it", async () => {
    const trx = await db.startTransaction().execute();
    await trx.insertInto("children").values({ id: 1, parent_id: 99 }).execute();
    expect(await failure(trx.commit().execute())).toMatchObject({ sqliteCode: "SQLITE_CONSTRAINT" });
    expect(await failure(trx.selectFrom("parents").selectAll().execute())).toMatchObject({
      code: "driver_closed",
    });
    await trx.rollback().execute();
    expect(await db.selectFrom("children").selectAll().execute()).toEqual([]);
  });

  it("rolls back to a savepoint of a controlled transaction and commits the rest", async () => {
    const trx = await db.startTransaction().execute();
    await trx.insertInto("parents").values({ id: 1, name: "kept" }).execute();
    const saved = await trx.savepoint("before second").execute();
    await saved.insertInto("parents").values({ id: 2, name: "undone" }).execute();
    const back = await saved.rollbackToSavepoint("before second").execute();
    await back.releaseSavepoint("before second").execute();
    await trx.commit().execute();
    expect(await db.selectFrom("parents").selectAll().execute()).toEqual([{ id: 1, name: "kept" }]);
  });

  it("statements outside an open transaction wait for it instead of joining it", async () => {
    let outside: Promise<unknown> | undefined;
    const error = await failure(
      db.transaction().execute(async (trx) => {
        await trx.insertInto("parents").values({ id: 1, name: "uncommitted" }).execute();
        // Issued while the transaction holds the connection: by Kysely and by the driver itself.
        outside = Promise.all([
          db.selectFrom("parents").select("id").execute(),
          driver.query("SELECT id FROM parents"),
        ]);
        throw new Error("roll back");
      }),
    );
    expect(error).toMatchObject({ message: "roll back" });
    expect(await outside).toEqual([[], []]);
  });
});

describe("types", () => {
  it("gives rows the query's output type", async () => {
    const rows = await db.selectFrom("parents").select(["id", "name"]).execute();
    expectTypeOf(rows).toEqualTypeOf<{ id: number; name: string }[]>();
  });
});
