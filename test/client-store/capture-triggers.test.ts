/**
 * Capture and guard trigger behaviour beyond the fixtures: coalescing sequences, per-kind payload
 * encoding, guards during destructive transitions, and idempotent installation.
 */
import { type SqliteDriver, SqliteError, type SyncConfig, isTransitionPendingError } from "@oversync/client";
import { localKeyJson } from "../../packages/client/src/store/payload-codec.js";
import { openSyncStore } from "../../packages/client/src/store/sync-store.js";
import { describe, expect, it } from "vitest";
import { withTempDatabase } from "./store-harness.js";

const USERS = "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL)";
const USERS_CONFIG: SyncConfig = {
  schema: "main",
  syncTables: [{ tableName: "users", syncKeyColumnName: "id" }],
};

async function dirtyRows(driver: SqliteDriver) {
  return driver.query(
    "SELECT table_name, key_json, op, base_row_version, payload, dirty_ordinal FROM _sync_dirty_rows ORDER BY dirty_ordinal",
  );
}

async function usersDatabase(work: (driver: SqliteDriver) => Promise<void>): Promise<void> {
  await withTempDatabase(async (driver) => {
    await driver.exec(USERS);
    await openSyncStore(driver, USERS_CONFIG);
    await work(driver);
  });
}

describe("capture coalescing", () => {
  it("insert then update stays one INSERT with the latest payload and the first ordinal", async () => {
    await usersDatabase(async (driver) => {
      await driver.run("INSERT INTO users VALUES ('a', 'first')");
      await driver.run("INSERT INTO users VALUES ('b', 'other')");
      await driver.run("UPDATE users SET name = 'second' WHERE id = 'a'");
      expect(await dirtyRows(driver)).toEqual([
        {
          table_name: "users",
          key_json: '{"id":"a"}',
          op: "INSERT",
          base_row_version: 0n,
          payload: '{"id":"a","name":"second"}',
          dirty_ordinal: 1n,
        },
        {
          table_name: "users",
          key_json: '{"id":"b"}',
          op: "INSERT",
          base_row_version: 0n,
          payload: '{"id":"b","name":"other"}',
          dirty_ordinal: 2n,
        },
      ]);
    });
  });

  it("insert then delete leaves a DELETE with base 0 until the push freezes it", async () => {
    await usersDatabase(async (driver) => {
      await driver.run("INSERT INTO users VALUES ('a', 'x')");
      await driver.run("DELETE FROM users WHERE id = 'a'");
      expect(await dirtyRows(driver)).toMatchObject([{ op: "DELETE", base_row_version: 0n, payload: null }]);
    });
  });

  it("a synced row deleted and re-created keeps its first base and becomes an UPDATE", async () => {
    await usersDatabase(async (driver) => {
      await driver.exec("UPDATE _sync_apply_state SET apply_mode = 1");
      await driver.run("INSERT INTO users VALUES ('a', 'synced')");
      await driver.exec("UPDATE _sync_apply_state SET apply_mode = 0");
      await driver.run(
        "INSERT INTO _sync_row_state (schema_name, table_name, key_json, row_version) VALUES ('main', 'users', ?, 9)",
        ['{"id":"a"}'],
      );
      await driver.run("DELETE FROM users WHERE id = 'a'");
      // A later row state change must not move the base captured first.
      await driver.run("UPDATE _sync_row_state SET row_version = 12");
      await driver.run("INSERT INTO users VALUES ('a', 'again')");
      expect(await dirtyRows(driver)).toEqual([
        {
          table_name: "users",
          key_json: '{"id":"a"}',
          op: "UPDATE",
          base_row_version: 9n,
          payload: '{"id":"a","name":"again"}',
          dirty_ordinal: 1n,
        },
      ]);
    });
  });

  it("a key change of a dirty row moves its intent: DELETE for the old key, INSERT for the new", async () => {
    await usersDatabase(async (driver) => {
      await driver.run("INSERT INTO users VALUES ('old', 'x')");
      await driver.run("UPDATE users SET id = 'new' WHERE id = 'old'");
      expect(await dirtyRows(driver)).toMatchObject([
        { key_json: '{"id":"old"}', op: "DELETE", payload: null, dirty_ordinal: 1n },
        { key_json: '{"id":"new"}', op: "INSERT", payload: '{"id":"new","name":"x"}', dirty_ordinal: 2n },
      ]);
    });
  });

  it("an update that keeps the key writes no DELETE marker", async () => {
    await usersDatabase(async (driver) => {
      await driver.run("INSERT INTO users VALUES ('a', 'x')");
      await driver.run("UPDATE users SET id = 'a', name = 'y'");
      expect(await dirtyRows(driver)).toMatchObject([{ op: "INSERT", payload: '{"id":"a","name":"y"}' }]);
    });
  });

  it("a write rolled back with its transaction leaves no dirty row", async () => {
    await usersDatabase(async (driver) => {
      await expect(
        driver.transaction(async (tx) => {
          await tx.run("INSERT INTO users VALUES ('a', 'x')");
          throw new Error("abandon");
        }),
      ).rejects.toThrow("abandon");
      expect(await dirtyRows(driver)).toEqual([]);
    });
  });
});

