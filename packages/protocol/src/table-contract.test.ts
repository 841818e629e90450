import { describe, expect, it } from "vitest";
import { compareTableContract } from "./table-contract.js";

const users = { schema: "business", table: "users", sync_key_columns: ["id"] };

describe("compareTableContract", () => {
  it("matches equal sets regardless of order and lower-cases client table and key names", () => {
    const posts = { schema: "business", table: "posts", sync_key_columns: ["id"] };
    expect(compareTableContract([users, posts], [posts, users])).toEqual({ kind: "match" });
    expect(
      compareTableContract([{ schema: "business", table: "Users", sync_key_columns: ["ID"] }], [users]),
    ).toEqual({ kind: "match" });
  });

  it("compares the schema verbatim", () => {
    expect(compareTableContract([{ ...users, schema: "Business" }], [users])).toEqual({
      kind: "mismatch",
      serverOnlyTables: ["business.users"],
      clientOnlyTables: ["Business.users"],
      syncKeyMismatches: [],
    });
  });

  it("reports invalid advertisements and invalid specs on either side", () => {
    expect(compareTableContract([users], undefined).kind).toBe("invalid");
    expect(compareTableContract([users], null).kind).toBe("invalid");
    expect(compareTableContract([users], [users, users]).kind).toBe("invalid");
    expect(compareTableContract([users], [{ ...users, sync_key_columns: ["id", "other"] }]).kind).toBe(
      "invalid",
    );
    expect(compareTableContract([users], [{ ...users, sync_key_columns: [" "] }]).kind).toBe("invalid");
    expect(
      compareTableContract([users], [{ schema: "business", table: 5, sync_key_columns: ["id"] }]).kind,
    ).toBe("invalid");
    expect(compareTableContract([users, users], [users]).kind).toBe("invalid");
  });
});
