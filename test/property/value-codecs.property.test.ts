/**
 * The wire value codecs (values.ts, sqlite-values.ts): every 64-bit integer, every finite binary64
 * and binary32 bit pattern, and every byte string round-trips through its encoder and strict
 * decoder bit for bit; each decoder accepts exactly the canonical text the protocol grammar (§2)
 * allows, restated here, and refuses the rest with WireValueError only. The server's validation of
 * uploads per PostgreSQL column is column-codec.property.test.ts.
 */
import {
  type ColumnKind,
  INTEGER_RANGES,
  type IntegerWidth,
  type SqliteValue,
  WireValueError,
  bytesToUuid,
  checkDecimalText,
  decodeBase64Strict,
  decodeWireValue,
  encodeBase64,
  encodeSqliteValue,
  isCanonicalInteger,
  parseBooleanBridge,
  parseCanonicalFloat4,
  parseCanonicalFloat64,
  parseCanonicalInteger,
  renderFloat4,
  renderFloat64,
  uuidToBytes,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bitsOf, finiteDouble, finiteFloat } from "./column-values.js";
import { edgeNumberToken, trickyString } from "./hostile-json.js";
import { runs } from "./property-runs.js";
import { canonicalUuid } from "./valid-wire.js";

/** Runs `decode`: its value, or the WireValueError it threw (anything else fails the property). */
function outcome<T>(decode: () => T): { ok: true; value: T } | { ok: false; error: WireValueError } {
  try {
    return { ok: true, value: decode() };
  } catch (error) {
    if (error instanceof WireValueError) return { ok: false, error };
    throw error;
  }
}

const INT64_MIN = INTEGER_RANGES.int8.min;
const INT64_MAX = INTEGER_RANGES.int8.max;

/** Every signed 64-bit integer, biased toward the width boundaries. */
const int64 = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.constantFrom(
    ...Object.values(INTEGER_RANGES).flatMap(({ min, max }) => [min, max, min - 1n, max + 1n]),
    0n,
    -1n,
    2n ** 53n,
    2n ** 53n + 1n,
  ),
);

/** Text that looks numeric and text that does not. */
const numericText = fc.oneof(
  int64.map(String),
  finiteDouble.map(String),
  edgeNumberToken,
  fc.constantFrom(
    "",
    " 1",
    "1 ",
    "+1",
    "01",
    "-0",
    "0.0",
    "1.",
    ".5",
    "1e",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x1F",
    "١",
  ),
  trickyString(10),
);

/** Any JSON-ish value a payload could carry instead of a string. */
const nonString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.jsonValue({ maxDepth: 2 }).filter((value) => typeof value !== "string"),
);

const WIDTHS: IntegerWidth[] = ["int2", "int4", "int8"];

describe("canonical integers", () => {
  it("round-trip every integer of each width and refuse every integer outside it", () => {
    fc.assert(
      fc.property(int64, fc.constantFrom(...WIDTHS), (value, width) => {
        const { min, max } = INTEGER_RANGES[width];
        const result = outcome(() => parseCanonicalInteger(String(value), width));
        if (value >= min && value <= max) expect(result).toStrictEqual({ ok: true, value });
        else expect(result.ok).toBe(false);
        expect(isCanonicalInteger(String(value), width)).toBe(result.ok);
      }),
      runs(500),
    );
  });

  it("accept exactly the canonical grammar ^-?(0|[1-9][0-9]*)$ without -0, and no non-string", () => {
    fc.assert(
      fc.property(fc.oneof(numericText, nonString), (value) => {
        const result = outcome(() => parseCanonicalInteger(value));
        const canonical =
          typeof value === "string" &&
          /^-?(0|[1-9][0-9]*)$/.test(value) &&
          value !== "-0" &&
          BigInt(value) >= INT64_MIN &&
          BigInt(value) <= INT64_MAX;
        expect(result.ok).toBe(canonical);
        if (result.ok) expect(String(result.value)).toBe(value);
      }),
      runs(500),
    );
  });
});

