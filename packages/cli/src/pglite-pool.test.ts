import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../../../test/support/postgres.js";
import { CliError } from "./cli-error.js";
import { type PglitePool, openPglitePool } from "./pglite-pool.js";

let pgDb: TestDatabase;
let lite: PglitePool;
let dataRoot: string;

beforeAll(async () => {
  dataRoot = await mkdtemp(join(tmpdir(), "oversync-pglite-"));
  [pgDb, lite] = await Promise.all([
    createTestDatabase(),
    openPglitePool({ dataDir: join(dataRoot, "main") }),
  ]);
});

afterAll(async () => {
  await Promise.all([pgDb?.drop(), lite?.close()]);
  await rm(dataRoot, { recursive: true, force: true });
});

/** Runs the same statement on real PostgreSQL (node-postgres) and on the PGlite pool. */
async function both(text: string, values?: unknown[]) {
  const [pg, pglite] = await Promise.all([pgDb.pool.query(text, values), lite.query(text, values)]);
  return { pg: { rows: pg.rows, rowCount: pg.rowCount }, pglite };
}

/** The reason a statement fails, as the runtime reads it (SQLSTATE and constraint). */
async function failure(run: () => Promise<unknown>) {
  try {
    await run();
  } catch (error) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    return { code, constraint };
  }
  throw new Error("statement unexpectedly succeeded");
}

