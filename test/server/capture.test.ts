import { DEFAULT_BUNDLE_LIMITS, bundleHash } from "@oversync/protocol";
import type { SqlClient } from "@oversync/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runSyncBundle } from "../../packages/server/src/bundle/bundle-commit.js";
import { inTransaction } from "../../packages/server/src/db/session.js";
import { bootstrapSyncSchema } from "../../packages/server/src/schema/bootstrap.js";
import type { TableDirectory } from "../../packages/server/src/schema/table-catalog.js";
import { loadScopeForWrite, lockScope } from "../../packages/server/src/scope/scope-state.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";

let db: TestDatabase;
let directory: TableDirectory;

const AUDIT = { schema: "business", table: "audit_notes", syncKeyColumns: ["id"] };

beforeEach(async () => {
  db = await createTestDatabase("oversync_capture");
  await createBusinessSchema(db.pool);
  // A registered table filled by a trigger on another registered table.
  await db.pool.query(`
    CREATE TABLE business.audit_notes (_sync_scope_id text NOT NULL, id text NOT NULL, note text NOT NULL,
      PRIMARY KEY (_sync_scope_id, id));
    CREATE FUNCTION business.note_category() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO business.audit_notes (_sync_scope_id, id, note)
      VALUES (OLD._sync_scope_id, 'deleted-' || OLD.id, 'category ' || OLD.name || ' deleted');
      RETURN OLD;
    END $$;
    CREATE TRIGGER note_category AFTER DELETE ON business.categories FOR EACH ROW EXECUTE FUNCTION business.note_category();
  `);
  const client = await db.pool.connect();
  try {
    directory = (await bootstrapSyncSchema(client, [...BUSINESS_TABLES, AUDIT])).directory;
  } finally {
    client.release();
  }
});

afterEach(async () => {
  await db.drop();
});

let nextSourceBundle = 1;

/** Runs `work` as one bundle of `scopeId` from source "server-test". */
async function inBundle(scopeId: string, work: (client: SqlClient) => Promise<void>) {
  const client = await db.pool.connect();
  try {
    return await inTransaction(client, {}, async () => {
      await lockScope(client, scopeId);
      const scope = await loadScopeForWrite(client, scopeId);
      const { bundle } = await runSyncBundle(
        client,
        directory,
        {
          scopePk: scope.scopePk,
          scopeId,
          sourceId: "server-test",
          sourceBundleId: nextSourceBundle++,
          canonicalRequestHash: "",
        },
        DEFAULT_BUNDLE_LIMITS.max_bytes_per_snapshot_row,
        () => work(client),
      );
      return bundle;
    });
  } finally {
    client.release();
  }
}

async function bundleRows(bundleSeq: number) {
  const { rows } = await db.pool.query<{
    table_name: string;
    key_text: string;
    op: number;
    payload_wire: string | null;
  }>(
    // An upsert's key is stored only in its payload (schema/sync-layout.ts).
    `SELECT c.table_name, coalesce(r.key_text, r.payload_wire::jsonb ->> c.sync_key_column) AS key_text, r.op, r.payload_wire
       FROM sync.bundle_rows r JOIN sync.table_catalog c USING (table_id)
       JOIN sync.user_state u USING (user_pk)
      WHERE u.user_id = 'alice' AND r.bundle_seq = $1 ORDER BY r.row_ordinal`,
    [bundleSeq],
  );
  return rows.map((row) => ({
    table: row.table_name,
    key: row.key_text,
    op: ({ 1: "INSERT", 2: "UPDATE", 3: "DELETE" } as const)[row.op as 1 | 2 | 3],
    payload: row.payload_wire === null ? null : (JSON.parse(row.payload_wire) as Record<string, unknown>),
  }));
}

const ROOT = "00000000-0000-4000-8000-000000000001";
const CHILD = "00000000-0000-4000-8000-000000000002";
const GRANDCHILD = "00000000-0000-4000-8000-000000000003";

