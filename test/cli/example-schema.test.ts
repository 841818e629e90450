/**
 * The reference server's example schema against the `rich-schema/business-rich-v0.json` contract,
 * on real PostgreSQL and on PGlite: same tables, columns, nullability, keys and foreign keys, with
 * the PostgreSQL types of protocol-latest §5.
 */
import {
  EXAMPLE_REGISTERED_TABLES,
  EXAMPLE_SCHEMA,
  ensureExampleSchema,
  readSchemaCatalog,
} from "@oversync/cli";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { readContract, requireContracts } from "../support/contracts.js";
import { createTestDatabase } from "../support/postgres.js";
import { bothSqlEngines } from "../support/sql-engines.js";

interface FixtureTable {
  name: string;
  syncKeyColumnName: string;
  primaryKey: string[];
  columns: { name: string; logicalType: string; nullable: boolean }[];
  foreignKeys: { from: string; toTable: string; toColumn: string; onDelete: string }[];
}

const hasContracts = requireContracts();
const fixture = hasContracts
  ? readContract<{ schema: string; tables: FixtureTable[] }>("rich-schema/business-rich-v0.json")
  : { schema: "business", tables: [] };

/** protocol-latest §5: the PostgreSQL type each fixture column must have. */
function expectedPostgresType(table: FixtureTable, column: string): string {
  if (column === table.syncKeyColumnName || table.foreignKeys.some((key) => key.from === column))
    return "uuid";
  const byName: Record<string, string> = {
    count_value: "bigint",
    small_count: "smallint",
    medium_count: "integer",
    exact_amount: "numeric(30,10)",
    enabled_flag: "boolean",
    rating: "double precision",
    float4_value: "real",
    data: "bytea",
    created_at: "timestamp with time zone",
    updated_at: "timestamp with time zone",
  };
  return byName[column] ?? "text";
}

const engines = bothSqlEngines("oversync-example-");

