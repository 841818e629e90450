/**
 * parseStrictJson against JSON.parse as the oracle: on any text it agrees with JSON.parse except
 * that it also refuses duplicate members and nesting beyond the limit, it fails only with
 * StrictJsonError, and the spans and number tokens it keeps are the exact source text.
 */
import {
  MAX_JSON_DEPTH,
  type StrictJsonDocument,
  StrictJsonError,
  parseStrictJson,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type JsonText,
  damagedText,
  deepNesting,
  hostileBody,
  mutatedText,
  render,
  trickyString,
} from "./hostile-json.js";
import { runs } from "./property-runs.js";

function strict(text: string): StrictJsonDocument | StrictJsonError {
  try {
    return parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) return error;
    throw error;
  }
}

function loose(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

const documents = fc.jsonValue({ maxDepth: 5 });

/** Text of every kind: valid documents, mutated (duplicates, deep nesting) and damaged ones, random text. */
const anyText = fc.oneof(
  hostileBody(documents),
  mutatedText(documents),
  damagedText(documents),
  trickyString(30),
  fc.json({ maxDepth: 5 }),
);

describe("parseStrictJson", () => {
  it("agrees with JSON.parse, refusing beyond it only duplicates and excessive nesting", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const result = strict(text);
        const oracle = loose(text);
        if (result instanceof StrictJsonError) {
          expect(result.offset).toBeGreaterThanOrEqual(0);
          expect(result.offset).toBeLessThanOrEqual(text.length);
          // Only syntax errors are errors JSON.parse shares; the other two are refused valid JSON.
          if (result.code === "json_syntax") expect(oracle).toBeUndefined();
          else if (oracle === undefined) return;
          else expect(["duplicate_member", "excessive_nesting"]).toContain(result.code);
        } else {
          expect(oracle).toBeDefined();
          // Compared as text: vitest's equality reads an own "constructor" member as the type.
          expect(JSON.stringify(result.value)).toBe(JSON.stringify(oracle!.value));
        }
      }),
      runs(500),
    );
  });

  it("accepts every document without duplicates within the depth limit", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        expect(JSON.stringify(parseStrictJson(text).value)).toBe(text);
      }),
      runs(300),
    );
  });

  it("refuses a repeated member name at any depth, whatever its spelling", () => {
    fc.assert(
      fc.property(documents, trickyString(8), fc.nat(), fc.boolean(), (value, name, depth, escaped) => {
        // The second spelling escapes every code unit, so only decoding shows the names are equal.
        const spelled = escaped
          ? `"${Array.from({ length: name.length }, (_, i) => `\\u${name.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")}"`
          : JSON.stringify(name);
        const inner = `{${JSON.stringify(name)}:${JSON.stringify(value)},${spelled}:null}`;
        const levels = depth % 20;
        const text = `${"[".repeat(levels)}${inner}${"]".repeat(levels)}`;
        const result = strict(text);
        expect(result).toBeInstanceOf(StrictJsonError);
        expect((result as StrictJsonError).code).toBe("duplicate_member");
      }),
      runs(200),
    );
  });

  it("refuses nesting beyond the limit and accepts it up to the limit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 * MAX_JSON_DEPTH }), fc.boolean(), (depth, arrays) => {
        const text = arrays
          ? `${"[".repeat(depth)}${"]".repeat(depth)}`
          : `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`;
        const result = strict(text);
        if (depth <= MAX_JSON_DEPTH) expect(result).not.toBeInstanceOf(StrictJsonError);
        else expect((result as StrictJsonError).code).toBe("excessive_nesting");
      }),
      runs(200),
    );
  });

  it("never overflows the stack on nesting far beyond the limit", () => {
    fc.assert(
      fc.property(deepNesting, (node: JsonText) => {
        const result = strict(render(node));
        // deepNesting goes from 1 to 20 000 levels: shallow ones parse, deep ones are refused.
        if (result instanceof StrictJsonError) expect(result.code).toBe("excessive_nesting");
      }),
      runs(100),
    );
  });

  it("keeps the exact source span of every object and array and the token of every number", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.constantFrom(0, 2), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const document = parseStrictJson(text);
        const visit = (node: unknown): void => {
          if (typeof node !== "object" || node === null) return;
          const span = document.spanOf(node)!;
          expect(JSON.parse(text.slice(span.start, span.end))).toStrictEqual(node);
          for (const [member, child] of Object.entries(node)) {
            const key = Array.isArray(node) ? Number(member) : member;
            if (typeof child === "number") {
              const token = document.numberToken(node, key)!;
              expect(Number(token)).toBe(child);
            }
            visit(child);
          }
        };
        visit(document.value);
      }),
      runs(200),
    );
  });
});