describe("canonical binary64 and binary32 text", () => {
  it("round-trips every finite double bit for bit, -0 becoming 0", () => {
    fc.assert(
      fc.property(finiteDouble, (value) => {
        const parsed = parseCanonicalFloat64(renderFloat64(value));
        expect(bitsOf(parsed)).toBe(bitsOf(Object.is(value, -0) ? 0 : value));
      }),
      runs(1000),
    );
  });

  it("accepts exactly the text String(Number(text)) gives back, finite", () => {
    fc.assert(
      fc.property(fc.oneof(numericText, nonString), (value) => {
        const result = outcome(() => parseCanonicalFloat64(value));
        const canonical =
          typeof value === "string" &&
          value !== "" &&
          Number.isFinite(Number(value)) &&
          String(Number(value)) === value;
        expect(result.ok).toBe(canonical);
      }),
      runs(500),
    );
  });

  it("round-trips every finite float4 value through its widened text, bit for bit", () => {
    fc.assert(
      fc.property(finiteFloat, (value) => {
        const text = renderFloat4(value);
        const parsed = parseCanonicalFloat4(text);
        expect(bitsOf(Math.fround(parsed))).toBe(bitsOf(Object.is(value, -0) ? 0 : value));
      }),
      runs(1000),
    );
  });

  it("refuses for float4 exactly the doubles that overflow it or underflow it to zero", () => {
    fc.assert(
      fc.property(finiteDouble, (value) => {
        const result = outcome(() => parseCanonicalFloat4(renderFloat64(value)));
        const narrowed = Math.fround(value);
        const fits = Number.isFinite(narrowed) && !(narrowed === 0 && value !== 0);
        expect(result.ok).toBe(fits);
      }),
      runs(1000),
    );
  });

  it("refuses non-finite doubles when rendering", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        (value) => {
          expect(outcome(() => renderFloat64(value)).ok).toBe(false);
          expect(outcome(() => renderFloat4(value)).ok).toBe(false);
        },
      ),
      runs(10),
    );
  });
});

describe("decimal text", () => {
  const decimal = fc
    .record({
      negative: fc.boolean(),
      whole: fc.oneof(fc.constant("0"), fc.stringMatching(/^[1-9][0-9]{0,40}$/)),
      fraction: fc.option(fc.stringMatching(/^[0-9]{1,40}$/), { nil: undefined }),
      exponent: fc.option(fc.stringMatching(/^[eE][+-]?[0-9]{1,6}$/), { nil: undefined }),
    })
    .map(
      ({ negative, whole, fraction, exponent }) =>
        `${negative ? "-" : ""}${whole}${fraction === undefined ? "" : `.${fraction}`}${exponent ?? ""}`,
    );

  it("accepts exactly the strict grammar, refusing negative zero in any spelling", () => {
    fc.assert(
      fc.property(fc.oneof(decimal, numericText, nonString), (value) => {
        const result = outcome(() => checkDecimalText(value));
        const match =
          typeof value === "string"
            ? /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE][+-]?[0-9]+)?$/.exec(value)
            : null;
        const negativeZero =
          match !== null && match[1] === "-" && /^0+$/.test(`${match[2]}${match[3] ?? ""}`);
        expect(result.ok).toBe(match !== null && !negativeZero);
        if (result.ok) expect(result.value).toBe(value);
      }),
      runs(500),
    );
  });
});

describe("base64", () => {
  it("round-trips any bytes, writing what Node's encoder writes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = encodeBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString("base64"));
        expect(decodeBase64Strict(text)).toStrictEqual(bytes);
      }),
      runs(500),
    );
  });

  it("accepts exactly padded standard base64 that re-encodes identically", () => {
    const base64ish = fc.oneof(
      fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes).toString("base64")),
      fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes).toString("base64url")),
      fc.stringMatching(/^[A-Za-z0-9+/=_\- \n]{0,16}$/),
      trickyString(12),
    );
    fc.assert(
      fc.property(fc.oneof(base64ish, nonString), (value) => {
        const result = outcome(() => decodeBase64Strict(value));
        const canonical =
          typeof value === "string" &&
          /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value) &&
          Buffer.from(value, "base64").toString("base64") === value;
        expect(result.ok).toBe(canonical);
        if (result.ok) expect(Buffer.from(result.value).toString("base64")).toBe(value);
      }),
      runs(500),
    );
  });
});

