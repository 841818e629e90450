/**
 * Table metadata (column kinds, foreign keys, dependency order), configuration checks the fixtures
 * do not cover, and the local/wire payload conversions built on the metadata.
 */
import { type SyncConfig, isClientError } from "@oversync/client";
import type { ManagedTable } from "../../packages/client/src/store/table-metadata.js";
import {
  decodeQueuedPayload,
  decodeWirePayload,
  keyValueOfLocalKeyJson,
  localKeyOfWireKey,
  wireKeyOfLocalKeyJson,
  wirePayloadOfLocalPayload,
  wirePayloadOfValues,
} from "../../packages/client/src/store/payload-codec.js";
import { normalizeSyncConfig } from "../../packages/client/src/config/sync-config.js";
import { openSyncStore } from "../../packages/client/src/store/sync-store.js";
import { uuidToBytes } from "@oversync/protocol";
import { describe, expect, it } from "vitest";
import { readContractText, requireContracts } from "../support/contracts.js";
import { withTempDatabase } from "./store-harness.js";

async function managedTables(schemaSql: string, config: SyncConfig) {
  return withTempDatabase(async (driver) => {
    await driver.exec(schemaSql);
    return (await openSyncStore(driver, config)).schema;
  });
}

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

function kinds(table: ManagedTable): Record<string, string> {
  return Object.fromEntries(table.columns.map((column) => [column.payloadName, column.kind]));
}

describe("table metadata", () => {
  it.skipIf(!requireContracts())(
    "classifies the business-rich-v0 columns and orders parents first, cycles last",
    async () => {
      const schema = await managedTables(readContractText("local-schema/business-rich-v0/schema.sql"), {
        schema: "business",
        syncTables: [
          "users",
          "posts",
          "categories",
          "teams",
          "team_members",
          "files",
          "file_reviews",
          "typed_rows",
        ].map((tableName) => ({ tableName, syncKeyColumnName: "id" })),
      });
      expect(kinds(schema.table("typed_rows"))).toEqual({
        id: "TEXT",
        name: "TEXT",
        note: "TEXT",
        count_value: "INTEGER",
        small_count: "INTEGER",
        medium_count: "INTEGER",
        exact_amount: "TEXT",
        enabled_flag: "INTEGER",
        rating: "REAL",
        float4_value: "REAL",
        data: "BLOB",
        created_at: "TEXT",
      });
      expect(kinds(schema.table("file_reviews"))).toEqual({
        id: "UUID_BLOB",
        review: "TEXT",
        file_id: "UUID_BLOB",
      });
      expect(kinds(schema.table("files"))).toEqual({ id: "UUID_BLOB", name: "TEXT", data: "BLOB" });
      expect(schema.table("posts").foreignKeys).toEqual([
        { column: "author_id", parentTable: "users", parentColumn: "id" },
      ]);
      expect(schema.dependencyOrder.map((table) => table.name)).toEqual([
        "users",
        "posts",
        "categories",
        "files",
        "file_reviews",
        "typed_rows",
        "teams",
        "team_members",
      ]);
    },
  );

  it("resolves a foreign key written without a column to the parent's primary key", async () => {
    const schema = await managedTables(
      "CREATE TABLE child (id TEXT PRIMARY KEY NOT NULL, parent BLOB REFERENCES Parent); CREATE TABLE Parent (key BLOB PRIMARY KEY NOT NULL);",
      {
        schema: "s",
        syncTables: [
          { tableName: "child", syncKeyColumnName: "id" },
          { tableName: "PARENT", syncKeyColumns: ["KEY"] },
        ],
      },
    );
    expect(schema.table("child").foreignKeys).toEqual([
      { column: "parent", parentTable: "parent", parentColumn: "key" },
    ]);
    expect(schema.table("Parent")).toMatchObject({ name: "parent", sqlName: "Parent" });
    expect(schema.table("parent").keyColumn).toMatchObject({ name: "key", kind: "UUID_BLOB" });
    expect(schema.dependencyOrder.map((table) => table.name)).toEqual(["parent", "child"]);
  });

  it("names the managed tables when asked for an unmanaged one", async () => {
    const schema = await managedTables("CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL)", {
      schema: "s",
      syncTables: [{ tableName: "users", syncKeyColumnName: "id" }],
    });
    expect(schema.has("USERS")).toBe(true);
    expect(() => schema.table("posts")).toThrow("managed tables are users");
  });
});

describe("configuration checks", () => {
  const cases: [string, SyncConfig, string][] = [
    [
      "blank schema",
      { schema: " ", syncTables: [{ tableName: "t", syncKeyColumnName: "id" }] },
      "config.schema",
    ],
    ["no tables", { schema: "s", syncTables: [] }, "at least one table"],
    ["blank table", { schema: "s", syncTables: [{ tableName: "", syncKeyColumnName: "id" }] }, "tableName"],
    [
      "duplicate table",
      {
        schema: "s",
        syncTables: [
          { tableName: "t", syncKeyColumnName: "id" },
          { tableName: "T", syncKeyColumnName: "id" },
        ],
      },
      "more than once",
    ],
    [
      "reserved prefix",
      { schema: "s", syncTables: [{ tableName: "_sync_mine", syncKeyColumnName: "id" }] },
      "reserved _sync_",
    ],
  ];
  for (const [name, config, fragment] of cases) {
    it(`rejects ${name}`, () => {
      const error = thrownBy(() => normalizeSyncConfig(config));
      expect(isClientError(error, "config_invalid")).toBe(true);
      expect((error as Error).message).toContain(fragment);
    });
  }

  it("rejects a key column that is not the primary key, and a table without one", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(
        "CREATE TABLE a (id TEXT PRIMARY KEY NOT NULL, code TEXT NOT NULL); CREATE TABLE b (id TEXT NOT NULL);",
      );
      await expect(
        openSyncStore(driver, { schema: "s", syncTables: [{ tableName: "a", syncKeyColumnName: "code" }] }),
      ).rejects.toThrow("is not its PRIMARY KEY; configure id instead");
      await expect(
        openSyncStore(driver, { schema: "s", syncTables: [{ tableName: "b", syncKeyColumnName: "id" }] }),
      ).rejects.toThrow("exactly one local SQLite PRIMARY KEY column");
    });
  });
});