describe("payload encoding", () => {
  const TYPED =
    "CREATE TABLE typed (Id TEXT PRIMARY KEY NOT NULL, Label TEXT, Count_Value INTEGER, Rating REAL, Data BLOB, Flag BOOLEAN)";
  const TYPED_CONFIG: SyncConfig = {
    schema: "business",
    syncTables: [{ tableName: "Typed", syncKeyColumnName: "ID" }],
  };

  async function capturedPayload(driver: SqliteDriver): Promise<unknown> {
    const [row] = await driver.query<{ payload: string }>("SELECT payload FROM _sync_dirty_rows");
    return JSON.parse(row!.payload);
  }

  it("writes every column under its lower-cased name, per kind, exactly", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(TYPED);
      await openSyncStore(driver, TYPED_CONFIG);
      await driver.run("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?)", [
        "k",
        "héllo 😀",
        -(2n ** 63n),
        5e-324,
        new Uint8Array([0, 0xab, 0xff]),
        "true",
      ]);
      expect(await capturedPayload(driver)).toEqual({
        id: "k",
        label: "héllo 😀",
        count_value: "-9223372036854775808",
        rating: "4.9406564584124654e-324",
        data: "00abff",
        flag: "true",
      });
      const [row] = await driver.query("SELECT schema_name, table_name, key_json FROM _sync_dirty_rows");
      expect(row).toEqual({ schema_name: "business", table_name: "typed", key_json: '{"id":"k"}' });
    });
  });

  it("keeps NULL as null for every kind, and encodes int64 max, 2^53+1, -0.0 and empty BLOBs", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(TYPED);
      await openSyncStore(driver, TYPED_CONFIG);
      await driver.run("INSERT INTO typed VALUES ('n', NULL, NULL, NULL, NULL, NULL)");
      expect(await capturedPayload(driver)).toEqual({
        id: "n",
        label: null,
        count_value: null,
        rating: null,
        data: null,
        flag: null,
      });
      await driver.run("DELETE FROM _sync_dirty_rows");
      await driver.run("UPDATE typed SET count_value = ?, rating = ?, data = ?", [
        2n ** 63n - 1n,
        -0,
        new Uint8Array(0),
      ]);
      expect(await capturedPayload(driver)).toMatchObject({
        count_value: "9223372036854775807",
        rating: "0.0",
        data: "",
      });
      await driver.run("UPDATE typed SET count_value = ?, rating = ?", [2n ** 53n + 1n, 0.1]);
      expect(await capturedPayload(driver)).toMatchObject({ count_value: "9007199254740993", rating: "0.1" });
    });
  });

  it("builds BLOB keys as lower-case hex, exactly as the store's key helper does", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec("CREATE TABLE files (id BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL)");
      const store = await openSyncStore(driver, {
        schema: "main",
        syncTables: [{ tableName: "files", syncKeyColumnName: "id" }],
      });
      const key = Uint8Array.from({ length: 16 }, (_, index) => index * 16 + 15);
      await driver.run("INSERT INTO files VALUES (?, 'f')", [key]);
      const [row] = await driver.query<{ key_json: string }>("SELECT key_json FROM _sync_dirty_rows");
      expect(row!.key_json).toBe('{"id":"0f1f2f3f4f5f6f7f8f9fafbfcfdfefff"}');
      expect(localKeyJson(store.schema.table("files"), key)).toBe(row!.key_json);
    });
  });

  it("builds TEXT key_json byte for byte as the store's key helper does, for every ASCII and some unicode", async () => {
    await usersDatabase(async (driver) => {
      const store = await openSyncStore(driver, USERS_CONFIG);
      const keys = [
        ...Array.from({ length: 128 }, (_, code) => `k${String.fromCharCode(code)}k`),
        "é",
        "日本",
        "😀",
        "\u2028\u2029",
      ];
      for (const key of keys) await driver.run("INSERT INTO users VALUES (?, 'x')", [key]);
      const rows = await driver.query<{ key_json: string }>(
        "SELECT key_json FROM _sync_dirty_rows ORDER BY dirty_ordinal",
      );
      expect(rows.map((row) => row.key_json)).toEqual(
        keys.map((key) => localKeyJson(store.schema.table("users"), key)),
      );
    });
  });
});

