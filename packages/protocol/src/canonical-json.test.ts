import { describe, expect, it } from "vitest";
import {
  CanonicalJsonError,
  canonicalJson,
  findLoneSurrogate,
  portableSha256Hex,
  sha256Hex,
  utf8ByteLength,
} from "./canonical-json.js";

describe("canonicalJson", () => {
  it("writes no whitespace and keeps array order", () => {
    expect(canonicalJson({ b: [3, 1, 2], a: { d: null, c: true } })).toBe(
      '{"a":{"c":true,"d":null},"b":[3,1,2]}',
    );
  });

  it("sorts keys by UTF-16 code units, so an astral key sorts before U+FFFF", () => {
    // Code-point order would put U+FFFF first; UTF-16 order compares the lead surrogate 0xD83D.
    const value = { "\uffff": 1, "\u{1f600}": 2, a: 3, B: 4, "": 5 };
    expect(canonicalJson(value)).toBe('{"":5,"B":4,"a":3,"\u{1f600}":2,"\uffff":1}');
  });

  it("escapes like JSON.stringify and leaves U+2028, DEL, slash, angle brackets and astral raw", () => {
    const text = 'q"b\\ \b\f\n\r\t \u0000\u001f / <>& \u2028\u2029 \u007f é 😀';
    expect(canonicalJson(text)).toBe(
      '"q\\"b\\\\ \\b\\f\\n\\r\\t \\u0000\\u001f / <>& \u2028\u2029 \u007f é 😀"',
    );
  });

  it("rejects lone surrogates in values and keys", () => {
    expect(() => canonicalJson("a\ud800")).toThrow(CanonicalJsonError);
    expect(() => canonicalJson("\udc00b")).toThrow(/lone surrogate U\+DC00/);
    expect(() => canonicalJson("\udc00\ud800")).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ "k\ud83d": 1 })).toThrow(CanonicalJsonError);
    expect(findLoneSurrogate("ok \u{1f600}")).toBe(-1);
  });

  it("renders numbers as ECMAScript does, with -0 as 0", () => {
    expect(canonicalJson([-0, 1, 1.5, 1e21, 1e-7, 0.000001, 123456789012345680000, 5e-324])).toBe(
      "[0,1,1.5,1e+21,1e-7,0.000001,123456789012345680000,5e-324]",
    );
  });

  it("refuses values that are not JSON data", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/not finite/);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ a: undefined })).toThrow(/\$\.a: a undefined is not JSON data/);
    expect(() => canonicalJson(1n)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(new Date(0))).toThrow(/plain objects/);
  });
});

describe("sha256Hex and utf8ByteLength", () => {
  it("hashes the UTF-8 bytes of a string the same as the bytes themselves", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("é😀")).toBe(sha256Hex(new TextEncoder().encode("é😀")));
  });

  it("uses node:crypto in Node and agrees with the portable implementation byte for byte", () => {
    expect(sha256Hex).not.toBe(portableSha256Hex);
    const texts = ["", "abc", "é😀\u2028\u0000", "\ud800 lone \udc00", "x".repeat(1_000_003)];
    for (let seed = 1; seed <= 200; seed++) {
      texts.push(
        String.fromCharCode(
          ...Array.from({ length: seed * 7 }, (_, i) => (seed * 7919 + i * 104729) % 65536),
        ),
      );
    }
    for (const text of texts) {
      expect(sha256Hex(text)).toBe(portableSha256Hex(text));
      const bytes = new TextEncoder().encode(text);
      expect(sha256Hex(bytes)).toBe(portableSha256Hex(bytes));
    }
    expect(portableSha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("counts 1, 2, 3 and 4 byte sequences and a range", () => {
    expect(utf8ByteLength("a")).toBe(1);
    expect(utf8ByteLength("é")).toBe(2);
    expect(utf8ByteLength("\u2028")).toBe(3);
    expect(utf8ByteLength("😀")).toBe(4);
    expect(utf8ByteLength("x😀y", 1, 3)).toBe(4);
    const text = "mixed é \u2028 😀 \u007f";
    expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).length);
  });
});

describe("canonicalJson fast path", () => {
  it("sorts array-index-like keys as strings, not in JavaScript's numeric enumeration order", () => {
    expect(canonicalJson({ b: 1, "10": 2, "9": 3, a: 4 })).toBe('{"10":2,"9":3,"a":4,"b":1}');
  });

  it("writes in each object only its own members, even when another object has more", () => {
    expect(canonicalJson({ y: {}, x: { toString: "a", constructor: "b", z: [{ q: 1 }, {}] } })).toBe(
      '{"x":{"constructor":"b","toString":"a","z":[{"q":1},{}]},"y":{}}',
    );
  });

  it("keeps a __proto__ member as a member", () => {
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":2}}'))).toBe('{"__proto__":{"x":2},"b":1}');
  });

  it("refuses a plain object whose toJSON would change what is written", () => {
    expect(() => canonicalJson({ a: 1, toJSON: () => "x" })).toThrow(CanonicalJsonError);
  });

  it("refuses undefined in arrays and as the whole value instead of writing null or nothing", () => {
    expect(() => canonicalJson([1, undefined])).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(undefined)).toThrow(CanonicalJsonError);
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    expect(() => canonicalJson([1, , 2])).toThrow(/\$\[1\]: a undefined/);
  });
});