describe("payload conversions", () => {
  async function typedTable(): Promise<ManagedTable> {
    const schema = await managedTables(
      "CREATE TABLE files (id BLOB PRIMARY KEY NOT NULL, name TEXT, n INTEGER, r REAL, data BLOB)",
      { schema: "s", syncTables: [{ tableName: "files", syncKeyColumnName: "id" }] },
    );
    return schema.table("files");
  }
  const uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  const uuidHex = uuid.replaceAll("-", "");

  it("turns a captured local payload into the canonical wire payload", async () => {
    const table = await typedTable();
    expect(
      wirePayloadOfLocalPayload(
        table,
        JSON.stringify({
          id: uuidHex,
          name: "x",
          n: "-9223372036854775808",
          r: "4.9406564584124654e-324",
          data: "deadbeef",
        }),
      ),
    ).toEqual({ id: uuid, name: "x", n: "-9223372036854775808", r: "5e-324", data: "3q2+7w==" });
    expect(
      wirePayloadOfLocalPayload(
        table,
        JSON.stringify({ id: uuidHex, name: null, n: null, r: "0.0", data: "" }),
      ),
    ).toEqual({ id: uuid, name: null, n: null, r: "0", data: "" });
    expect(
      wirePayloadOfLocalPayload(
        table,
        JSON.stringify({ id: uuidHex, name: "y", n: "1", r: "1.0", data: null }),
      ),
    ).toMatchObject({
      r: "1",
    });
  });

  it("refuses payloads with unknown, missing or unconvertible columns", async () => {
    const table = await typedTable();
    const bad = [
      { id: uuidHex, name: "x", n: null, r: null, data: null, extra: 1 },
      { name: "x", n: null, r: null, data: null },
      { id: uuidHex, name: "x", n: "1.5", r: null, data: null },
      { id: "abc", name: "x", n: null, r: null, data: null },
    ];
    for (const payload of bad) {
      const error = thrownBy(() => wirePayloadOfLocalPayload(table, JSON.stringify(payload)));
      expect(isClientError(error, "payload_invalid"), JSON.stringify(payload)).toBe(true);
    }
    expect(() => decodeWirePayload(table, { id: uuid, name: "x", n: null, r: null })).toThrow(
      "payload for files must contain every table column",
    );
    expect(() =>
      decodeQueuedPayload(table, { id: uuid, name: "x", n: null, r: null, data: null, z: null }),
    ).toThrow("payload for files contains unknown column z");
    expect(() => decodeWirePayload(table, { id: uuid, name: "x", n: 42, r: null, data: null })).toThrow(
      "files.n",
    );
  });

  it("leaves out columns a queued change was captured without, and ignores columns only the server has", async () => {
    const table = await typedTable();
    // Captured before the app added the `data` column: it is not sent, so the server keeps its value.
    expect(
      wirePayloadOfLocalPayload(table, JSON.stringify({ id: uuidHex, name: "x", n: "7", r: null })),
    ).toEqual({ id: uuid, name: "x", n: "7", r: null });
    expect(decodeQueuedPayload(table, { id: uuid, name: "x", n: "7", r: null })).toEqual({
      id: uuidToBytes(uuid),
      name: "x",
      n: 7n,
      r: null,
    });
    // A row from a server that has a column this app does not know yet.
    expect(
      decodeWirePayload(table, { id: uuid, name: "x", n: null, r: null, data: null, notes: "new" }),
    ).toEqual({
      id: uuidToBytes(uuid),
      name: "x",
      n: null,
      r: null,
      data: null,
    });
  });

  it("decodes wire payloads to exact values and encodes them back identically", async () => {
    const table = await typedTable();
    const wire = { id: uuid, name: "ü", n: "9007199254740993", r: "0.1", data: "AAE=" };
    const values = decodeWirePayload(table, wire);
    expect(values).toEqual({
      id: uuidToBytes(uuid),
      name: "ü",
      n: 9007199254740993n,
      r: 0.1,
      data: new Uint8Array([0, 1]),
    });
    expect(wirePayloadOfValues(table, values)).toEqual(wire);
  });

  it("converts keys between wire, local key_json and key values", async () => {
    const table = await typedTable();
    const local = localKeyOfWireKey(table, { id: uuid });
    expect(local.keyJson).toBe(`{"id":"${uuidHex}"}`);
    expect(wireKeyOfLocalKeyJson(table, local.keyJson)).toEqual({ id: uuid });
    expect(keyValueOfLocalKeyJson(table, local.keyJson)).toEqual(local.value);
    expect(() => localKeyOfWireKey(table, { id: uuid.toUpperCase() })).toThrow("not canonical");
    expect(() => localKeyOfWireKey(table, { other: uuid })).toThrow("exactly one member, id");
  });
});