describe.each(engines)("example schema on %s", (_engine, pool) => {
  it.skipIf(!hasContracts)("matches business-rich-v0 table by table", async () => {
    await ensureExampleSchema(pool());
    const catalog = await readSchemaCatalog(pool(), fixture.schema);
    expect(catalog.map((table) => table.name)).toStrictEqual(
      fixture.tables.map((table) => table.name).sort(),
    );
    let checked = 0;
    for (const table of fixture.tables) {
      const actual = catalog.find((candidate) => candidate.name === table.name)!;
      expect(actual.columns).toStrictEqual([
        { name: "_sync_scope_id", type: "text", nullable: false },
        ...table.columns.map((column) => ({
          name: column.name.toLowerCase(),
          type: expectedPostgresType(table, column.name),
          nullable: column.nullable,
        })),
      ]);
      expect(actual.primaryKey).toStrictEqual(["_sync_scope_id", ...table.primaryKey]);
      expect(actual.foreignKeys).toStrictEqual(
        table.foreignKeys.map((key) => ({
          columns: ["_sync_scope_id", key.from],
          targetTable: key.toTable,
          targetColumns: ["_sync_scope_id", key.toColumn],
          onDelete: key.onDelete,
          deferrable: true,
          initiallyDeferred: true,
        })),
      );
      checked++;
    }
    console.log(`business-rich-v0: ${checked}/${fixture.tables.length} tables matched on ${_engine}`);
    expect(checked).toBe(8);
  });

  it("is created idempotently: a second run changes nothing", async () => {
    await ensureExampleSchema(pool());
    const before = await readSchemaCatalog(pool(), EXAMPLE_SCHEMA);
    await ensureExampleSchema(pool());
    expect(await readSchemaCatalog(pool(), EXAMPLE_SCHEMA)).toStrictEqual(before);
  });

  it("keys rows per scope, defers the teams/team_members cycle and cascades deletes", async () => {
    await ensureExampleSchema(pool());
    const client = await pool().connect();
    try {
      const team = "56565656-5656-5656-5656-565656565656";
      const member = "57575757-5757-5757-5757-575757575757";
      await client.query("BEGIN");
      for (const scope of ["alice", "bob"]) {
        // The captain is inserted before the member row exists: legal until COMMIT.
        await client.query(
          "INSERT INTO business.teams (_sync_scope_id, id, name, captain_member_id) VALUES ($1, $2, 'T', $3)",
          [scope, team, member],
        );
        await client.query(
          "INSERT INTO business.team_members (_sync_scope_id, id, name, team_id) VALUES ($1, $2, 'M', $3)",
          [scope, member, team],
        );
      }
      await client.query("COMMIT");
      await client.query("BEGIN");
      await client.query("UPDATE business.teams SET captain_member_id = NULL WHERE _sync_scope_id = 'alice'");
      await client.query("DELETE FROM business.teams WHERE _sync_scope_id = 'alice'");
      await client.query("COMMIT");
      const left = await client.query("SELECT _sync_scope_id FROM business.team_members ORDER BY 1");
      expect(left.rows).toStrictEqual([{ _sync_scope_id: "bob" }]);
      // A member pointing at a team of another scope is refused at COMMIT.
      await client.query("BEGIN");
      await client.query(
        "INSERT INTO business.team_members (_sync_scope_id, id, name, team_id) VALUES ('carol', $1, 'M', $2)",
        [member, team],
      );
      await expect(client.query("COMMIT")).rejects.toMatchObject({ code: "23503" });
      // Deleting the teams cascades to their members.
      await client.query("DELETE FROM business.teams");
      expect((await client.query("SELECT count(*)::int AS n FROM business.team_members")).rows).toStrictEqual(
        [{ n: 0 }],
      );
    } finally {
      client.release();
    }
  });

  it("refuses a business schema of another shape and leaves the database as it was", async () => {
    await pool().query(`DROP SCHEMA ${EXAMPLE_SCHEMA} CASCADE`);
    // The June example's typed_rows: enabled_flag BIGINT and four columns missing.
    await pool().query(`CREATE SCHEMA ${EXAMPLE_SCHEMA};
      CREATE TABLE ${EXAMPLE_SCHEMA}.typed_rows (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL,
        note text, count_value bigint, enabled_flag bigint NOT NULL, rating double precision, data bytea,
        created_at timestamptz, PRIMARY KEY (_sync_scope_id, id))`);
    const error = await ensureExampleSchema(pool()).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ code: "example_schema_mismatch" });
    expect((error as Error).message).toContain(
      "typed_rows.enabled_flag is bigint NOT NULL, expected boolean NOT NULL",
    );
    expect((error as Error).message).toContain("typed_rows.small_count is missing");
    const tables = await readSchemaCatalog(pool(), EXAMPLE_SCHEMA);
    expect(tables.map((table) => table.name)).toStrictEqual(["typed_rows"]);
    await pool().query(`DROP SCHEMA ${EXAMPLE_SCHEMA} CASCADE`);
    await ensureExampleSchema(pool());
    expect(await readSchemaCatalog(pool(), EXAMPLE_SCHEMA)).toHaveLength(8);
  });
});

describe("example registrations", () => {
  it.skipIf(!hasContracts)("register exactly the fixture's tables, keyed by their sync key", () => {
    expect(
      EXAMPLE_REGISTERED_TABLES.map(
        (table) => `${table.schema}.${table.table}:${table.syncKeyColumns.join()}`,
      ).sort(),
    ).toStrictEqual(
      fixture.tables.map((table) => `${fixture.schema}.${table.name}:${table.syncKeyColumnName}`).sort(),
    );
  });
});

describe("example schema creation under concurrency", () => {
  it("two processes creating it at once on PostgreSQL both succeed", async () => {
    const db = await createTestDatabase();
    try {
      const second = new pg.Pool({ connectionString: db.url, max: 2 });
      try {
        await Promise.all([ensureExampleSchema(db.pool), ensureExampleSchema(second)]);
      } finally {
        await second.end();
      }
      expect(await readSchemaCatalog(db.pool, EXAMPLE_SCHEMA)).toHaveLength(8);
    } finally {
      await db.drop();
    }
  });
});
