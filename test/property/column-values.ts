/**
 * Arbitraries for business values: every 64-bit integer, every finite binary64 and binary32 bit
 * pattern, exact decimal text, and hostile uploads that come close to every column family's rules.
 */
import fc from "fast-check";
import { deepNesting, edgeNumberToken, hostileValue, render, trickyString } from "./hostile-json.js";
import { canonicalUuid } from "./valid-wire.js";

/** Every signed 64-bit integer. */
export const int64: fc.Arbitrary<bigint> = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

/** Every finite binary64 value, from its 64-bit pattern (subnormals, extremes and -0 included). */
export const finiteDouble: fc.Arbitrary<number> = fc
  .bigInt({ min: 0n, max: 2n ** 64n - 1n })
  .map((bits) => {
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, bits);
    return view.getFloat64(0);
  })
  .filter(Number.isFinite);

/** Every finite binary32 value, from its 32-bit pattern. */
export const finiteFloat: fc.Arbitrary<number> = fc
  .integer({ min: 0, max: 2 ** 32 - 1 })
  .map((bits) => {
    const view = new DataView(new ArrayBuffer(4));
    view.setUint32(0, bits);
    return view.getFloat32(0);
  })
  .filter(Number.isFinite);

/** The 64-bit pattern of a double, to compare values bit for bit. */
export function bitsOf(value: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return view.getBigUint64(0);
}

/** Plain decimal text (no exponent, no negative zero), which numeric stores and prints digit for digit. */
export function plainDecimal(wholeDigits: number, fractionDigits: number): fc.Arbitrary<string> {
  return fc
    .record({
      negative: fc.boolean(),
      whole: fc.oneof(fc.constant("0"), fc.stringMatching(new RegExp(`^[1-9][0-9]{0,${wholeDigits - 1}}$`))),
      fraction: fc.stringMatching(new RegExp(`^[0-9]{0,${fractionDigits}}$`)),
    })
    .map(({ negative, whole, fraction }) => {
      const text = `${whole}${fraction === "" ? "" : `.${fraction}`}`;
      return negative && /[1-9]/.test(text) ? `-${text}` : text;
    });
}

/** Values an upload could carry for any column: near-misses of every family and random JSON. */
export const hostileUpload: fc.Arbitrary<unknown> = fc.oneof(
  edgeNumberToken,
  trickyString(16),
  fc.constantFrom(
    "0",
    "1",
    "-0",
    "1.0",
    "1e-400",
    "3.4028235677973366e+38",
    "1e-46",
    "",
    "AA==",
    "AAA",
    "2026-02-29",
    "2024-02-29T24:00:00Z",
    "0000-01-01",
    "23:59:60",
    "[1,2",
    '{"a":1}',
    '"\\u0000"',
    '"\\ud800"',
    "1e131072",
    "  x",
    "abcd    ",
    "abcdefghi",
  ),
  canonicalUuid,
  hostileValue.map(render),
  // JSON documents nested far deeper than PostgreSQL's parser recurses, for json and jsonb.
  deepNesting.map(render),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 2 }),
);
