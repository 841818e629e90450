import { describe, expect, it } from "vitest";
import { parseUploadedValue, postgresValueType } from "./postgres-values.js";
import { WireValueError } from "./values.js";

describe("postgresValueType", () => {
  it("maps PostgreSQL type names to validation families", () => {
    expect(postgresValueType("int2")).toEqual({ family: "integer", width: "int2" });
    expect(postgresValueType("integer")).toEqual({ family: "integer", width: "int4" });
    expect(postgresValueType("BIGINT")).toEqual({ family: "integer", width: "int8" });
    expect(postgresValueType("real")).toEqual({ family: "float", width: "float4" });
    expect(postgresValueType("double precision")).toEqual({ family: "float", width: "float8" });
    expect(postgresValueType("numeric(30,10)")).toEqual({ family: "decimal" });
    expect(postgresValueType("decimal(8,4)")).toEqual({ family: "decimal" });
    expect(postgresValueType("boolean")).toEqual({ family: "boolean" });
    expect(postgresValueType("bytea")).toEqual({ family: "bytea" });
    expect(postgresValueType("uuid")).toEqual({ family: "uuid" });
    for (const text of ["text", "character varying(20)", "timestamp with time zone", "jsonb", "date"]) {
      expect(postgresValueType(text)).toEqual({ family: "text" });
    }
  });
});

describe("parseUploadedValue", () => {
  it("returns bindable parameters for valid uploads", () => {
    expect(parseUploadedValue({ family: "integer", width: "int8" }, "-9223372036854775808")).toBe(
      "-9223372036854775808",
    );
    expect(parseUploadedValue({ family: "float", width: "float4" }, "1.2345678901234567")).toBe(
      "1.2345678901234567",
    );
    expect(parseUploadedValue({ family: "decimal" }, "1.25e3")).toBe("1.25e3");
    expect(parseUploadedValue({ family: "boolean" }, "1")).toBe(true);
    expect(parseUploadedValue({ family: "bytea" }, "AAE=")).toEqual(new Uint8Array([0, 1]));
    expect(parseUploadedValue({ family: "uuid" }, "56565656-5656-5656-5656-565656565656")).toBe(
      "56565656-5656-5656-5656-565656565656",
    );
    expect(parseUploadedValue({ family: "text" }, "2026-03-24T18:42:11Z")).toBe("2026-03-24T18:42:11Z");
    expect(parseUploadedValue({ family: "integer", width: "int2" }, null)).toBeNull();
  });

  it("rejects out-of-width integers, NaN floats, bad decimals, booleans, uuids and text", () => {
    const reject = (type: Parameters<typeof parseUploadedValue>[0], value: unknown) =>
      expect(() => parseUploadedValue(type, value), JSON.stringify(value)).toThrow(WireValueError);
    reject({ family: "integer", width: "int2" }, "32768");
    reject({ family: "integer", width: "int4" }, "2147483648");
    reject({ family: "float", width: "float8" }, "NaN");
    reject({ family: "float", width: "float4" }, "1e39");
    reject({ family: "decimal" }, "-0.0e10");
    reject({ family: "boolean" }, "true");
    reject({ family: "uuid" }, "56565656565656565656565656565656");
    reject({ family: "bytea" }, "not base64");
    reject({ family: "text" }, 5);
    reject({ family: "text" }, "nul\u0000");
    reject({ family: "text" }, "lone\ud800");
  });
});
