/**
 * The behaviour every SqliteDriver must show, as a vitest suite each driver's test file runs
 * against real SQLite files in a temporary directory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SqliteDriver, SqliteError, type SqliteValue, isClientError } from "@oversync/client";

/** Opens a driver on a SQLite file path. */
export type DriverOpener = (filename: string) => Promise<SqliteDriver>;

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

/** Registers the conformance suite for one driver. */
export function describeDriverConformance(title: string, open: DriverOpener): void {
  describe(title, () => {
    let dir: string;
    let driver: SqliteDriver;
    const extra: SqliteDriver[] = [];

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), "oversync-driver-"));
      driver = await open(join(dir, "main.db"));
    });

    afterEach(async () => {
      for (const other of extra.splice(0)) await other.close();
      await driver.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function roundTrip(
      column: string,
      value: SqliteValue,
    ): Promise<{ value: SqliteValue; type: string }> {
      await driver.exec("DROP TABLE IF EXISTS v; CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n)");
      await driver.run(`INSERT INTO v (${column}) VALUES (?)`, [value]);
      const rows = await driver.query<{ value: SqliteValue; type: string }>(
        `SELECT ${column} AS value, typeof(${column}) AS type FROM v`,
      );
      expect(rows).toHaveLength(1);
      return rows[0]!;
    }

    describe("values", () => {
      const integers = [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 53n + 1n), INT64_MIN, INT64_MAX];
      for (const value of integers) {
        it(`INTEGER ${value} comes back as the same bigint`, async () => {
          expect(await roundTrip("i", value)).toEqual({ value, type: "integer" });
        });
      }

      it("a small integer is a bigint too, never a number", async () => {
        const [row] = await driver.query("SELECT 7 AS seven, count(*) AS zero FROM sqlite_master WHERE 0");
        expect(typeof row?.seven).toBe("bigint");
        expect(row).toEqual({ seven: 7n, zero: 0n });
      });

      const reals = [
        0.5,
        -1.5,
        0.1,
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
        5e-324,
        2 ** 53,
        1e-300,
        123456.789,
      ];
      for (const value of reals) {
        it(`REAL ${value} comes back as the same number`, async () => {
          expect(await roundTrip("r", value)).toEqual({ value, type: "real" });
        });
      }

      it("a JS number is bound as REAL even when it is integral", async () => {
        const [row] = await driver.query("SELECT typeof(?) AS type, ? AS value", [1, 1]);
        expect(row).toEqual({ type: "real", value: 1 });
        expect(await roundTrip("n", 3)).toEqual({ value: 3, type: "real" });
      });

      it("-0.0 keeps its sign through a parameter and an untyped column", async () => {
        const [row] = await driver.query<{ value: number }>("SELECT ? AS value", [-0]);
        expect(Object.is(row?.value, -0)).toBe(true);
        const stored = await roundTrip("n", -0);
        expect(stored.type).toBe("real");
        expect(Object.is(stored.value, -0)).toBe(true);
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
        it(`TEXT ${JSON.stringify(value)} round-trips`, async () => {
          expect(await roundTrip("t", value)).toEqual({ value, type: "text" });
        });
      }

      it("an empty BLOB comes back as an empty Uint8Array, not NULL", async () => {
        const stored = await roundTrip("b", new Uint8Array(0));
        expect(stored.type).toBe("blob");
        expect(stored.value).toBeInstanceOf(Uint8Array);
        expect((stored.value as Uint8Array).byteLength).toBe(0);
      });

      it("a 1 MiB BLOB round-trips bit for bit as a plain Uint8Array", async () => {
        const bytes = randomBytes(1024 * 1024);
        const stored = await roundTrip("b", bytes);
        expect(stored.type).toBe("blob");
        expect(Object.getPrototypeOf(stored.value)).toBe(Uint8Array.prototype);
        expect(Buffer.from(stored.value as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
      });

      it("every byte value survives in a BLOB", async () => {
        const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
        expect(await roundTrip("b", bytes)).toEqual({ value: bytes, type: "blob" });
      });

      it("NULL comes back as null", async () => {
        expect(await roundTrip("t", null)).toEqual({ value: null, type: "null" });
      });

      it("rejects a bigint outside the 64-bit range before binding", async () => {
        await expect(driver.query("SELECT ?", [INT64_MAX + 1n])).rejects.toSatisfy((error) =>
          isClientError(error, "sql_param_invalid"),
        );
        await expect(driver.query("SELECT ?", [INT64_MIN - 1n])).rejects.toSatisfy((error) =>
          isClientError(error, "sql_param_invalid"),
        );
      });

      it("rejects values that are not SQLite values", async () => {
        for (const bad of [true, undefined, {}, [1]]) {
          await expect(driver.query("SELECT ?", [bad as unknown as SqliteValue])).rejects.toSatisfy((error) =>
            isClientError(error, "sql_param_invalid"),
          );
        }
      });
    });

    describe("statements", () => {
      it("exec runs several statements and run reports changes and rowid", async () => {
        await driver.exec(
          "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX t_name ON t(name);",
        );
        expect(await driver.run("INSERT INTO t (name) VALUES (?), (?)", ["a", "b"])).toEqual({
          changes: 2,
          lastInsertRowid: 2n,
        });
        expect(await driver.run("UPDATE t SET name = ? WHERE id > ?", ["z", 0n])).toMatchObject({
          changes: 2,
        });
        expect(await driver.query("SELECT id, name FROM t ORDER BY id")).toEqual([
          { id: 1n, name: "z" },
          { id: 2n, name: "z" },
        ]);
        expect(await driver.query("SELECT * FROM t WHERE id = ?", [99n])).toEqual([]);
      });

      it("query accepts a statement that returns no rows", async () => {
        await driver.exec("CREATE TABLE t (id TEXT)");
        expect(await driver.query("INSERT INTO t VALUES (?)", ["x"])).toEqual([]);
        expect(await driver.query("SELECT count(*) AS n FROM t")).toEqual([{ n: 1n }]);
      });

      it("PRAGMA reads return rows", async () => {
        await driver.exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, n INTEGER DEFAULT 0)");
        const columns = await driver.query("PRAGMA table_info(t)");
        expect(columns.map((column) => [column.name, column.type, column.notnull, column.pk])).toEqual([
          ["id", "TEXT", 1n, 1n],
          ["n", "INTEGER", 0n, 0n],
        ]);
      });
    });

    describe("errors", () => {
      it("a syntax error is a SqliteError with SQLite's message", async () => {
        const error = await driver.query("SELEC 1").catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(SqliteError);
        expect(error).toMatchObject({ code: "sqlite_error", sqliteCode: "SQLITE_ERROR" });
        expect((error as Error).message).toContain("syntax error");
      });

      it("a constraint violation carries SQLITE_CONSTRAINT and the failing column", async () => {
        await driver.exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL)");
        await driver.run("INSERT INTO t VALUES (?)", ["a"]);
        const error = await driver.run("INSERT INTO t VALUES (?)", ["a"]).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(SqliteError);
        expect(error).toMatchObject({
          sqliteCode: "SQLITE_CONSTRAINT",
          message: "UNIQUE constraint failed: t.id",
        });
      });

      it("a trigger's RAISE(ABORT) message comes through exactly", async () => {
        await driver.exec(
          "CREATE TABLE t (id TEXT); CREATE TRIGGER t_guard BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'SYNC_TRANSITION_PENDING'); END;",
        );
        const error = await driver.run("INSERT INTO t VALUES ('x')").catch((caught: unknown) => caught);
        expect(error).toMatchObject({ sqliteCode: "SQLITE_CONSTRAINT", message: "SYNC_TRANSITION_PENDING" });
      });

      it("a missing table fails at prepare time as a SqliteError", async () => {
        await expect(driver.query("SELECT * FROM nowhere")).rejects.toMatchObject({
          code: "sqlite_error",
          message: "no such table: nowhere",
        });
      });

      it("a closed driver refuses work with driver_closed", async () => {
        const other = await open(join(dir, "closed.db"));
        await other.close();
        await expect(other.query("SELECT 1")).rejects.toSatisfy((error) =>
          isClientError(error, "driver_closed"),
        );
      });
    });

    describe("transactions", () => {
      beforeEach(async () => {
        await driver.exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, n INTEGER)");
      });

      it("commits a multi-statement async unit of work and returns its result", async () => {
        const result = await driver.transaction(async (tx) => {
          await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
          await new Promise((resolve) => setTimeout(resolve, 5));
          await tx.run("INSERT INTO t VALUES (?, ?)", ["b", 2n]);
          return (await tx.query("SELECT count(*) AS n FROM t"))[0]?.n;
        });
        expect(result).toBe(2n);
        expect(await driver.query("SELECT id FROM t ORDER BY id")).toEqual([{ id: "a" }, { id: "b" }]);
      });

      it("rolls everything back and rethrows when the unit throws", async () => {
        const failure = new Error("unit failed");
        await expect(
          driver.transaction(async (tx) => {
            await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await driver.query("SELECT count(*) AS n FROM t")).toEqual([{ n: 0n }]);
      });

      it("rolls back when a statement fails inside the unit", async () => {
        await expect(
          driver.transaction(async (tx) => {
            await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
            await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 2n]);
          }),
        ).rejects.toBeInstanceOf(SqliteError);
        expect(await driver.query("SELECT count(*) AS n FROM t")).toEqual([{ n: 0n }]);
        // The connection is usable again afterwards.
        await driver.transaction((tx) => tx.run("INSERT INTO t VALUES (?, ?)", ["b", 1n]));
        expect(await driver.query("SELECT id FROM t")).toEqual([{ id: "b" }]);
      });

      it("rolls back when COMMIT fails on a deferred foreign key", async () => {
        await driver.exec(
          "PRAGMA foreign_keys = ON; CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL); CREATE TABLE child (id TEXT PRIMARY KEY NOT NULL, parent_id TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        );
        const error = await driver
          .transaction(async (tx) => {
            await tx.run("INSERT INTO child VALUES (?, ?)", ["c", "missing"]);
          })
          .catch((caught: unknown) => caught);
        expect(error).toMatchObject({
          sqliteCode: "SQLITE_CONSTRAINT",
          message: "FOREIGN KEY constraint failed",
        });
        expect(await driver.query("SELECT count(*) AS n FROM child")).toEqual([{ n: 0n }]);
        await driver.transaction((tx) => tx.run("INSERT INTO parent VALUES ('p')"));
      });

      it("queues calls made on the driver until the running unit of work has committed", async () => {
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
        expect(await countDuring).toEqual([{ n: 2n }]);
      });

      it("BEGIN IMMEDIATE holds the write lock against another connection", async () => {
        const other = await open(join(dir, "main.db"));
        extra.push(other);
        await other.exec("PRAGMA busy_timeout = 0");
        await driver.transaction(async (tx) => {
          await tx.run("INSERT INTO t VALUES (?, ?)", ["a", 1n]);
          const error = await other.exec("BEGIN IMMEDIATE").catch((caught: unknown) => caught);
          expect(error).toMatchObject({ code: "sqlite_error", sqliteCode: "SQLITE_BUSY" });
        });
        expect(await other.query("SELECT id FROM t")).toEqual([{ id: "a" }]);
      });

      it("refuses a transaction handle used after its unit of work ended", async () => {
        let leaked: Parameters<Parameters<SqliteDriver["transaction"]>[0]>[0] | undefined;
        await driver.transaction(async (tx) => {
          leaked = tx;
        });
        await expect(leaked!.query("SELECT 1")).rejects.toSatisfy((error) =>
          isClientError(error, "driver_closed"),
        );
      });
    });

    describe("functions", () => {
      it("a JS function receives exact values and can report writes from a TEMP trigger", async () => {
        const seen: SqliteValue[][] = [];
        await driver.createFunction("oversync_test_note", (...args) => {
          seen.push(args);
          return args.length === 0 ? null : (args[0] ?? null);
        });
        const [row] = await driver.query("SELECT oversync_test_note(?, ?, ?, ?) AS echoed", [
          INT64_MAX,
          0.5,
          "x",
          new Uint8Array([1, 2]),
        ]);
        expect(row).toEqual({ echoed: INT64_MAX });
        expect(seen[0]).toEqual([INT64_MAX, 0.5, "x", new Uint8Array([1, 2])]);

        await driver.exec(
          "CREATE TABLE t (id TEXT); CREATE TEMP TRIGGER t_note AFTER INSERT ON main.t BEGIN SELECT oversync_test_note('t', NEW.id); END;",
        );
        await driver.run("INSERT INTO t VALUES (?)", ["row-1"]);
        expect(seen.at(-1)).toEqual(["t", "row-1"]);
      });
    });
  });
}