describe("UUIDs and the boolean bridge", () => {
  it("round-trip any 16 bytes through canonical text, and refuse any other length", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), (bytes) => {
        const result = outcome(() => bytesToUuid(bytes));
        expect(result.ok).toBe(bytes.length === 16);
        if (result.ok) expect(uuidToBytes(result.value)).toStrictEqual(bytes);
      }),
      runs(300),
    );
  });

  it("accept only canonical lowercase dashed UUID text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          canonicalUuid,
          canonicalUuid.map((u) => u.toUpperCase()),
          fc.uuid(),
          trickyString(36),
          nonString,
        ),
        (value) => {
          const result = outcome(() => uuidToBytes(value));
          const canonical =
            typeof value === "string" &&
            /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value);
          expect(result.ok).toBe(canonical);
          if (result.ok) expect(bytesToUuid(result.value)).toBe(value);
        },
      ),
      runs(300),
    );
  });

  it("accepts only the strings 0 and 1 as booleans", () => {
    fc.assert(
      fc.property(fc.oneof(numericText, nonString, fc.constantFrom("0", "1", "true", "false")), (value) => {
        const result = outcome(() => parseBooleanBridge(value));
        expect(result.ok).toBe(value === "0" || value === "1");
        if (result.ok) expect(result.value).toBe(value === "1");
      }),
      runs(300),
    );
  });
});

/** A local SQLite value of each column kind, as a driver with safe integers returns it. */
const sqliteValueOf: Record<ColumnKind, fc.Arbitrary<SqliteValue>> = {
  TEXT: trickyString(20),
  INTEGER: int64.filter((value) => value >= INT64_MIN && value <= INT64_MAX),
  REAL: finiteDouble,
  BLOB: fc.uint8Array({ maxLength: 64 }),
  UUID_BLOB: fc.uint8Array({ minLength: 16, maxLength: 16 }),
};
const KINDS = Object.keys(sqliteValueOf) as ColumnKind[];

describe("SQLite values", () => {
  it("round-trip every value of every kind through the wire bit for bit (REAL -0 becoming 0)", () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(...KINDS)
          .chain((kind) => fc.tuple(fc.constant(kind), fc.option(sqliteValueOf[kind], { nil: null }))),
        ([kind, value]) => {
          const wire = encodeSqliteValue(kind, value);
          const back = decodeWireValue(kind, JSON.parse(JSON.stringify(wire)));
          if (typeof value === "number")
            expect(bitsOf(back as number)).toBe(bitsOf(Object.is(value, -0) ? 0 : value));
          else expect(back).toStrictEqual(value);
        },
      ),
      runs(800),
    );
  });

  it("refuse a value of the wrong storage class or out of range with WireValueError", () => {
    const anySqlite = fc.oneof(
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
      fc.double(),
      trickyString(8),
      fc.uint8Array({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), anySqlite, (kind, value) => {
        const result = outcome(() => encodeSqliteValue(kind, value));
        const fits =
          (kind === "TEXT" && typeof value === "string") ||
          (kind === "INTEGER" && typeof value === "bigint" && value >= INT64_MIN && value <= INT64_MAX) ||
          (kind === "REAL" && typeof value === "number" && Number.isFinite(value)) ||
          (kind === "BLOB" && value instanceof Uint8Array) ||
          (kind === "UUID_BLOB" && value instanceof Uint8Array && value.length === 16);
        expect(result.ok).toBe(fits);
      }),
      runs(500),
    );
  });

  it("decode any JSON value for any kind only into a value or WireValueError", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KINDS),
        fc.oneof(numericText, nonString, canonicalUuid),
        (kind, wire) => {
          const result = outcome(() => decodeWireValue(kind, wire));
          if (result.ok && result.value !== null) {
            const expected = {
              TEXT: "string",
              INTEGER: "bigint",
              REAL: "number",
              BLOB: "object",
              UUID_BLOB: "object",
            };
            expect(typeof result.value).toBe(expected[kind]);
          }
        },
      ),
      runs(500),
    );
  });
});
