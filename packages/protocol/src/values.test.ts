import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  WireValueError,
  bytesToUuid,
  checkDecimalText,
  decodeBase64Strict,
  encodeBase64,
  isCanonicalInteger,
  isCanonicalUuid,
  isWireKey,
  parseBooleanBridge,
  parseCanonicalFloat4,
  parseCanonicalFloat64,
  parseCanonicalInteger,
  renderFloat4,
  renderFloat64,
  uuidToBytes,
  wireKey,
} from "./values.js";

describe("canonical integers", () => {
  it("parses int64 min, max and 2^53+1 to exact bigints", () => {
    expect(parseCanonicalInteger("-9223372036854775808")).toBe(-9223372036854775808n);
    expect(parseCanonicalInteger("9223372036854775807")).toBe(9223372036854775807n);
    expect(parseCanonicalInteger("9007199254740993")).toBe(9007199254740993n);
    expect(parseCanonicalInteger("0")).toBe(0n);
  });

  it("rejects values one past the int64 range", () => {
    expect(() => parseCanonicalInteger("9223372036854775808")).toThrow(/outside the int8 range/);
    expect(() => parseCanonicalInteger("-9223372036854775809")).toThrow(WireValueError);
  });

  it("applies the int2 and int4 ranges", () => {
    expect(parseCanonicalInteger("-32768", "int2")).toBe(-32768n);
    expect(isCanonicalInteger("32768", "int2")).toBe(false);
    expect(parseCanonicalInteger("2147483647", "int4")).toBe(2147483647n);
    expect(isCanonicalInteger("-2147483649", "int4")).toBe(false);
  });

  it("rejects negative zero, signs, leading zeros, fractions, exponents and JSON numbers", () => {
    for (const bad of ["-0", "+1", "01", "1.5", "1e3", "", " 1", "1 ", "0x10"]) {
      expect(isCanonicalInteger(bad), bad).toBe(false);
    }
    expect(() => parseCanonicalInteger(42)).toThrow(/JSON string.*got a JSON number/);
    expect(() => parseCanonicalInteger(true)).toThrow(WireValueError);
  });
});

describe("binary64 and float4", () => {
  it("renders the ECMAScript shortest form with -0 as 0", () => {
    expect(renderFloat64(-0)).toBe("0");
    expect(renderFloat64(1)).toBe("1");
    expect(renderFloat64(5e-324)).toBe("5e-324");
    expect(renderFloat64(1.7976931348623157e308)).toBe("1.7976931348623157e+308");
    expect(renderFloat64(0.000001)).toBe("0.000001");
    expect(renderFloat64(1e-7)).toBe("1e-7");
    expect(renderFloat64(1e16)).toBe("10000000000000000");
    expect(renderFloat64(1e21)).toBe("1e+21");
    expect(() => renderFloat64(Number.NaN)).toThrow(WireValueError);
  });

  it("widens float4 values to binary64 before rendering", () => {
    expect(renderFloat4(1.2345678901234567)).toBe("1.2345678806304932");
    expect(renderFloat4(0.1)).toBe("0.10000000149011612");
    expect(renderFloat4(-0)).toBe("0");
  });

  it("accepts canonical binary64 text and refuses every other spelling", () => {
    expect(parseCanonicalFloat64("5e-324")).toBe(5e-324);
    expect(parseCanonicalFloat64("-1.7976931348623157e+308")).toBe(-1.7976931348623157e308);
    for (const bad of ["1.0", "1e0", "-0", "", "1e", "NaN", "Infinity", "-Infinity", " 1", "0x1", "1E+21"]) {
      expect(() => parseCanonicalFloat64(bad), bad).toThrow(WireValueError);
    }
    expect(() => parseCanonicalFloat64(1.25)).toThrow(/got a JSON number/);
    expect(() => parseCanonicalFloat64("1.0")).toThrow(/send "1"/);
  });

  it("refuses float4 overflow and underflow to zero but keeps float4 subnormals", () => {
    expect(parseCanonicalFloat4("3.4028234663852886e+38")).toBe(3.4028234663852886e38);
    expect(() => parseCanonicalFloat4("3.5e+38")).toThrow(/overflows float4/);
    expect(() => parseCanonicalFloat4("1e-46")).toThrow(/underflows float4/);
    expect(parseCanonicalFloat4("1e-45")).toBe(1e-45);
    expect(parseCanonicalFloat4("0")).toBe(0);
  });
});

