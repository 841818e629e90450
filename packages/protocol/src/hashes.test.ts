import { describe, expect, it } from "vitest";
import { utf8ByteLength } from "./canonical-json.js";
import {
  bundleHash,
  bundleHashJson,
  canonicalRequestHash,
  canonicalRequestJson,
  snapshotRowJson,
} from "./hashes.js";

describe("canonical_request_hash (§3.2)", () => {
  const rows = [
    {
      schema: "main",
      table: "users",
      key: { id: "user-1" },
      op: "INSERT",
      base_row_version: 0,
      payload: { name: "Ada", id: "user-1" },
    },
    { schema: "main", table: "users", key: { id: "user-2" }, op: "DELETE", base_row_version: 3n },
  ] as const;

  it("reproduces the derived INSERT+DELETE vector of protocol-latest §3.2", () => {
    const text = canonicalRequestJson(rows);
    expect(text).toBe(
      '[{"base_row_version":"0","key":{"id":"user-1"},"op":"INSERT","payload":{"id":"user-1","name":"Ada"},"row_ordinal":"0","schema":"main","table":"users"},{"base_row_version":"3","key":{"id":"user-2"},"op":"DELETE","payload":null,"row_ordinal":"1","schema":"main","table":"users"}]',
    );
    expect(utf8ByteLength(text)).toBe(277);
    expect(canonicalRequestHash(rows)).toBe(
      "0c678fc70141c09704e8f1ef481ebeb0c8844b7c19b48a1ca5ebdfdc8fc10c09",
    );
  });

  it("hashes a DELETE the same whether its payload is omitted or null", () => {
    const withNull = [{ ...rows[1], payload: null }];
    expect(canonicalRequestHash(withNull)).toBe(canonicalRequestHash([rows[1]]));
  });

  it("renders versions beyond 2^53 from bigint digit for digit and refuses unsafe numbers", () => {
    const big = [{ ...rows[1], base_row_version: 9007199254740993n }];
    expect(canonicalRequestJson(big)).toContain('"base_row_version":"9007199254740993"');
    expect(() => canonicalRequestJson([{ ...rows[1], base_row_version: 2 ** 53 + 2 }])).toThrow(
      /safe integer/,
    );
  });
});

describe("bundle_hash (§3.3)", () => {
  it("reproduces the derived vector of protocol-latest §3.3", () => {
    const rows = [
      {
        schema: "main",
        table: "users",
        key: { id: "user-1" },
        op: "INSERT",
        row_version: 4,
        payload: { id: "user-1", name: "Ada" },
      },
      { schema: "main", table: "users", key: { id: "user-2" }, op: "DELETE", row_version: 4n, payload: null },
    ] as const;
    const text = bundleHashJson(rows);
    expect(text).toBe(
      '[{"key":{"id":"user-1"},"op":"INSERT","payload":{"id":"user-1","name":"Ada"},"row_ordinal":"0","row_version":"4","schema":"main","table":"users"},{"key":{"id":"user-2"},"op":"DELETE","payload":null,"row_ordinal":"1","row_version":"4","schema":"main","table":"users"}]',
    );
    expect(utf8ByteLength(text)).toBe(267);
    expect(bundleHash(rows)).toBe("883a34ceca4ee77e06227aaf6f8079a19cd48d8f7d7d312c9b7fc861740f9c56");
  });
});

describe("snapshotRowJson (§3.4)", () => {
  it("writes schema, table, key, row_version, payload compactly and measures UTF-8 bytes", () => {
    const row = snapshotRowJson({
      schema: "main",
      table: "users",
      key: { id: "user-1" },
      row_version: 7n,
      payload: { id: "user-1", name: "Snapshot" },
    });
    expect(row.text).toBe(
      '{"schema":"main","table":"users","key":{"id":"user-1"},"row_version":7,"payload":{"id":"user-1","name":"Snapshot"}}',
    );
    expect(row.byteLength).toBe(115);
  });

  it("counts escapes and multi-byte characters as they appear in the text", () => {
    const row = snapshotRowJson({
      schema: "main",
      table: "t",
      key: { id: "k" },
      row_version: 1,
      payload: { note: 'é"\n😀' },
    });
    expect(row.text).toContain('"note":"é\\"\\n😀"');
    expect(row.byteLength).toBe(new TextEncoder().encode(row.text).length);
  });
});
