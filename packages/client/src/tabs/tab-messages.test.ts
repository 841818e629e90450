/** Which statements may run again on the next owner when their owner tab went away. */
import { describe, expect, it } from "vitest";
import { isReadOnlySql } from "./tab-messages.js";

describe("statements that may run again on the next owner", () => {
  it("are the ones that can only read", () => {
    for (const sql of [
      "SELECT * FROM users",
      "  select 1",
      "-- the list\nSELECT id FROM todos",
      "/* count */ SELECT count(*) FROM todos",
      "(SELECT 1)",
      "VALUES (1), (2)",
      "WITH t AS (SELECT 1) SELECT * FROM t",
      "EXPLAIN SELECT 1",
    ]) {
      expect(isReadOnlySql(sql), sql).toBe(true);
    }
  });

  it("leave out everything that can write, and anything doubtful", () => {
    for (const sql of [
      "INSERT INTO users VALUES (1)",
      "UPDATE users SET name = 'x' RETURNING *",
      "DELETE FROM users RETURNING id",
      "REPLACE INTO users VALUES (1)",
      "WITH t AS (SELECT 1) INSERT INTO users SELECT * FROM t",
      "PRAGMA user_version = 3",
      "CREATE TABLE t (x)",
      "SELECT 'update' AS word",
      "",
    ]) {
      expect(isReadOnlySql(sql), sql).toBe(false);
    }
  });
});
