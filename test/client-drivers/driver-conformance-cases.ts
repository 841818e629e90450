/**
 * The behaviour every SqliteDriver must show, as a list of cases free of vitest and Node, so the
 * same cases run under vitest for the Node drivers (driver-conformance-suite.ts) and in headless
 * Chromium for the sqlite-wasm driver (test/browser). Each case gets a driver open on `main.db` of
 * a folder of its own, and can open more connections on files of that folder.
 */
import { type SqliteDriver, SqliteError, type SqliteValue, isClientError } from "@oversync/client";
import { assert, assertEqual, assertFields, rejection, show } from "./assertions.js";

export interface DriverCaseContext {
  /** The driver under test, open on `main.db`. */
  readonly driver: SqliteDriver;
  /** Opens another connection on a file of the case's folder; the harness closes it afterwards. */
  open(filename: string): Promise<SqliteDriver>;
}

export interface DriverCase {
  readonly group: string;
  readonly name: string;
  readonly run: (context: DriverCaseContext) => Promise<void>;
}

/** What a driver cannot do by design, so the cases that need it are left out for it. */
export interface DriverTraits {
  /**
   * False when SQL sees NULL instead of a JS function's return value: the sqlite-wasm driver's
   * functions run on the main thread after the statement, in the worker's reply.
   */
  readonly functionResults: boolean;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

async function roundTrip(
  driver: SqliteDriver,
  column: string,
  value: SqliteValue,
): Promise<{ value: SqliteValue; type: string }> {
  await driver.exec("DROP TABLE IF EXISTS v; CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n)");
  await driver.run(`INSERT INTO v (${column}) VALUES (?)`, [value]);
  const rows = await driver.query<{ value: SqliteValue; type: string }>(
    `SELECT ${column} AS value, typeof(${column}) AS type FROM v`,
  );
  assertEqual(rows.length, 1, "rows");
  return rows[0]!;
}

function assertClientError(error: unknown, code: string): void {
  assert(isClientError(error) && error.code === code, `expected a client error ${code}, got ${show(error)}`);
}

function assertSqliteError(error: unknown, fields: Record<string, unknown>): void {
  assert(error instanceof SqliteError, `expected a SqliteError, got ${show(error)}`);
  assertFields(error, fields, "error");
}

async function createTable(driver: SqliteDriver): Promise<void> {
  await driver.exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, n INTEGER)");
}