describe("guards", () => {
  it("block every application write while a destructive transition is pending", async () => {
    await usersDatabase(async (driver) => {
      await driver.run("INSERT INTO users VALUES ('a', 'x')");
      await driver.run("UPDATE _sync_operation_state SET kind = 'source_recovery'");
      for (const sql of [
        "INSERT INTO users VALUES ('b', 'y')",
        "UPDATE users SET name = 'z'",
        "DELETE FROM users",
      ]) {
        const error = await driver.run(sql).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(SqliteError);
        expect(isTransitionPendingError(error)).toBe(true);
      }
      expect(await driver.query("SELECT id, name FROM users")).toEqual([{ id: "a", name: "x" }]);
    });
  });

  it("let the runtime write while apply mode is on, without capturing", async () => {
    await usersDatabase(async (driver) => {
      await driver.run("UPDATE _sync_operation_state SET kind = 'remote_replace'");
      await driver.run("UPDATE _sync_apply_state SET apply_mode = 1");
      await driver.run("INSERT INTO users VALUES ('remote', 'r')");
      await driver.run("UPDATE _sync_apply_state SET apply_mode = 0");
      expect(await driver.query("SELECT count(*) AS n FROM users")).toEqual([{ n: 1n }]);
      expect(await dirtyRows(driver)).toEqual([]);
    });
  });
});

describe("installation", () => {
  it("reopening keeps exactly six triggers per table with unchanged SQL", async () => {
    await usersDatabase(async (driver) => {
      const before = await driver.query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
      );
      await openSyncStore(driver, USERS_CONFIG);
      await openSyncStore(driver, USERS_CONFIG);
      const after = await driver.query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
      );
      expect(after).toEqual(before);
      expect(after.map((row) => row.name)).toEqual([
        "trg_users_ad",
        "trg_users_ai",
        "trg_users_au",
        "trg_users_bd_guard",
        "trg_users_bi_guard",
        "trg_users_bu_guard",
      ]);
    });
  });

  it("replaces a same-named trigger whose SQL differs", async () => {
    await usersDatabase(async (driver) => {
      await driver.exec(
        "DROP TRIGGER trg_users_ai; CREATE TRIGGER trg_users_ai AFTER INSERT ON users BEGIN SELECT 1; END;",
      );
      await openSyncStore(driver, USERS_CONFIG);
      await driver.run("INSERT INTO users VALUES ('a', 'x')");
      expect(await dirtyRows(driver)).toHaveLength(1);
    });
  });

  it("captures writes made by the application's own triggers and by ON DELETE CASCADE", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(
        "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL);" +
          "CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE);" +
          "CREATE TRIGGER welcome AFTER INSERT ON users BEGIN INSERT INTO posts VALUES ('welcome-' || NEW.id, NEW.id); END;",
      );
      await openSyncStore(driver, {
        schema: "main",
        syncTables: [
          { tableName: "users", syncKeyColumnName: "id" },
          { tableName: "posts", syncKeyColumnName: "id" },
        ],
      });
      // Which of two triggers on one event fires first is SQLite's choice, so compare as sets.
      const captured = async () =>
        (await dirtyRows(driver)).map((row) => `${row.table_name} ${row.op}`).sort();
      await driver.run("INSERT INTO users VALUES ('u', 'x')");
      expect(await captured()).toEqual(["posts INSERT", "users INSERT"]);
      await driver.run("DELETE FROM users");
      expect(await captured()).toEqual(["posts DELETE", "users DELETE"]);
    });
  });
});