describe("PGlite returns node-postgres' JS types (side by side with real PostgreSQL)", () => {
  it("scalar types come back with identical values and classes", async () => {
    const { pg, pglite } = await both(`
      SELECT true AS bool_t, false AS bool_f,
        (-32768)::int2 AS i2, 2147483647::int4 AS i4, 9223372036854775807::int8 AS i8,
        (-9223372036854775808)::int8 AS i8_min, 9007199254740993::int8 AS i8_unsafe,
        '-1234567890.1234567890'::numeric(30,10) AS num, 'NaN'::numeric AS num_nan,
        1.2345678901234567::float4 AS f4, 6.57111473696007::float8 AS f8,
        5e-324::float8 AS f8_subnormal, 1.7976931348623157e308::float8 AS f8_max,
        '-0'::float8 AS f8_negzero, 'Infinity'::float8 AS f8_inf, 'NaN'::float8 AS f8_nan,
        'tëxt ✓'::text AS txt, 'ab'::varchar(5) AS vc, 'x'::char(3) AS bpchar, 'nm'::name AS nm,
        '56565656-5656-5656-5656-565656565656'::uuid AS id,
        '\\x00ff10'::bytea AS bin, ''::bytea AS bin_empty,
        '{"a":[1,2.5,"x"],"b":null}'::json AS js, '{"b":1,"a":{"c":true}}'::jsonb AS jsb,
        '"just a string"'::jsonb AS jsb_string, '12345678901234567890'::jsonb AS jsb_big,
        '2026-03-24 18:42:11.123456+00'::timestamptz AS tstz, '2026-03-24 18:42:11'::timestamp AS ts,
        '2026-03-24'::date AS d, '18:42:11.5'::time AS t, '18:42:11+02'::timetz AS ttz,
        '1 day 02:03:04'::interval AS iv, 42::oid AS oid, '(1.5,2)'::point AS pt,
        '192.168.0.1/24'::inet AS inet, NULL::int8 AS null_i8, NULL::bytea AS null_bin`);
    expect(pglite.rows).toStrictEqual(pg.rows);
    expect(pglite.rowCount).toBe(pg.rowCount);
    const row = pglite.rows[0]!;
    expect(row.i8).toBe("9223372036854775807");
    expect(row.i8_unsafe).toBe("9007199254740993");
    expect(row.num).toBe("-1234567890.1234567890");
    expect(row.i4).toBe(2147483647);
    expect(row.bool_t).toBe(true);
    expect(Buffer.isBuffer(row.bin)).toBe(true);
    expect(row.jsb).toStrictEqual({ a: { c: true }, b: 1 });
    expect(row.tstz).toBeInstanceOf(Date);
  });

  it("array types come back identically", async () => {
    const { pg, pglite } = await both(`
      SELECT '{1,NULL,3}'::int4[] AS i4s, '{9223372036854775807,-1}'::int8[] AS i8s,
        '{"a,b","c\\"d",NULL,"NULL"}'::text[] AS texts, '{t,f}'::bool[] AS bools,
        '{"\\\\x0001","\\\\x"}'::bytea[] AS bins, '{1.50,2}'::numeric[] AS nums,
        '{1.5,-0,Infinity}'::float8[] AS floats, ARRAY['{"a":1}'::jsonb, 'null'::jsonb] AS jsonbs,
        ARRAY['56565656-5656-5656-5656-565656565656'::uuid] AS uuids,
        ARRAY['2026-03-24 18:42:11+00'::timestamptz] AS stamps, '{{1,2},{3,4}}'::int4[] AS matrix,
        '{}'::text[] AS empty`);
    expect(pglite.rows).toStrictEqual(pg.rows);
  });

  it("parameters are prepared as node-postgres prepares them", async () => {
    const values = [
      "9223372036854775807",
      9223372036854775807n,
      42,
      Buffer.from([0, 1, 254, 255]),
      new Uint8Array([7, 8, 9]),
      new Date("2026-03-24T18:42:11.123Z"),
      [1, null, 3],
      ['a,"b"', null, "NULL", "ü"],
      { nested: { list: [1, "two"] }, flag: true },
      '{"already":"json text"}',
      true,
      null,
      undefined,
      "12.3",
      "1.2345678901234567",
      "-0",
    ];
    const { pg, pglite } = await both(
      `SELECT $1::int8 AS p1, $2::int8 AS p2, $3::int4 AS p3, $4::bytea AS p4, $5::bytea AS p5,
        $6::timestamptz AS p6, $7::int4[] AS p7, $8::text[] AS p8, $9::jsonb AS p9, $10::jsonb AS p10,
        $11::bool AS p11, $12::text AS p12, $13::int8 AS p13, $14::numeric(8,4) AS p14,
        $15::float4 AS p15, $16::float8 AS p16, $4 = $4::bytea AS same_bytes`,
      values,
    );
    expect(pglite.rows).toStrictEqual(pg.rows);
    expect(pglite.rows[0]!.p10).toStrictEqual({ already: "json text" });
    expect(pglite.rows[0]!.p14).toBe("12.3000");
  });

  it("parameter quirks of node-postgres are kept, so code tried on PGlite behaves the same on PostgreSQL", async () => {
    const timeZone = process.env.TZ;
    // node-postgres sends a Date as local time with its offset; a `timestamp` column keeps the wall time.
    process.env.TZ = "America/New_York";
    try {
      const { pg, pglite } = await both("SELECT $1::timestamp::text AS wall, $2::text AS object_text", [
        new Date("2026-03-24T18:42:11Z"),
        { a: 1 },
      ]);
      expect(pglite.rows).toStrictEqual(pg.rows);
      expect(pglite.rows[0]).toStrictEqual({ wall: "2026-03-24 14:42:11", object_text: '{"a":1}' });
    } finally {
      process.env.TZ = timeZone;
    }
    // A JS array becomes a PostgreSQL array literal, which is not JSON: both refuse it the same way.
    const arrayAsJson = "SELECT $1::jsonb AS j";
    expect(await failure(() => lite.query(arrayAsJson, [[1, 2]]))).toStrictEqual(
      await failure(() => pgDb.pool.query(arrayAsJson, [[1, 2]])),
    );
    // Bad input is judged by PostgreSQL (an SQLSTATE), never by a client-side serializer.
    const cases: [string, unknown[]][] = [
      ["SELECT $1::bool AS b", ["2"]],
      ["SELECT $1::text AS t", [Buffer.from([0xff, 0x41])]],
      ["SELECT $1::timestamptz AS t", ["not a time"]],
    ];
    for (const [text, values] of cases) {
      const expected = await failure(() => pgDb.pool.query(text, values));
      expect(expected.code).toMatch(/^22/);
      expect(await failure(() => lite.query(text, values))).toStrictEqual(expected);
    }
  });

  it("row counts follow the command tag, null for commands without one", async () => {
    const statements: [string, unknown[]?][] = [
      ["CREATE TABLE counted (id int PRIMARY KEY, v text)"],
      ["INSERT INTO counted SELECT g, 'v' FROM generate_series(1, 5) g"],
      ["UPDATE counted SET v = $1 WHERE id > $2", ["w", 2]],
      ["DELETE FROM counted WHERE id = $1", [1]],
      ["SELECT * FROM counted ORDER BY id"],
      ["SELECT * FROM counted WHERE id = $1", [99]],
      ["INSERT INTO counted VALUES ($1, $2) RETURNING *", [10, "r"]],
      ["DROP TABLE counted"],
    ];
    for (const [text, values] of statements) {
      const { pg, pglite } = await both(text, values);
      expect({ text, ...pglite }).toStrictEqual({ text, ...pg });
    }
  });

  it("errors carry the same SQLSTATE and constraint", async () => {
    await both("CREATE TABLE uniq (id int CONSTRAINT uniq_pk PRIMARY KEY)");
    await both("INSERT INTO uniq VALUES (1)");
    const duplicate = "INSERT INTO uniq VALUES ($1)";
    expect(await failure(() => lite.query(duplicate, [1]))).toStrictEqual(
      await failure(() => pgDb.pool.query(duplicate, [1])),
    );
    expect(await failure(() => lite.query("SELEC 1"))).toStrictEqual({
      code: "42601",
      constraint: undefined,
    });
    expect(await failure(() => lite.query("SELECT $1::int4", ["x"]))).toStrictEqual(
      await failure(() => pgDb.pool.query("SELECT $1::int4", ["x"])),
    );
    await both("DROP TABLE uniq");
  });

  it("text without parameters may hold several statements; the last one's rows are returned", async () => {
    const result = await lite.query(
      "CREATE TEMP TABLE multi (v int); INSERT INTO multi VALUES (1), (2); SELECT sum(v) AS s FROM multi",
    );
    expect(result.rows).toStrictEqual([{ s: "3" }]);
    await lite.query("DROP TABLE multi");
  });
});