describe("bundle capture", () => {
  it("captures a cascade delete and rows written by another trigger in the same bundle", async () => {
    const first = await inBundle("alice", async (client) => {
      await client.query(
        `INSERT INTO business.categories (id, name, parent_id) VALUES ($1, 'root', NULL), ($2, 'child', $1), ($3, 'leaf', $2)`,
        [ROOT, CHILD, GRANDCHILD],
      );
    });
    expect(first).toMatchObject({ bundle_seq: 1, row_count: 3 });

    const second = await inBundle("alice", async (client) => {
      await client.query("DELETE FROM business.categories WHERE id = $1", [ROOT]);
    });
    expect(second).toMatchObject({ bundle_seq: 2, row_count: 6 });
    const rows = await bundleRows(2);
    expect(rows.filter((row) => row.table === "categories")).toEqual([
      { table: "categories", key: ROOT, op: "DELETE", payload: null },
      { table: "categories", key: CHILD, op: "DELETE", payload: null },
      { table: "categories", key: GRANDCHILD, op: "DELETE", payload: null },
    ]);
    expect(
      rows.filter((row) => row.table === "audit_notes").map((row) => [row.key, row.op, row.payload]),
    ).toEqual(
      expect.arrayContaining([
        [`deleted-${ROOT}`, "INSERT", { id: `deleted-${ROOT}`, note: "category root deleted" }],
        [`deleted-${CHILD}`, "INSERT", { id: `deleted-${CHILD}`, note: "category child deleted" }],
        [`deleted-${GRANDCHILD}`, "INSERT", { id: `deleted-${GRANDCHILD}`, note: "category leaf deleted" }],
      ]),
    );
    // row_state holds tombstones at version 2 for the cascaded rows.
    const { rows: state } = await db.pool.query(
      `SELECT key_text, bundle_seq::int AS seq, deleted FROM sync.row_state
        WHERE table_id = $1 ORDER BY key_text`,
      [directory.byName("business", "categories")!.tableId],
    );
    expect(state).toEqual([
      { key_text: ROOT, seq: 2, deleted: true },
      { key_text: CHILD, seq: 2, deleted: true },
      { key_text: GRANDCHILD, seq: 2, deleted: true },
    ]);
  });

  it("stores a bundle hash computed over the stored wire rows", async () => {
    const bundle = await inBundle("alice", async (client) => {
      await client.query(
        `INSERT INTO business.typed_rows (id, name, count_value, exact_amount, enabled_flag, rating, float4_value, data)
         VALUES ($1, 'n<&>', 9007199254740993, 12.3, true, -0.0, 1.2345678901234567, '\\x0102ff')`,
        [ROOT],
      );
    });
    const rows = await bundleRows(1);
    expect(rows[0]!.payload).toEqual({
      id: ROOT,
      name: "n<&>",
      note: null,
      count_value: "9007199254740993",
      small_count: null,
      medium_count: null,
      exact_amount: "12.3000000000",
      enabled_flag: true,
      rating: "0",
      float4_value: "1.2345678806304932",
      data: "AQL/",
      created_at: null,
    });
    const expected = bundleHash(
      rows.map((row) => ({
        schema: "business",
        table: row.table,
        key: { id: row.key },
        op: row.op,
        row_version: 1,
        payload: row.payload,
      })),
    );
    expect(bundle!.bundle_hash).toBe(expected);
    const { rows: log } = await db.pool.query(
      "SELECT encode(bundle_hash, 'hex') AS bundle_hash, row_count FROM sync.bundle_log",
    );
    expect(log).toEqual([{ bundle_hash: expected, row_count: 1 }]);
  });

  it("captures every column of a table wider than one jsonb_build_object call", async () => {
    const columns = Array.from({ length: 60 }, (_, i) => `c${i} text`).join(", ");
    await db.pool.query(
      `CREATE TABLE business.wide (_sync_scope_id text NOT NULL, id text NOT NULL, ${columns}, PRIMARY KEY (_sync_scope_id, id))`,
    );
    const client = await db.pool.connect();
    try {
      directory = (
        await bootstrapSyncSchema(client, [...BUSINESS_TABLES, AUDIT, { ...AUDIT, table: "wide" }])
      ).directory;
    } finally {
      client.release();
    }
    await inBundle("alice", async (c) => {
      await c.query("INSERT INTO business.wide (id, c0, c59) VALUES ('w', 'first', 'last')");
    });
    const [row] = await bundleRows(1);
    expect(Object.keys(row!.payload!)).toHaveLength(61);
    expect(row!.payload).toMatchObject({ id: "w", c0: "first", c1: null, c59: "last" });
  });

  it("commits an FK cycle written in any order under deferred constraints", async () => {
    const team = ROOT;
    const captain = CHILD;
    const bundle = await inBundle("alice", async (client) => {
      await client.query("INSERT INTO business.teams (id, name, captain_member_id) VALUES ($1, 'reds', $2)", [
        team,
        captain,
      ]);
      await client.query("INSERT INTO business.team_members (id, name, team_id) VALUES ($1, 'cap', $2)", [
        captain,
        team,
      ]);
    });
    expect(bundle).toMatchObject({ row_count: 2 });
    const rows = await bundleRows(1);
    expect(rows.map((row) => [row.table, row.op])).toEqual([
      ["teams", "INSERT"],
      ["team_members", "INSERT"],
    ]);
  });

  it("rejects a broken deferred FK when the bundle is sealed and stores nothing", async () => {
    const error = await inBundle("alice", async (client) => {
      await client.query(
        "INSERT INTO business.posts (id, title, content, author_id) VALUES ($1, 't', 'c', $2)",
        [ROOT, CHILD],
      );
    }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("23503");
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM sync.bundle_log");
    expect(rows[0]).toEqual({ n: 0 });
  });

  it("normalises several effects on one row into one", async () => {
    await inBundle("alice", async (client) => {
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('keep', 'a'), ('gone', 'x')");
    });
    const bundle = await inBundle("alice", async (client) => {
      // insert + update -> INSERT with the last image; insert + delete -> nothing;
      // delete + insert of an existing row -> UPDATE; update + update -> one UPDATE.
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('new', 'v1')");
      await client.query("UPDATE business.docs SET body = 'v2' WHERE doc_id = 'new'");
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('temp', 't')");
      await client.query("DELETE FROM business.docs WHERE doc_id = 'temp'");
      await client.query("DELETE FROM business.docs WHERE doc_id = 'gone'");
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('gone', 'back')");
      await client.query("UPDATE business.docs SET body = 'b' WHERE doc_id = 'keep'");
      await client.query("UPDATE business.docs SET body = 'c' WHERE doc_id = 'keep'");
    });
    expect(bundle!.row_count).toBe(3);
    expect(await bundleRows(2)).toEqual([
      { table: "docs", key: "new", op: "INSERT", payload: { doc_id: "new", body: "v2" } },
      { table: "docs", key: "gone", op: "UPDATE", payload: { doc_id: "gone", body: "back" } },
      { table: "docs", key: "keep", op: "UPDATE", payload: { doc_id: "keep", body: "c" } },
    ]);
  });

  it("turns a sync key change into a delete of the old key and an insert of the new one", async () => {
    await inBundle("alice", async (client) => {
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('old', 'a')");
    });
    await inBundle("alice", async (client) => {
      await client.query("UPDATE business.docs SET doc_id = 'renamed' WHERE doc_id = 'old'");
    });
    expect(await bundleRows(2)).toEqual([
      { table: "docs", key: "old", op: "DELETE", payload: null },
      { table: "docs", key: "renamed", op: "INSERT", payload: { doc_id: "renamed", body: "a" } },
    ]);
  });

  it("produces no bundle when the effects cancel out", async () => {
    const bundle = await inBundle("alice", async (client) => {
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('temp', 't')");
      await client.query("DELETE FROM business.docs WHERE doc_id = 'temp'");
    });
    expect(bundle).toBeUndefined();
    const { rows } = await db.pool.query("SELECT next_bundle_seq::int AS next FROM sync.user_state");
    expect(rows).toEqual([{ next: 1 }]);
  });

  it("rejects writes outside a bundle context and counts them", async () => {
    const insert = db.pool.query("INSERT INTO business.docs (_sync_scope_id, doc_id) VALUES ('alice', 'x')");
    await expect(insert).rejects.toMatchObject({ code: "OV001" });
    await expect(db.pool.query("TRUNCATE business.docs")).rejects.toMatchObject({ code: "OV003" });
    const { rows } = await db.pool.query(
      "SELECT last_value::int AS n, is_called FROM sync.rejected_registered_write_seq",
    );
    expect(rows).toEqual([{ n: 1, is_called: true }]);
  });

  it("rejects writes that touch another scope's rows", async () => {
    await inBundle("bob", async (client) => {
      await client.query("INSERT INTO business.docs (doc_id, body) VALUES ('bobs', 'b')");
    });
    for (const statement of [
      "INSERT INTO business.docs (_sync_scope_id, doc_id) VALUES ('bob', 'sneaky')",
      "UPDATE business.docs SET body = 'hacked'",
      "DELETE FROM business.docs",
      "UPDATE business.docs SET _sync_scope_id = 'alice'",
    ]) {
      const error = await inBundle("alice", async (client) => {
        await client.query(statement);
      }).catch((e: unknown) => e);
      expect((error as { code?: string }).code, statement).toBe("OV002");
    }
    const { rows } = await db.pool.query("SELECT _sync_scope_id, doc_id, body FROM business.docs");
    expect(rows).toEqual([{ _sync_scope_id: "bob", doc_id: "bobs", body: "b" }]);
  });
});