/** Every case for a driver with `traits`. */
export function driverConformanceCases(traits: DriverTraits): DriverCase[] {
  const cases: DriverCase[] = [];
  const add = (group: string, name: string, run: DriverCase["run"]) => cases.push({ group, name, run });

  for (const value of [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 53n + 1n), INT64_MIN, INT64_MAX]) {
    add("values", `INTEGER ${value} comes back as the same bigint`, async ({ driver }) => {
      assertEqual(await roundTrip(driver, "i", value), { value, type: "integer" });
    });
  }

  add("values", "a small integer is a bigint too, never a number", async ({ driver }) => {
    const [row] = await driver.query("SELECT 7 AS seven, count(*) AS zero FROM sqlite_master WHERE 0");
    assertEqual(row, { seven: 7n, zero: 0n });
  });

  const reals = [0.5, -1.5, 0.1, Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, 2 ** 53, 1e-300, 123456.789];
  for (const value of reals) {
    add("values", `REAL ${value} comes back as the same number`, async ({ driver }) => {
      assertEqual(await roundTrip(driver, "r", value), { value, type: "real" });
    });
  }

  add("values", "a JS number is bound as REAL even when it is integral", async ({ driver }) => {
    const [row] = await driver.query("SELECT typeof(?) AS type, ? AS value", [1, 1]);
    assertEqual(row, { type: "real", value: 1 });
    assertEqual(await roundTrip(driver, "n", 3), { value: 3, type: "real" });
  });

  add("values", "-0.0 keeps its sign through a parameter and an untyped column", async ({ driver }) => {
    const [row] = await driver.query("SELECT ? AS value", [-0]);
    assertEqual(row, { value: -0 });
    assertEqual(await roundTrip(driver, "n", -0), { value: -0, type: "real" });
  });

  const texts = [
    "",
    "plain",
    "héllo wörld",
    "日本語テキスト",
    "emoji 😀🎉 and 𝄞",
    "e\u0301 combining",
    'quote " and \\',
  ];
  for (const value of texts) {
    add("values", `TEXT ${JSON.stringify(value)} round-trips`, async ({ driver }) => {
      assertEqual(await roundTrip(driver, "t", value), { value, type: "text" });
    });
  }

  add("values", "an empty BLOB comes back as an empty Uint8Array, not NULL", async ({ driver }) => {
    assertEqual(await roundTrip(driver, "b", new Uint8Array(0)), { value: new Uint8Array(0), type: "blob" });
  });

  add("values", "a 1 MiB BLOB round-trips bit for bit as a plain Uint8Array", async ({ driver }) => {
    const bytes = randomBytes(1024 * 1024);
    const stored = await roundTrip(driver, "b", bytes);
    assert(Object.getPrototypeOf(stored.value) === Uint8Array.prototype, "the BLOB is a plain Uint8Array");
    assertEqual(stored, { value: bytes, type: "blob" });
  });

  add("values", "every byte value survives in a BLOB", async ({ driver }) => {
    const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
    assertEqual(await roundTrip(driver, "b", bytes), { value: bytes, type: "blob" });
  });

  add("values", "NULL comes back as null", async ({ driver }) => {
    assertEqual(await roundTrip(driver, "t", null), { value: null, type: "null" });
  });

  add("values", "rejects a bigint outside the 64-bit range before binding", async ({ driver }) => {
    for (const outside of [INT64_MAX + 1n, INT64_MIN - 1n]) {
      assertClientError(await rejection(driver.query("SELECT ?", [outside])), "sql_param_invalid");
    }
  });

  add("values", "rejects values that are not SQLite values", async ({ driver }) => {
    for (const bad of [true, undefined, {}, [1]]) {
      const error = await rejection(driver.query("SELECT ?", [bad as unknown as SqliteValue]));
      assertClientError(error, "sql_param_invalid");
    }
  });

  add("statements", "exec runs several statements and run reports changes and rowid", async ({ driver }) => {
    await driver.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX t_name ON t(name);");
    assertEqual(await driver.run("INSERT INTO t (name) VALUES (?), (?)", ["a", "b"]), {
      changes: 2,
      lastInsertRowid: 2n,
    });
    assertEqual((await driver.run("UPDATE t SET name = ? WHERE id > ?", ["z", 0n])).changes, 2);
    assertEqual(await driver.query("SELECT id, name FROM t ORDER BY id"), [
      { id: 1n, name: "z" },
      { id: 2n, name: "z" },
    ]);
    assertEqual(await driver.query("SELECT * FROM t WHERE id = ?", [99n]), []);
  });

  add("statements", "query accepts a statement that returns no rows", async ({ driver }) => {
    await driver.exec("CREATE TABLE t (id TEXT)");
    assertEqual(await driver.query("INSERT INTO t VALUES (?)", ["x"]), []);
    assertEqual(await driver.query("SELECT count(*) AS n FROM t"), [{ n: 1n }]);
  });

  add("statements", "PRAGMA reads return rows", async ({ driver }) => {
    await driver.exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, n INTEGER DEFAULT 0)");
    const columns = await driver.query("PRAGMA table_info(t)");
    assertEqual(
      columns.map((column) => [column.name, column.type, column.notnull, column.pk]),
      [
        ["id", "TEXT", 1n, 1n],
        ["n", "INTEGER", 0n, 0n],
      ],
    );
  });

  add("errors", "a syntax error is a SqliteError with SQLite's message", async ({ driver }) => {
    const error = await rejection(driver.query("SELEC 1"));
    assertSqliteError(error, { code: "sqlite_error", sqliteCode: "SQLITE_ERROR" });
    assert((error as Error).message.includes("syntax error"), `message: ${(error as Error).message}`);
  });

  add(
    "errors",
    "a constraint violation carries SQLITE_CONSTRAINT and the failing column",
    async ({ driver }) => {
      await driver.exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL)");
      await driver.run("INSERT INTO t VALUES (?)", ["a"]);
      assertSqliteError(await rejection(driver.run("INSERT INTO t VALUES (?)", ["a"])), {
        sqliteCode: "SQLITE_CONSTRAINT",
        message: "UNIQUE constraint failed: t.id",
      });
    },
  );

  add("errors", "a trigger's RAISE(ABORT) message comes through exactly", async ({ driver }) => {
    await driver.exec(
      "CREATE TABLE t (id TEXT); CREATE TRIGGER t_guard BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'SYNC_TRANSITION_PENDING'); END;",
    );
    assertSqliteError(await rejection(driver.run("INSERT INTO t VALUES ('x')")), {
      sqliteCode: "SQLITE_CONSTRAINT",
      message: "SYNC_TRANSITION_PENDING",
    });
  });

  add("errors", "a missing table fails at prepare time as a SqliteError", async ({ driver }) => {
    assertSqliteError(await rejection(driver.query("SELECT * FROM nowhere")), {
      code: "sqlite_error",
      message: "no such table: nowhere",
    });
  });

  add("errors", "a closed driver refuses work with driver_closed", async ({ open }) => {
    const other = await open("closed.db");
    await other.close();
    assertClientError(await rejection(other.query("SELECT 1")), "driver_closed");
  });

  add(
    "transactions",
    "commits a multi-statement async unit of work and returns its result",
    async ({ driver }) => {
      await createTable(driver);
      const result = await driver.transaction(async (tx) => {
        await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        await tx.run("INSERT INTO t VALUES (?, ?)", ["b", 2n]);
        return (await tx.query("SELECT count(*) AS n FROM t"))[0]?.n;
      });
      assertEqual(result, 2n);
      assertEqual(await driver.query("SELECT id FROM t ORDER BY id"), [{ id: "a" }, { id: "b" }]);
    },
  );

  add("transactions", "rolls everything back and rethrows when the unit throws", async ({ driver }) => {
    await createTable(driver);
    const failure = new Error("unit failed");
    const error = await rejection(
      driver.transaction(async (tx) => {
        await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
        throw failure;
      }),
    );
    assert(error === failure, `expected the unit's own error, got ${show(error)}`);
    assertEqual(await driver.query("SELECT count(*) AS n FROM t"), [{ n: 0n }]);
  });

  add("transactions", "rolls back when a statement fails inside the unit", async ({ driver }) => {
    await createTable(driver);
    const error = await rejection(
      driver.transaction(async (tx) => {
        await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
        await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 2n]);
      }),
    );
    assertSqliteError(error, { sqliteCode: "SQLITE_CONSTRAINT" });
    assertEqual(await driver.query("SELECT count(*) AS n FROM t"), [{ n: 0n }]);
    // The connection is usable again afterwards.
    await driver.transaction((tx) => tx.run("INSERT INTO t VALUES (?, ?)", ["b", 1n]));
    assertEqual(await driver.query("SELECT id FROM t"), [{ id: "b" }]);
  });

  add("transactions", "rolls back when COMMIT fails on a deferred foreign key", async ({ driver }) => {
    await createTable(driver);
    await driver.exec(
      "PRAGMA foreign_keys = ON; CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL); CREATE TABLE child (id TEXT PRIMARY KEY NOT NULL, parent_id TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
    );
    const error = await rejection(
      driver.transaction(async (tx) => {
        await tx.run("INSERT INTO child VALUES (?, ?)", ["c", "missing"]);
      }),
    );
    assertSqliteError(error, { sqliteCode: "SQLITE_CONSTRAINT", message: "FOREIGN KEY constraint failed" });
    assertEqual(await driver.query("SELECT count(*) AS n FROM child"), [{ n: 0n }]);
    await driver.transaction((tx) => tx.run("INSERT INTO parent VALUES ('p')"));
  });

  add(
    "transactions",
    "queues calls made on the driver until the running unit of work has committed",
    async ({ driver }) => {
      await createTable(driver);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const unit = driver.transaction(async (tx) => {
        await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
        await gate;
        await tx.run("INSERT INTO t VALUES (?, ?)", ["b", 2n]);
      });
      const countDuring = driver.query("SELECT count(*) AS n FROM t");
      release();
      await unit;
      assertEqual(await countDuring, [{ n: 2n }]);
    },
  );

  add(
    "transactions",
    "BEGIN IMMEDIATE holds the write lock against another connection",
    async ({ driver, open }) => {
      await createTable(driver);
      const other = await open("main.db");
      await other.exec("PRAGMA busy_timeout = 0");
      await driver.transaction(async (tx) => {
        await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
        const error = await rejection(other.exec("BEGIN IMMEDIATE"));
        assertSqliteError(error, { code: "sqlite_error", sqliteCode: "SQLITE_BUSY" });
      });
      assertEqual(await other.query("SELECT id FROM t"), [{ id: "a" }]);
    },
  );

  add(
    "transactions",
    "refuses a transaction handle used after its unit of work ended",
    async ({ driver }) => {
      let leaked: Parameters<Parameters<SqliteDriver["transaction"]>[0]>[0] | undefined;
      await driver.transaction(async (tx) => {
        leaked = tx;
      });
      assertClientError(await rejection(leaked!.query("SELECT 1")), "driver_closed");
    },
  );

  add("files", "a database closed and opened again keeps its committed rows", async ({ open }) => {
    const first = await open("reopened.db");
    await first.exec("CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('kept')");
    await first.transaction((tx) => tx.run("INSERT INTO t VALUES (?)", ["committed"]));
    await first.close();
    const second = await open("reopened.db");
    assertEqual(await second.query("SELECT id FROM t ORDER BY id"), [{ id: "committed" }, { id: "kept" }]);
  });

  add("files", "a second connection sees what the first committed", async ({ driver, open }) => {
    await createTable(driver);
    const other = await open("main.db");
    await driver.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
    assertEqual(await other.query("SELECT id, n FROM t"), [{ id: "a", n: 1n }]);
  });

  add(
    "functions",
    "a JS function receives exact values and can report writes from a TEMP trigger",
    async ({ driver }) => {
      const seen: SqliteValue[][] = [];
      await driver.createFunction("oversync_test_note", (...args) => {
        seen.push(args);
        return null;
      });
      await driver.query("SELECT oversync_test_note(?, ?, ?, ?, ?, ?) AS noted", [
        INT64_MAX,
        1n,
        0.5,
        "x",
        new Uint8Array([1, 2]),
        null,
      ]);
      assertEqual(seen, [[INT64_MAX, 1n, 0.5, "x", new Uint8Array([1, 2]), null]]);

      await driver.exec(
        "CREATE TABLE t (id TEXT); CREATE TEMP TRIGGER t_note AFTER INSERT ON main.t BEGIN SELECT oversync_test_note('t', NEW.id); END;",
      );
      await driver.run("INSERT INTO t VALUES (?), (?)", ["row-1", "row-2"]);
      assertEqual(seen.slice(1), [
        ["t", "row-1"],
        ["t", "row-2"],
      ]);
    },
  );

  add(
    "functions",
    "a function's calls have all been made when the statement's promise resolves",
    async ({ driver }) => {
      const calls: string[] = [];
      await driver.createFunction("oversync_test_note", (value) => {
        calls.push(String(value));
        return null;
      });
      await driver.exec(
        "CREATE TABLE t (id TEXT); CREATE TEMP TRIGGER t_note AFTER INSERT ON main.t BEGIN SELECT oversync_test_note(NEW.id); END;",
      );
      const first = driver.run("INSERT INTO t VALUES ('a')").then(() => [...calls]);
      const second = driver.run("INSERT INTO t VALUES ('b')").then(() => [...calls]);
      assertEqual(await first, ["a"], "calls when the first insert resolved");
      assertEqual(await second, ["a", "b"], "calls when the second insert resolved");
    },
  );

  if (traits.functionResults) {
    add("functions", "a JS function's return value is the SQL result", async ({ driver }) => {
      await driver.createFunction("oversync_test_echo", (value) => value ?? null);
      const [row] = await driver.query("SELECT oversync_test_echo(?) AS echoed", [INT64_MAX]);
      assertEqual(row, { echoed: INT64_MAX });
    });
  }

  return cases;
}

/** Cases by group, in order (Map.groupBy needs Node 21). */
export function groupCases<C extends { readonly group: string }>(cases: readonly C[]): Map<string, C[]> {
  const groups = new Map<string, C[]>();
  for (const entry of cases) groups.set(entry.group, [...(groups.get(entry.group) ?? []), entry]);
  return groups;
}

/** Closes every driver a case opened, newest first; one the case closed itself is left alone. */
export async function closeAllDrivers(drivers: readonly SqliteDriver[]): Promise<void> {
  for (const driver of [...drivers].reverse()) {
    await driver.close().catch((error: unknown) => {
      if (!isClientError(error, "driver_closed")) throw error;
    });
  }
}