describe("the PGlite session is leased to one caller at a time", () => {
  it("connect() waits until the previous client is released", async () => {
    const events: string[] = [];
    const first = await lite.connect();
    const second = lite.connect().then((client) => {
      events.push("second acquired");
      return client;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    events.push("first releasing");
    first.release();
    (await second).release();
    expect(events).toStrictEqual(["first releasing", "second acquired"]);
  });

  it("pool.query() waits for a held transaction and never runs inside it", async () => {
    await lite.query("CREATE TABLE leased (v int)");
    const client = await lite.connect();
    await client.query("BEGIN");
    await client.query("INSERT INTO leased VALUES (1)");
    const outside = lite.query<{ n: string }>("SELECT count(*) AS n FROM leased");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.query("ROLLBACK");
    client.release();
    expect((await outside).rows).toStrictEqual([{ n: "0" }]);
    await lite.query("DROP TABLE leased");
  });

  it("releasing a client with an error rolls back its open transaction", async () => {
    await lite.query("CREATE TABLE discarded (v int)");
    const client = await lite.connect();
    await client.query("BEGIN");
    await client.query("INSERT INTO discarded VALUES (1)");
    client.release(new Error("work failed"));
    const next = await lite.connect();
    await next.query("INSERT INTO discarded VALUES (2)");
    expect((await next.query("SELECT v FROM discarded")).rows).toStrictEqual([{ v: 2 }]);
    next.release();
    // The second insert was autocommitted, so the session was no longer inside the first transaction.
    expect((await lite.query("SELECT v FROM discarded")).rows).toStrictEqual([{ v: 2 }]);
    await lite.query("DROP TABLE discarded");
  });

  it("a released client refuses further use", async () => {
    const client = await lite.connect();
    client.release();
    await expect(client.query("SELECT 1")).rejects.toMatchObject({ code: "client_released" });
    expect(() => client.release()).toThrow(CliError);
  });

  it("many concurrent callers are all served, in order", async () => {
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, index) => {
        const client = await lite.connect();
        await client.query("SELECT $1::int AS i", [index]);
        order.push(index);
        client.release();
      }),
    );
    expect(order).toStrictEqual(Array.from({ length: 20 }, (_, index) => index));
  });
});

