import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bootstrapSyncSchema } from "../../packages/server/src/schema/bootstrap.js";
import { SyncLayoutError, UnsupportedSchemaError } from "../../packages/server/src/schema/schema-errors.js";
import { LAYOUT_LABEL } from "../../packages/server/src/schema/sync-layout.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";

let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase("oversync_boot");
});

afterEach(async () => {
  await db.drop();
});

async function bootstrap(registrations = BUSINESS_TABLES) {
  const client = await db.pool.connect();
  try {
    return await bootstrapSyncSchema(client, registrations);
  } finally {
    client.release();
  }
}

async function syncObjects(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'sync' ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

describe("bootstrap", () => {
  it("creates the layout once and verifies it on every later run without changing it", async () => {
    await createBusinessSchema(db.pool);
    const first = await bootstrap();
    expect(first.layout).toBe("created");
    const objects = await syncObjects();
    const catalog = await db.pool.query("SELECT * FROM sync.table_catalog ORDER BY table_id");

    const second = await bootstrap();
    expect(second.layout).toBe("verified");
    expect(await syncObjects()).toEqual(objects);
    expect((await db.pool.query("SELECT * FROM sync.table_catalog ORDER BY table_id")).rows).toEqual(
      catalog.rows,
    );
    const { rows: meta } = await db.pool.query("SELECT layout FROM sync.meta");
    expect(meta).toEqual([{ layout: LAYOUT_LABEL }]);
    // Triggers are recreated, not duplicated.
    const { rows: triggers } = await db.pool.query<{ count: string }>(
      `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'business.users'::regclass AND NOT tgisinternal`,
    );
    expect(Number(triggers[0]!.count)).toBe(5);
  });

  it("adds the snapshot session column a layout installed by an earlier release lacks", async () => {
    await createBusinessSchema(db.pool);
    await bootstrap();
    await db.pool.query("ALTER TABLE sync.snapshot_sessions DROP COLUMN last_used_at");
    expect((await bootstrap()).layout).toBe("verified");
    const { rows } = await db.pool.query(
      `SELECT data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'sync' AND table_name = 'snapshot_sessions' AND column_name = 'last_used_at'`,
    );
    expect(rows).toEqual([{ data_type: "timestamp with time zone", is_nullable: "NO" }]);
  });

  it("assigns table ids in name order and keeps them when a table is added later", async () => {
    await createBusinessSchema(db.pool);
    const first = await bootstrap(BUSINESS_TABLES.filter((t) => t.table !== "docs"));
    const usersId = first.directory.byName("business", "users")!.tableId;
    expect(first.directory.tables.map((t) => t.table)).toEqual([
      "categories",
      "file_reviews",
      "files",
      "posts",
      "team_members",
      "teams",
      "typed_rows",
      "users",
    ]);
    const second = await bootstrap();
    expect(second.directory.byName("business", "users")!.tableId).toBe(usersId);
    expect(second.directory.byName("business", "docs")!.tableId).toBe(9);
  });

  it("removes the runtime's triggers from a table that is no longer registered", async () => {
    await createBusinessSchema(db.pool);
    await bootstrap();
    const docsId = (await bootstrap()).directory.byName("business", "docs")!.tableId;
    await bootstrap(BUSINESS_TABLES.filter((t) => t.table !== "docs"));
    const { rows: triggers } = await db.pool.query(
      "SELECT tgname FROM pg_trigger WHERE tgrelid = 'business.docs'::regclass AND NOT tgisinternal",
    );
    expect(triggers).toEqual([]);
    const { rows: functions } = await db.pool.query(
      "SELECT proname FROM pg_proc WHERE pronamespace = 'sync'::regnamespace AND proname = $1",
      [`capture_table_${docsId}`],
    );
    expect(functions).toEqual([]);
    // Writes to the unregistered table need no bundle context any more.
    await db.pool.query("INSERT INTO business.docs (_sync_scope_id, doc_id) VALUES ('ada', 'free')");
  });

  it("refuses a sync schema labelled with another layout and leaves it untouched", async () => {
    await createBusinessSchema(db.pool);
    await bootstrap();
    await db.pool.query("UPDATE sync.meta SET layout = 'some_other_layout_v9'");
    const error = await bootstrap().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncLayoutError);
    expect((error as Error).message).toContain("some_other_layout_v9");
    expect((error as Error).message).toContain(LAYOUT_LABEL);
    const { rows } = await db.pool.query("SELECT layout FROM sync.meta");
    expect(rows).toEqual([{ layout: "some_other_layout_v9" }]);
  });

  it("refuses a sync schema that holds unlabelled objects", async () => {
    await createBusinessSchema(db.pool);
    await db.pool.query("CREATE SCHEMA sync; CREATE TABLE sync.something_else (id int)");
    const error = await bootstrap().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncLayoutError);
    expect(await syncObjects()).toEqual(["something_else"]);
  });

  it("accepts an empty pre-created sync schema", async () => {
    await createBusinessSchema(db.pool);
    await db.pool.query("CREATE SCHEMA sync");
    expect((await bootstrap()).layout).toBe("created");
  });

  it("refuses a changed sync key for a table with a catalog entry", async () => {
    await createBusinessSchema(db.pool);
    await db.pool.query("ALTER TABLE business.docs ADD COLUMN alt_id text NOT NULL DEFAULT 'x'");
    await db.pool.query("CREATE UNIQUE INDEX docs_alt ON business.docs (_sync_scope_id, alt_id)");
    await bootstrap();
    const changed = BUSINESS_TABLES.map((t) =>
      t.table === "docs" ? { ...t, syncKeyColumns: ["alt_id"] } : t,
    );
    const error = await bootstrap(changed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncLayoutError);
    expect((error as Error).message).toContain("doc_id");
  });
});

