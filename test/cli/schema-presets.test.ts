/**
 * The schemas `oversync serve` installs, in-process on real PostgreSQL and on PGlite: the samplesync
 * example has the shape of upstream's samplesync server (and its SQLite side the shape of the
 * samplesync apps' tables), the two built-in examples share schema `business` without tripping
 * each other's checks, a samplesync table of another shape is refused, and a config file's SQL that
 * is not idempotent fails its second start with a hint, leaving the database as it was.
 */
import { EXAMPLE_PRESETS, type SchemaPreset, installSchemaPreset, readSchemaCatalog } from "@oversync/cli";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { bothSqlEngines } from "../support/sql-engines.js";

const engines = bothSqlEngines("oversync-presets-");

const nullable = (name: string, type: string) => ({ name, type, nullable: true });
const required = (name: string, type: string) => ({ name, type, nullable: false });
const owner = required("_sync_scope_id", "text");
const stamp = "timestamp with time zone";

describe.each(engines)("schema presets on %s", (_engine, pool) => {
  it("samplesync has the tables of upstream's samplesync server", async () => {
    await installSchemaPreset(pool(), EXAMPLE_PRESETS.samplesync);
    const catalog = await readSchemaCatalog(pool(), "business");
    const table = (name: string) => catalog.find((candidate) => candidate.name === name);
    expect(table("person")?.columns).toStrictEqual([
      owner,
      required("id", "uuid"),
      required("first_name", "text"),
      required("last_name", "text"),
      required("email", "text"),
      nullable("phone", "text"),
      nullable("birth_date", "text"),
      nullable("created_at", stamp),
      nullable("updated_at", stamp),
      nullable("score", "double precision"),
      required("is_active", "boolean"),
      nullable("ssn", "bigint"),
      nullable("notes", "text"),
    ]);
    expect(table("person_address")?.columns).toStrictEqual([
      owner,
      required("id", "uuid"),
      required("person_id", "uuid"),
      required("address_type", "text"),
      required("street", "text"),
      required("city", "text"),
      nullable("state", "text"),
      nullable("postal_code", "text"),
      required("country", "text"),
      required("is_primary", "boolean"),
      nullable("created_at", stamp),
    ]);
    expect(table("comment")?.columns).toStrictEqual([
      owner,
      required("id", "uuid"),
      required("person_id", "uuid"),
      required("comment", "text"),
      nullable("created_at", stamp),
      nullable("tags", "text"),
    ]);
    for (const child of ["person_address", "comment"]) {
      expect(table(child)?.primaryKey).toStrictEqual(["_sync_scope_id", "id"]);
      expect(table(child)?.foreignKeys).toStrictEqual([
        {
          columns: ["_sync_scope_id", "person_id"],
          targetTable: "person",
          targetColumns: ["_sync_scope_id", "id"],
          onDelete: "NO ACTION",
          deferrable: true,
          initiallyDeferred: true,
        },
      ]);
    }
  });

  it("samplesync fills upstream's defaults and keeps email unique per user", async () => {
    await installSchemaPreset(pool(), EXAMPLE_PRESETS.samplesync);
    const client = await pool().connect();
    try {
      await client.query("BEGIN");
      const insert = (scope: string, id: string) =>
        client.query(
          "INSERT INTO business.person (_sync_scope_id, id, first_name, last_name, email) VALUES ($1, $2, 'A', 'B', 'a@b.c') RETURNING is_active, created_at IS NOT NULL AS stamped",
          [scope, id],
        );
      const first = await insert("alice", "00000000-0000-4000-8000-000000000001");
      expect(first.rows).toStrictEqual([{ is_active: true, stamped: true }]);
      await insert("bob", "00000000-0000-4000-8000-000000000002");
      await expect(insert("alice", "00000000-0000-4000-8000-000000000003")).rejects.toMatchObject({
        code: "23505",
      });
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });

  it("both built-in examples share schema business, installed again and again", async () => {
    for (const preset of [
      EXAMPLE_PRESETS.business,
      EXAMPLE_PRESETS.samplesync,
      EXAMPLE_PRESETS.business,
      EXAMPLE_PRESETS.samplesync,
    ]) {
      await installSchemaPreset(pool(), preset);
    }
    expect((await readSchemaCatalog(pool(), "business")).map((table) => table.name)).toHaveLength(11);
  });

  it("refuses a samplesync table of another shape and leaves the database as it was", async () => {
    await pool().query("DROP SCHEMA IF EXISTS business CASCADE");
    await pool().query(
      `CREATE SCHEMA business;
       CREATE TABLE business.person (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL,
         PRIMARY KEY (_sync_scope_id, id))`,
    );
    const error = await installSchemaPreset(pool(), EXAMPLE_PRESETS.samplesync).catch(
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ code: "example_schema_mismatch" });
    expect((error as Error).message).toContain("does not match the samplesync example");
    expect((error as Error).message).toContain("person.first_name is missing");
    expect((error as Error).message).toContain("person.name is not part of the example");
    expect((await readSchemaCatalog(pool(), "business")).map((table) => table.name)).toStrictEqual([
      "person",
    ]);
    await pool().query("DROP SCHEMA business CASCADE");
  });

  it("a config's SQL that is not idempotent fails its second run with a hint, changing nothing", async () => {
    const preset: SchemaPreset = {
      description: "--config once.json",
      appName: "once",
      schemaSql:
        "CREATE SCHEMA IF NOT EXISTS once;\nCREATE TABLE once.item (id int);\nINSERT INTO once.item VALUES (1);",
      registeredTables: [{ schema: "once", table: "item", syncKeyColumns: ["id"] }],
      maxSupportedSchemaVersion: 1,
    };
    await installSchemaPreset(pool(), preset);
    const error = await installSchemaPreset(pool(), preset).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ code: "schema_sql_failed" });
    expect((error as Error).message).toBe(
      'the schema SQL of --config once.json failed: relation "item" already exists; ' +
        "the schema SQL runs at every start, so write it idempotently (CREATE ... IF NOT EXISTS)",
    );
    expect((await pool().query("SELECT count(*)::int AS n FROM once.item")).rows).toStrictEqual([{ n: 1 }]);
  });
});