describe("LISTEN/NOTIFY on the PGlite session", () => {
  it("delivers committed notifications, drops rolled-back ones, stops after unlisten", async () => {
    const received: string[] = [];
    const unlisten = await lite.listen("oversync_test_wake", (payload) => received.push(payload));
    await lite.query("SELECT pg_notify('oversync_test_wake', 'one')");
    const client = await lite.connect();
    await client.query("BEGIN");
    await client.query("SELECT pg_notify('oversync_test_wake', 'rolled back')");
    await client.query("ROLLBACK");
    await client.query("BEGIN");
    await client.query("SELECT pg_notify('oversync_test_wake', 'two')");
    await client.query("COMMIT");
    client.release();
    await waitFor(() => received.length >= 2);
    expect(received).toStrictEqual(["one", "two"]);
    await unlisten();
    await unlisten();
    await lite.query("SELECT pg_notify('oversync_test_wake', 'after')");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toStrictEqual(["one", "two"]);
  });

  it("rejects channel names that would mean different channels on PGlite and PostgreSQL", async () => {
    await expect(lite.listen("Mixed_Case", () => undefined)).rejects.toMatchObject({
      code: "invalid_channel",
    });
    await expect(lite.listen("a; DROP TABLE x", () => undefined)).rejects.toMatchObject({
      code: "invalid_channel",
    });
  });

  it("a throwing callback is reported, not propagated into the notifying statement", async () => {
    const errors: string[] = [];
    const pool = await openPglitePool({
      dataDir: join(dataRoot, "throwing"),
      logger: { error: (message) => errors.push(message) },
    });
    try {
      await pool.listen("oversync_throws", () => {
        throw new Error("callback bug");
      });
      await pool.query("SELECT pg_notify('oversync_throws', 'x')");
      await waitFor(() => errors.length > 0);
      expect(errors).toStrictEqual(["notification callback threw"]);
    } finally {
      await pool.close();
    }
  });
});

describe("the PGlite data directory", () => {
  it("keeps committed data across close and reopen, and refuses use after close", async () => {
    const dataDir = join(dataRoot, "persist");
    const first = await openPglitePool({ dataDir });
    await first.query("CREATE TABLE kept (v int8)");
    await first.query("INSERT INTO kept VALUES ($1)", ["9007199254740993"]);
    await first.close();
    await expect(first.query("SELECT 1")).rejects.toMatchObject({ code: "pool_closed" });
    await expect(first.connect()).rejects.toMatchObject({ code: "pool_closed" });
    const second = await openPglitePool({ dataDir });
    try {
      expect((await second.query("SELECT v FROM kept")).rows).toStrictEqual([{ v: "9007199254740993" }]);
    } finally {
      await second.close();
    }
  });

  it("close() lets queued work finish first", async () => {
    const pool = await openPglitePool({ dataDir: join(dataRoot, "drain") });
    const client = await pool.connect();
    const queued = pool.query<{ v: number }>("SELECT 7 AS v");
    const closed = pool.close();
    client.release();
    expect((await queued).rows).toStrictEqual([{ v: 7 }]);
    await closed;
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