describe("decimals", () => {
  it("accepts the strict grammar with scale and exponent", () => {
    for (const ok of [
      "1234567890.123456789",
      "1.25e3",
      "12.3",
      "0",
      "0.0",
      "-0.5",
      "1E-7",
      "7e+2",
      "-12.3000",
    ]) {
      expect(checkDecimalText(ok)).toBe(ok);
    }
  });

  it("rejects negative zero in any spelling, NaN and malformed text", () => {
    for (const bad of [
      "-0",
      "-0.0",
      "-0.0e10",
      "-00",
      "NaN",
      "+1.25",
      "01.25",
      "1.",
      ".5",
      "1e",
      "1,5",
      "",
    ]) {
      expect(() => checkDecimalText(bad), bad).toThrow(WireValueError);
    }
    expect(() => checkDecimalText("-0.0e10")).toThrow(/negative zero/);
    expect(() => checkDecimalText(1.25)).toThrow(/JSON string/);
  });
});

describe("boolean bridge", () => {
  it('maps "0"/"1" and nothing else', () => {
    expect(parseBooleanBridge("0")).toBe(false);
    expect(parseBooleanBridge("1")).toBe(true);
    for (const bad of ["true", "2", 1, true, null, ""])
      expect(() => parseBooleanBridge(bad)).toThrow(WireValueError);
  });
});

describe("base64", () => {
  it("encodes and decodes an empty BLOB as the empty string", () => {
    expect(encodeBase64(new Uint8Array())).toBe("");
    expect(decodeBase64Strict("")).toEqual(new Uint8Array());
  });

  it("round-trips a large BLOB bit for bit and matches Node's encoder", () => {
    const bytes = randomBytes(1024 * 1024 + 2);
    const text = encodeBase64(bytes);
    expect(text).toBe(Buffer.from(bytes).toString("base64"));
    expect(Buffer.from(decodeBase64Strict(text)).equals(bytes)).toBe(true);
  });

  it("handles each padding length", () => {
    for (const [text, bytes] of [
      ["AA==", [0]],
      ["AAE=", [0, 1]],
      ["AAEC", [0, 1, 2]],
      ["/+8=", [255, 239]],
    ] as const) {
      expect(decodeBase64Strict(text)).toEqual(new Uint8Array(bytes));
      expect(encodeBase64(new Uint8Array(bytes))).toBe(text);
    }
  });

  it("rejects input that would not re-encode identically", () => {
    for (const bad of ["AA", "AB==", "AAF=", "AA==\n", " AA==", "-_8=", "A=A=", "====", "AA=A", "AAAA===="]) {
      expect(() => decodeBase64Strict(bad), bad).toThrow(WireValueError);
    }
    expect(() => decodeBase64Strict(5)).toThrow(/base64 JSON string/);
  });
});

describe("UUIDs and keys", () => {
  const uuid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0fa1b2c3d4";

  it("accepts only lowercase dashed UUIDs and converts to and from 16 bytes", () => {
    expect(isCanonicalUuid(uuid)).toBe(true);
    for (const bad of [uuid.toUpperCase(), uuid.replaceAll("-", ""), ` ${uuid}`, `{${uuid}}`, 5]) {
      expect(isCanonicalUuid(bad)).toBe(false);
    }
    const bytes = uuidToBytes("00112233-4455-6677-8899-aabbccddeeff");
    expect(Array.from(bytes)).toEqual([
      0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    ]);
    expect(bytesToUuid(bytes)).toBe("00112233-4455-6677-8899-aabbccddeeff");
    expect(() => uuidToBytes(uuid.toUpperCase())).toThrow(/not canonical/);
    expect(() => bytesToUuid(new Uint8Array(15))).toThrow(/16 bytes/);
  });

  it("recognises the key shape {column: text}", () => {
    expect(wireKey("id", uuid)).toEqual({ id: uuid });
    expect(isWireKey({ id: "user-1" })).toBe(true);
    for (const bad of [{}, { id: 1 }, { a: "1", b: "2" }, ["id"], null, "id"])
      expect(isWireKey(bad)).toBe(false);
  });
});
