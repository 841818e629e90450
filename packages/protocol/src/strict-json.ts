/**
 * A strict JSON reader for the bodies the clients parse strictly (capabilities and every snapshot
 * body, protocol-latest §0/§1.10): duplicate object members and nesting deeper than 128 are
 * errors, and the exact source span of every object and array is kept so byte counts can be
 * measured on the text as received.
 */

/** Why a body failed strict parsing. */
export type StrictJsonErrorCode = "json_syntax" | "duplicate_member" | "excessive_nesting";

/** Thrown by parseStrictJson with the offending UTF-16 offset. */
export class StrictJsonError extends Error {
  override readonly name = "StrictJsonError";
  readonly code: StrictJsonErrorCode;
  readonly offset: number;

  constructor(code: StrictJsonErrorCode, message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.code = code;
    this.offset = offset;
  }
}

/** A JSON value as JSON.parse returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [member: string]: JsonValue };

/** Half-open [start, end) range of UTF-16 code units in the source text. */
export interface SourceSpan {
  readonly start: number;
  readonly end: number;
}

/** The parsed value plus what JSON.parse throws away. */
export interface StrictJsonDocument {
  readonly value: JsonValue;
  /** The source span of an object or array of `value`, from `{`/`[` to `}`/`]` inclusive. */
  spanOf(node: object): SourceSpan | undefined;
  /** The raw number token of a number member or element, e.g. "1.0" or "7". */
  numberToken(parent: object, member: string | number): string | undefined;
}

/** Default maximum number of nested objects and arrays. */
export const MAX_JSON_DEPTH = 128;

/** Parses `text` as one JSON value, rejecting duplicate members and nesting beyond `maxDepth`. */
export function parseStrictJson(text: string, options?: { maxDepth?: number }): StrictJsonDocument {
  const reader = new Reader(text, options?.maxDepth ?? MAX_JSON_DEPTH);
  const value = reader.readDocument();
  const { spans, numbers } = reader;
  return {
    value,
    spanOf: (node) => spans.get(node),
    numberToken: (parent, member) => numbers.get(parent)?.get(member),
  };
}

const NUMBER_TOKEN = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Reader {
  readonly spans = new WeakMap<object, SourceSpan>();
  readonly numbers = new WeakMap<object, Map<string | number, string>>();
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  readDocument(): JsonValue {
    const value = this.readValue(0, undefined, 0);
    this.skipWhitespace();
    if (this.index !== this.text.length) this.fail("json_syntax", "unexpected data after the JSON value");
    return value;
  }

  private readValue(depth: number, parent: object | undefined, member: string | number): JsonValue {
    this.skipWhitespace();
    const char = this.text[this.index];
    switch (char) {
      case "{":
        return this.readObject(depth + 1);
      case "[":
        return this.readArray(depth + 1);
      case '"':
        return this.readString();
      case "t":
        return this.readLiteral("true", true);
      case "f":
        return this.readLiteral("false", false);
      case "n":
        return this.readLiteral("null", null);
      default: {
        NUMBER_TOKEN.lastIndex = this.index;
        const match = NUMBER_TOKEN.exec(this.text);
        if (!match)
          this.fail("json_syntax", char === undefined ? "unexpected end of input" : "unexpected character");
        const token = match[0];
        this.index += token.length;
        if (parent !== undefined) {
          let tokens = this.numbers.get(parent);
          if (!tokens) {
            tokens = new Map();
            this.numbers.set(parent, tokens);
          }
          tokens.set(member, token);
        }
        return Number(token);
      }
    }
  }

  private readObject(depth: number): JsonValue {
    this.checkDepth(depth);
    const start = this.index;
    this.index++;
    const object: { [member: string]: JsonValue } = {};
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.index] === "}") {
      this.index++;
    } else {
      for (;;) {
        this.skipWhitespace();
        if (this.text[this.index] !== '"') this.fail("json_syntax", "expected a member name");
        const nameOffset = this.index;
        const name = this.readString();
        if (seen.has(name))
          this.fail("duplicate_member", `duplicate member ${JSON.stringify(name)}`, nameOffset);
        seen.add(name);
        this.skipWhitespace();
        this.expect(":");
        const value = this.readValue(depth, object, name);
        // Assigning "__proto__" would replace the prototype instead of adding a member.
        Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
        this.skipWhitespace();
        if (this.text[this.index] === ",") {
          this.index++;
          continue;
        }
        this.expect("}");
        break;
      }
    }
    this.spans.set(object, { start, end: this.index });
    return object;
  }

  private readArray(depth: number): JsonValue {
    this.checkDepth(depth);
    const start = this.index;
    this.index++;
    const array: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.index] === "]") {
      this.index++;
    } else {
      for (;;) {
        array.push(this.readValue(depth, array, array.length));
        this.skipWhitespace();
        if (this.text[this.index] === ",") {
          this.index++;
          continue;
        }
        this.expect("]");
        break;
      }
    }
    this.spans.set(array, { start, end: this.index });
    return array;
  }

  private readString(): string {
    this.index++;
    let out = "";
    let runStart = this.index;
    for (;;) {
      const code = this.text.charCodeAt(this.index);
      if (Number.isNaN(code)) this.fail("json_syntax", "unterminated string");
      if (code === 0x22) {
        out += this.text.slice(runStart, this.index);
        this.index++;
        return out;
      }
      if (code < 0x20) this.fail("json_syntax", "unescaped control character in string");
      if (code !== 0x5c) {
        this.index++;
        continue;
      }
      out += this.text.slice(runStart, this.index);
      const escaped = this.text[this.index + 1];
      this.index += 2;
      switch (escaped) {
        case '"':
        case "\\":
        case "/":
          out += escaped;
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = this.text.slice(this.index, this.index + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("json_syntax", "bad \\u escape");
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.index += 4;
          break;
        }
        default:
          this.fail("json_syntax", "bad escape", this.index - 1);
      }
      runStart = this.index;
    }
  }

  private readLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.index)) this.fail("json_syntax", "unexpected character");
    this.index += word.length;
    return value;
  }

  private expect(char: string): void {
    if (this.text[this.index] !== char) this.fail("json_syntax", `expected ${JSON.stringify(char)}`);
    this.index++;
  }

  private checkDepth(depth: number): void {
    if (depth > this.maxDepth) {
      this.fail("excessive_nesting", `nesting deeper than ${this.maxDepth} objects and arrays`);
    }
  }

  private skipWhitespace(): void {
    for (;;) {
      const code = this.text.charCodeAt(this.index);
      if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return;
      this.index++;
    }
  }

  private fail(code: StrictJsonErrorCode, message: string, offset = this.index): never {
    throw new StrictJsonError(code, message, offset);
  }
}