/**
 * The local tables of upstream's samplesync apps (samplesync-kmp, flutter_samplesync), by structure:
 * column, declared type, NOT NULL, primary key; and each child's cascading key to person.
 */
describe("samplesync client schema", () => {
  const db = new Database(":memory:");
  db.exec(EXAMPLE_PRESETS.samplesync.client!.schemaSql);
  db.exec(EXAMPLE_PRESETS.samplesync.client!.schemaSql); // idempotent
  const shape = (table: string) =>
    (
      db.prepare(`PRAGMA table_info(${table})`).all() as {
        name: string;
        type: string;
        notnull: number;
        pk: number;
      }[]
    ).map(
      (column) =>
        `${column.name} ${column.type}${column.notnull ? " NOT NULL" : ""}${column.pk ? " PK" : ""}`,
    );

  it("has the apps' columns and types", () => {
    expect(shape("person")).toStrictEqual([
      "id BLOB NOT NULL PK",
      "first_name TEXT NOT NULL",
      "last_name TEXT NOT NULL",
      "email TEXT NOT NULL",
      "phone TEXT",
      "birth_date TEXT",
      "created_at TEXT NOT NULL",
      "updated_at TEXT NOT NULL",
      "ssn INTEGER",
      "score REAL",
      "is_active INTEGER NOT NULL",
      "notes TEXT",
    ]);
    expect(shape("person_address")).toStrictEqual([
      "id BLOB NOT NULL PK",
      "person_id BLOB NOT NULL",
      "address_type TEXT NOT NULL",
      "street TEXT NOT NULL",
      "city TEXT NOT NULL",
      "state TEXT",
      "postal_code TEXT",
      "country TEXT NOT NULL",
      "is_primary INTEGER NOT NULL",
      "created_at TEXT NOT NULL",
    ]);
    expect(shape("comment")).toStrictEqual([
      "id TEXT NOT NULL PK",
      "person_id BLOB NOT NULL",
      "comment TEXT NOT NULL",
      "created_at TEXT NOT NULL",
      "tags TEXT",
    ]);
  });

  it("cascades a person's delete to its addresses and comments, and syncs every table", () => {
    for (const table of ["person_address", "comment"]) {
      expect(db.prepare(`PRAGMA foreign_key_list(${table})`).all()).toMatchObject([
        { table: "person", from: "person_id", to: "id", on_delete: "CASCADE" },
      ]);
    }
    expect(EXAMPLE_PRESETS.samplesync.client!.config).toStrictEqual({
      schema: "business",
      syncTables: EXAMPLE_PRESETS.samplesync.registeredTables.map((table) => ({
        tableName: table.table,
        syncKeyColumnName: "id",
      })),
    });
  });
});
