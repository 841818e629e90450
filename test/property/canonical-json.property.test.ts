/**
 * Canonical JSON (protocol-latest §3.1) against a plain reference writer, plus the byte measures
 * and hashes built on it: any JSON data writes exactly as the reference does whatever its member
 * order, parses back to itself, and anything that is not canonical data (lone surrogates,
 * non-finite numbers, undefined, class instances) fails only with CanonicalJsonError.
 */
import {
  CanonicalJsonError,
  canonicalJson,
  bundleHashJson,
  bundleHashJsonOfTexts,
  canonicalRequestHash,
  canonicalRequestJson,
  canonicalRequestJsonOfTexts,
  findLoneSurrogate,
  sha256Hex,
  utf8ByteLength,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { trickyString, wellFormedString } from "./hostile-json.js";
import { runs } from "./property-runs.js";
import { pushRow } from "./valid-wire.js";

/** The §3.1 rules written the obvious way: members sorted by UTF-16 code units, no whitespace. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const names = Object.keys(value).sort();
    return `{${names.map((name) => `${JSON.stringify(name)}:${reference((value as Record<string, unknown>)[name])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Canonical data with well-formed strings, including member names that look like array indexes
 * and "__proto__" (as JSON.parse creates it), which take the writer's careful path.
 */
const canonicalData: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    wellFormedString(12),
    fc.array(tie("value"), { maxLength: 4 }),
    fc
      .array(
        fc.tuple(
          fc.oneof(
            wellFormedString(6),
            fc.constantFrom("0", "1", "10", "2", "__proto__", "constructor", "-1"),
          ),
          tie("value"),
        ),
        { maxLength: 4 },
      )
      .map((members) => {
        const object: Record<string, unknown> = {};
        for (const [name, member] of members) {
          Object.defineProperty(object, name, {
            value: member,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return object;
      }),
  ),
})).value;

/** The same data with every object's members inserted in reverse order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(value).reverse()) {
      Object.defineProperty(out, name, {
        value: reversed((value as Record<string, unknown>)[name]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

describe("canonicalJson", () => {
  it("writes any JSON data exactly as the reference writer does", () => {
    fc.assert(
      fc.property(canonicalData, (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      runs(500),
    );
  });

  it("does not depend on member insertion order and parses back to the same data", () => {
    fc.assert(
      fc.property(canonicalData, (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reversed(value))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      runs(300),
    );
  });

  it("refuses a lone surrogate in any string or member name, and nothing else of a string", () => {
    fc.assert(
      fc.property(trickyString(12), fc.boolean(), fc.nat({ max: 3 }), (text, asName, depth) => {
        let value: unknown = asName ? { [text]: 1 } : text;
        for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { wrap: value };
        const lone = findLoneSurrogate(text) >= 0;
        let error: unknown;
        try {
          canonicalJson(value);
        } catch (caught) {
          error = caught;
        }
        if (lone) expect(error).toBeInstanceOf(CanonicalJsonError);
        else expect(error).toBeUndefined();
      }),
      runs(400),
    );
  });

  it("refuses non-finite numbers and values that are not JSON data with CanonicalJsonError", () => {
    const notData = fc.oneof(
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, undefined),
      fc.bigInt().map((value) => value as unknown),
      fc.constant(new Date(0)),
      fc.constant(new Map()),
      fc.constant(() => 1),
      fc.constant(Symbol("s")),
      fc.constant(new Uint8Array(2)),
    );
    fc.assert(
      fc.property(notData, fc.nat({ max: 3 }), (bad, depth) => {
        let value: unknown = bad;
        for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { wrap: value };
        expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
      }),
      runs(200),
    );
  });
});

describe("byte measures and hashes", () => {
  // Rows with a lone surrogate have no hash at all (covered above).
  const wellFormedRow = pushRow.filter((row) => {
    try {
      canonicalRequestHash([row]);
      return true;
    } catch {
      return false;
    }
  });

  it("utf8ByteLength equals the UTF-8 encoder's length, lone surrogates counting as U+FFFD", () => {
    fc.assert(
      fc.property(trickyString(40), fc.nat(), fc.nat(), (text, a, b) => {
        expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).length);
        const start = a % (text.length + 1);
        const end = start + (b % (text.length - start + 1));
        // A range that splits a pair measures each half as a lone surrogate, as the encoder does.
        expect(utf8ByteLength(text, start, end)).toBe(
          new TextEncoder().encode(text.slice(start, end)).length,
        );
      }),
      runs(400),
    );
  });

  it("sha256Hex of a string hashes its UTF-8 bytes", () => {
    fc.assert(
      fc.property(wellFormedString(40), (text) => {
        expect(sha256Hex(text)).toBe(sha256Hex(new TextEncoder().encode(text)));
        expect(sha256Hex(text)).toMatch(/^[0-9a-f]{64}$/);
      }),
      runs(200),
    );
  });

  it("request and bundle hash inputs, assembled around canonical texts, are the reference canonical JSON of the hashed rows", () => {
    fc.assert(
      fc.property(
        fc.array(wellFormedRow, { maxLength: 5 }),
        fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
        (rows, version) => {
          const payloadOf = (row: (typeof rows)[number]) =>
            row.op === "DELETE" ? null : (row.payload ?? null);
          const texts = rows.map((row) => ({
            schema: row.schema,
            table: row.table,
            op: row.op,
            keyJson: canonicalJson(row.key),
            payloadJson:
              row.payload === undefined || row.payload === null ? null : canonicalJson(row.payload),
          }));
          const request = reference(
            rows.map((row, index) => ({
              row_ordinal: String(index),
              schema: row.schema,
              table: row.table,
              key: row.key,
              op: row.op,
              base_row_version: String(row.base_row_version),
              payload: payloadOf(row),
            })),
          );
          expect(canonicalRequestJson(rows)).toBe(request);
          expect(
            canonicalRequestJsonOfTexts(
              texts.map((row, i) => ({ ...row, base_row_version: rows[i]!.base_row_version })),
            ),
          ).toBe(request);
          const bundle = reference(
            rows.map((row, index) => ({
              row_ordinal: String(index),
              row_version: String(version),
              schema: row.schema,
              table: row.table,
              key: row.key,
              op: row.op,
              payload: payloadOf(row),
            })),
          );
          const bundleRows = rows.map((row) => ({ ...row, row_version: version }));
          expect(bundleHashJson(bundleRows)).toBe(bundle);
          expect(bundleHashJsonOfTexts(texts.map((row) => ({ ...row, row_version: version })))).toBe(bundle);
        },
      ),
      runs(200),
    );
  });

  it("canonical_request_hash ignores payload member order and DELETE payload spelling", () => {
    fc.assert(
      fc.property(fc.array(wellFormedRow, { minLength: 1, maxLength: 4 }), (rows) => {
        const rewritten = rows.map((row) =>
          row.op === "DELETE"
            ? { ...row, payload: row.payload === undefined ? null : undefined }
            : { ...row, payload: reversed(row.payload) as Record<string, string | null> },
        );
        expect(canonicalRequestHash(rewritten)).toBe(canonicalRequestHash(rows));
      }),
      runs(200),
    );
  });
});
