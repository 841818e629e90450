import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./postgres.js";

describe("createTestDatabase", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("gives an empty database of its own that tables can be created in", async () => {
    const { rows } = await db.pool.query<{ db: string }>("SELECT current_database() AS db");
    expect(rows[0]?.db).toBe(db.name);
    await db.pool.query("CREATE TABLE t (id int8 PRIMARY KEY)");
    await db.pool.query("INSERT INTO t VALUES (9223372036854775807)");
    const back = await db.pool.query<{ id: string }>("SELECT id FROM t");
    expect(back.rows[0]?.id).toBe("9223372036854775807");
  });
});
