import { describe, expect, it } from "vitest";
import { StrictJsonError, parseStrictJson } from "./strict-json.js";

function errorOf(text: string, maxDepth?: number): StrictJsonError {
  try {
    parseStrictJson(text, maxDepth === undefined ? undefined : { maxDepth });
  } catch (error) {
    if (error instanceof StrictJsonError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe("parseStrictJson", () => {
  it("reads the same values JSON.parse reads", () => {
    const text =
      ' { "a" : [1, -2.5e3, true, false, null, "x\\u00e9\\n\\"\\/"], "b": {}, "c": [] , "d": "😀" } ';
    expect(parseStrictJson(text).value).toEqual(JSON.parse(text));
  });

  it("rejects duplicate members at any depth, naming the member", () => {
    expect(errorOf('{"a":1,"a":2}').code).toBe("duplicate_member");
    expect(errorOf('{"rows":[{"k":{"id":"1","id":"2"}}]}').message).toContain('duplicate member "id"');
    // Escaped spellings of the same name are the same member.
    expect(errorOf('{"a":1,"\\u0061":2}').code).toBe("duplicate_member");
  });

  it("allows 128 nested containers and rejects 129", () => {
    expect(() => parseStrictJson(`${"[".repeat(128)}${"]".repeat(128)}`)).not.toThrow();
    expect(errorOf(`${"[".repeat(129)}${"]".repeat(129)}`).code).toBe("excessive_nesting");
    expect(errorOf('{"a":{"b":1}}', 1).code).toBe("excessive_nesting");
  });

  it("records the exact source span of every object and array", () => {
    const text = '{"rows":[ {"a": 1} ,{"b":[2]}]}';
    const document = parseStrictJson(text);
    const rows = (document.value as { rows: object[] }).rows;
    const span = (node: object) => {
      const { start, end } = document.spanOf(node)!;
      return text.slice(start, end);
    };
    expect(span(rows[0]!)).toBe('{"a": 1}');
    expect(span(rows[1]!)).toBe('{"b":[2]}');
    expect(span(rows)).toBe('[ {"a": 1} ,{"b":[2]}]');
    expect(span(document.value as object)).toBe(text);
  });

  it("keeps number tokens so integer spellings can be checked", () => {
    const document = parseStrictJson('{"a":1.0,"b":7,"c":[1e2]}');
    const root = document.value as { c: number[] };
    expect(document.numberToken(root, "a")).toBe("1.0");
    expect(document.numberToken(root, "b")).toBe("7");
    expect(document.numberToken(root.c, 0)).toBe("1e2");
    expect(document.numberToken(root, "missing")).toBeUndefined();
  });

  it("keeps a __proto__ member as data without touching the prototype", () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true}}').value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("rejects what JSON forbids", () => {
    for (const bad of [
      "",
      "{",
      '{"a":1,}',
      "[1,]",
      "{} {}",
      "01",
      "1.",
      "-",
      "'a'",
      "NaN",
      '"tab\there"',
      '"\\x41"',
      '"\\u12"',
      "tru",
      '{"a" 1}',
      "{1:2}",
    ]) {
      expect(errorOf(bad).code, bad).toBe("json_syntax");
    }
  });
});
