import { describe, expect, it } from "vitest";
import { columnKindOf, decodeWireValue, encodeSqliteValue } from "./sqlite-values.js";
import { WireValueError } from "./values.js";

describe("columnKindOf", () => {
  it("classifies declared types in KMP order", () => {
    expect(columnKindOf("BLOB", true)).toBe("UUID_BLOB");
    expect(columnKindOf("blob", false)).toBe("BLOB");
    expect(columnKindOf("REAL", false)).toBe("REAL");
    expect(columnKindOf("Double Precision", false)).toBe("REAL");
    expect(columnKindOf("FLOATING POINT", false)).toBe("REAL");
    expect(columnKindOf("BIGINT", false)).toBe("INTEGER");
    expect(columnKindOf("INTEGER", true)).toBe("INTEGER");
    for (const text of ["TEXT", "NUMERIC", "DECIMAL(10,2)", "BOOLEAN", "DATETIME", ""]) {
      expect(columnKindOf(text, false)).toBe("TEXT");
    }
  });
});

describe("encodeSqliteValue", () => {
  it("writes integers from bigint, including int64 bounds and 2^53+1", () => {
    expect(encodeSqliteValue("INTEGER", -9223372036854775808n)).toBe("-9223372036854775808");
    expect(encodeSqliteValue("INTEGER", 9223372036854775807n)).toBe("9223372036854775807");
    expect(encodeSqliteValue("INTEGER", 9007199254740993n)).toBe("9007199254740993");
  });

  it("refuses a JavaScript number in an INTEGER column", () => {
    expect(() => encodeSqliteValue("INTEGER", 42)).toThrow(/INTEGER column holds a REAL value/);
  });

  it("writes reals canonically, -0 as 0", () => {
    expect(encodeSqliteValue("REAL", -0)).toBe("0");
    expect(encodeSqliteValue("REAL", 1)).toBe("1");
    expect(encodeSqliteValue("REAL", 1.2345678901234567)).toBe("1.2345678901234567");
    expect(() => encodeSqliteValue("REAL", Number.POSITIVE_INFINITY)).toThrow(WireValueError);
  });

  it("writes text verbatim, including characters that need escaping in JSON", () => {
    const text = 'line\nquote" \u2028 \u007f 😀';
    expect(encodeSqliteValue("TEXT", text)).toBe(text);
    expect(() => encodeSqliteValue("TEXT", 5n)).toThrow(/TEXT column holds a INTEGER value/);
  });

  it("writes BLOBs as base64 (empty too) and UUID BLOBs as dashed UUIDs", () => {
    expect(encodeSqliteValue("BLOB", new Uint8Array())).toBe("");
    expect(encodeSqliteValue("BLOB", new Uint8Array([0xff, 0x00]))).toBe("/wA=");
    const uuidBytes = new Uint8Array(16).fill(0x56);
    expect(encodeSqliteValue("UUID_BLOB", uuidBytes)).toBe("56565656-5656-5656-5656-565656565656");
    expect(() => encodeSqliteValue("UUID_BLOB", new Uint8Array(4))).toThrow(/16 bytes/);
    expect(() => encodeSqliteValue("BLOB", "abc")).toThrow(WireValueError);
  });

  it("keeps NULL as null for every kind", () => {
    for (const kind of ["TEXT", "INTEGER", "REAL", "BLOB", "UUID_BLOB"] as const) {
      expect(encodeSqliteValue(kind, null)).toBeNull();
      expect(decodeWireValue(kind, null)).toBeNull();
    }
  });
});

describe("decodeWireValue", () => {
  it("reads INTEGER from canonical strings and JSON booleans, always as bigint", () => {
    expect(decodeWireValue("INTEGER", "-9223372036854775808")).toBe(-9223372036854775808n);
    expect(decodeWireValue("INTEGER", "9007199254740993")).toBe(9007199254740993n);
    expect(decodeWireValue("INTEGER", true)).toBe(1n);
    expect(decodeWireValue("INTEGER", false)).toBe(0n);
    for (const bad of ["true", "1.0", "-0", 42, "9223372036854775808"]) {
      expect(() => decodeWireValue("INTEGER", bad), String(bad)).toThrow(WireValueError);
    }
  });

  it("reads REAL only in canonical form", () => {
    expect(decodeWireValue("REAL", "1.2345678806304932")).toBe(1.2345678806304932);
    expect(decodeWireValue("REAL", "5e-324")).toBe(5e-324);
    expect(() => decodeWireValue("REAL", "1.0")).toThrow(WireValueError);
    expect(() => decodeWireValue("REAL", 1.5)).toThrow(WireValueError);
  });

  it("reads TEXT strings only, including exact decimals kept as text", () => {
    expect(decodeWireValue("TEXT", "1234567890.1234567890")).toBe("1234567890.1234567890");
    expect(() => decodeWireValue("TEXT", true)).toThrow(/JSON string/);
  });

  it("reads BLOB base64 strictly and UUID_BLOB keys into 16 bytes", () => {
    expect(decodeWireValue("BLOB", "")).toEqual(new Uint8Array());
    expect(decodeWireValue("BLOB", "/wA=")).toEqual(new Uint8Array([0xff, 0x00]));
    expect(() => decodeWireValue("BLOB", "/wA")).toThrow(WireValueError);
    expect(decodeWireValue("UUID_BLOB", "56565656-5656-5656-5656-565656565656")).toEqual(
      new Uint8Array(16).fill(0x56),
    );
    expect(() => decodeWireValue("UUID_BLOB", "5656565656565656565656565656565656")).toThrow(WireValueError);
  });

  it("round-trips keys of uuid and text kinds", () => {
    const uuidKey = encodeSqliteValue(
      "UUID_BLOB",
      decodeWireValue("UUID_BLOB", "0a1b2c3d-0000-4000-8000-00000000abcd"),
    );
    expect(uuidKey).toBe("0a1b2c3d-0000-4000-8000-00000000abcd");
    expect(encodeSqliteValue("TEXT", decodeWireValue("TEXT", "user-1"))).toBe("user-1");
  });
});