describe("registered table validation", () => {
  it("lists every violation of every table in one UnsupportedSchemaError and installs nothing", async () => {
    await db.pool.query(`
      CREATE SCHEMA bad;
      CREATE TABLE bad.parents (_sync_scope_id text NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE bad.outside (_sync_scope_id text NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));
      -- no owner column; key of an unsupported type; an unsupported column type
      CREATE TABLE bad.no_scope (id int8 PRIMARY KEY, tags text[]);
      -- owner column nullable and of the wrong type; nullable key
      CREATE TABLE bad.weak_scope (_sync_scope_id varchar(10), id text, UNIQUE (_sync_scope_id, id));
      -- unique keys that ignore the scope, a partial and an expression unique index, no (scope, key) key
      CREATE TABLE bad.uniques (_sync_scope_id text NOT NULL, id uuid NOT NULL PRIMARY KEY, email text, code text);
      CREATE UNIQUE INDEX uniques_partial ON bad.uniques (_sync_scope_id, email) WHERE email IS NOT NULL;
      CREATE UNIQUE INDEX uniques_expr ON bad.uniques (_sync_scope_id, lower(code));
      -- generated and always-identity columns; a mixed-case column
      CREATE TABLE bad.generated (_sync_scope_id text NOT NULL, id uuid NOT NULL, n int8 GENERATED ALWAYS AS IDENTITY,
        doubled int8 GENERATED ALWAYS AS (n * 2) STORED, "MixedCase" text, PRIMARY KEY (_sync_scope_id, id));
      -- foreign keys: to an unregistered table, not scope-inclusive, not deferrable, SET NULL on the
      -- whole key, ON UPDATE SET DEFAULT, MATCH FULL, and to a non-key column
      CREATE TABLE bad.children (
        _sync_scope_id text NOT NULL, id uuid NOT NULL, parent_id uuid, other_id uuid, third_id uuid,
        fourth_id uuid, fifth_id uuid, alt uuid,
        PRIMARY KEY (_sync_scope_id, id), UNIQUE (_sync_scope_id, alt),
        CONSTRAINT to_outside FOREIGN KEY (_sync_scope_id, other_id) REFERENCES bad.outside (_sync_scope_id, id) DEFERRABLE,
        CONSTRAINT not_scoped FOREIGN KEY (parent_id) REFERENCES bad.uniques (id) DEFERRABLE,
        CONSTRAINT immediate FOREIGN KEY (_sync_scope_id, third_id) REFERENCES bad.parents (_sync_scope_id, id),
        CONSTRAINT set_null FOREIGN KEY (_sync_scope_id, fourth_id) REFERENCES bad.parents (_sync_scope_id, id)
          ON DELETE SET NULL DEFERRABLE,
        CONSTRAINT update_default FOREIGN KEY (_sync_scope_id, fifth_id) REFERENCES bad.parents (_sync_scope_id, id)
          MATCH FULL ON UPDATE SET DEFAULT DEFERRABLE,
        CONSTRAINT non_key FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES bad.children (_sync_scope_id, alt) DEFERRABLE);
      -- the column-list form of SET NULL that keeps the owner is fine
      CREATE TABLE bad.good_child (_sync_scope_id text NOT NULL, id uuid NOT NULL, parent_id uuid,
        PRIMARY KEY (_sync_scope_id, id),
        FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES bad.parents (_sync_scope_id, id)
          ON DELETE SET NULL (parent_id) DEFERRABLE INITIALLY DEFERRED);
      CREATE VIEW bad.a_view AS SELECT 1 AS id;
    `);
    const registrations = [
      ...[
        "parents",
        "no_scope",
        "weak_scope",
        "uniques",
        "generated",
        "children",
        "good_child",
        "a_view",
      ].map((table) => ({ schema: "bad", table, syncKeyColumns: ["id"] })),
      { schema: "bad", table: "missing", syncKeyColumns: ["id"] },
      { schema: "bad", table: "parents", syncKeyColumns: ["id"] },
      { schema: "bad", table: "two_keys", syncKeyColumns: ["a", "b"] },
      { schema: "Bad", table: "Upper", syncKeyColumns: ["id"] },
    ];
    const error = await bootstrap(registrations).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedSchemaError);
    const violations = (error as UnsupportedSchemaError).violations.map(
      (v) => `${v.table}:${v.rule}:${v.message}`,
    );
    const expectations: [string, string, string][] = [
      ["parents", "registration", "more than once"],
      ["two_keys", "registration", "exactly one"],
      ["two_keys", "table_exists", "does not exist"],
      ["missing", "table_exists", "does not exist"],
      ["a_view", "table_exists", "not an ordinary table"],
      ["Upper", "lowercase_names", '"Bad" must be lower-case'],
      ["Upper", "lowercase_names", '"Upper" must be lower-case'],
      ["Upper", "table_exists", "does not exist"],
      ["no_scope", "scope_column", "has no _sync_scope_id"],
      ["no_scope", "sync_key", "int8; it must be uuid or text"],
      ["no_scope", "column_type", "tags"],
      ["no_scope", "unique_keys", "does not include _sync_scope_id"],
      ["no_scope", "unique_keys", "exactly (_sync_scope_id, id)"],
      ["weak_scope", "scope_column", "varchar"],
      ["weak_scope", "sync_key", "must be NOT NULL"],
      ["uniques", "unique_keys", "uniques_pkey (id) does not include _sync_scope_id"],
      ["uniques", "unique_keys", "uniques_partial is partial"],
      ["uniques", "unique_keys", "uniques_expr is on an expression"],
      ["uniques", "unique_keys", "exactly (_sync_scope_id, id)"],
      ["generated", "writable_columns", "GENERATED ALWAYS AS IDENTITY"],
      ["generated", "writable_columns", '"doubled" is generated'],
      ["generated", "lowercase_names", "MixedCase"],
      ["children", "fk_closed", "to_outside references bad.outside"],
      ["children", "fk_scope", "not_scoped"],
      ["children", "fk_deferrable", "immediate"],
      ["children", "fk_actions", "set_null uses ON DELETE SET NULL"],
      ["children", "fk_actions", "update_default uses ON UPDATE SET DEFAULT"],
      ["children", "fk_actions", "update_default uses MATCH FULL"],
      ["children", "fk_scope", "non_key"],
    ];
    for (const [table, rule, fragment] of expectations) {
      expect(
        violations.some((v) => v.startsWith(`${table}:${rule}:`) && v.includes(fragment)),
        `${table} ${rule} ${fragment} in\n${violations.join("\n")}`,
      ).toBe(true);
    }
    expect(violations.filter((v) => v.startsWith("good_child:"))).toEqual([]);
    expect(violations).toHaveLength(expectations.length);
    expect((error as Error).message).toContain("bad.children [fk_deferrable]");
    expect(await syncObjects()).toEqual([]);
  });

  it("accepts the business example schema", async () => {
    await createBusinessSchema(db.pool);
    const { directory } = await bootstrap();
    const typed = directory.byName("business", "typed_rows")!;
    expect(typed.keyKind).toBe("uuid");
    expect(typed.columns.map((c) => c.name)).not.toContain("_sync_scope_id");
    expect(directory.byName("business", "docs")!.keyKind).toBe("text");
  });
});
