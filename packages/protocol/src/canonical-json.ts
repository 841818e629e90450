import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/** Thrown when a value cannot be written as canonical JSON (protocol-latest §3.1). */
export class CanonicalJsonError extends Error {
  readonly code = "canonical_json_invalid";
  override readonly name = "CanonicalJsonError";
}

/**
 * JCS-style canonical JSON (protocol-latest §3.1): no whitespace, object keys sorted by UTF-16 code
 * units, strings escaped as JSON.stringify does, ECMAScript number rendering with -0 written as 0.
 * Non-finite numbers, lone surrogates, and anything that is not JSON data throw CanonicalJsonError.
 */
export function canonicalJson(value: unknown): string {
  try {
    return fastWrite(value);
  } catch (error) {
    if (error !== NOT_CANONICAL) throw error;
  }
  // Array-index-like keys, or not canonical JSON data at all: the careful writer handles the first
  // and finds the path and the reason for the second.
  const out: string[] = [];
  writeValue(value, out, "$");
  return out.join("");
}

/** Thrown inside fastWrite for anything it will not write; never escapes canonicalJson. */
const NOT_CANONICAL = Symbol("not canonical");

/**
 * The hot path (every hash and stored payload goes through it). One walk checks the value and
 * collects every member name; native JSON.stringify then writes it with those names, sorted, as its
 * property list, which makes it emit every object's members in that order (ECMA-262
 * SerializeJSONObject), array-index-like names included. "__proto__" is left to the careful
 * writer: as a list entry it would read the inherited prototype of objects that lack the member.
 */
function fastWrite(value: unknown): string {
  const names = new Set<string>();
  check(value, names);
  if (names.has("__proto__")) throw NOT_CANONICAL;
  return JSON.stringify(value, [...names].sort());
}

function check(value: unknown, names: Set<string>): void {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) throw NOT_CANONICAL;
      return;
    case "number":
      if (!Number.isFinite(value)) throw NOT_CANONICAL;
      return;
    case "boolean":
      return;
    case "object":
      if (value === null) return;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) check(value[index], names);
        return;
      }
      if (!isPlainObject(value)) throw NOT_CANONICAL;
      for (const name in value) {
        if (!name.isWellFormed()) throw NOT_CANONICAL;
        names.add(name);
        check((value as Record<string, unknown>)[name], names);
      }
      return;
    default:
      throw NOT_CANONICAL;
  }
}

function writeValue(value: unknown, out: string[], path: string): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      if (!Number.isFinite(value)) {
        throw new CanonicalJsonError(
          `${path}: number ${value} is not finite; canonical JSON has no NaN/Infinity`,
        );
      }
      // String(-0) is "0" already; written out for the reader's benefit.
      out.push(Object.is(value, -0) ? "0" : String(value));
      return;
    case "string":
      out.push(quoteString(value, path));
      return;
    case "object":
      if (Array.isArray(value)) {
        out.push("[");
        // A for loop, not forEach, so a hole in a sparse array is refused like undefined.
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out.push(",");
          writeValue(value[index], out, `${path}[${index}]`);
        }
        out.push("]");
        return;
      }
      if (isPlainObject(value)) {
        // Default sort compares UTF-16 code units, which is what Kotlin and Dart compareTo do.
        const keys = Object.keys(value).sort();
        out.push("{");
        keys.forEach((key, index) => {
          if (index > 0) out.push(",");
          out.push(quoteString(key, `${path} key`), ":");
          writeValue((value as Record<string, unknown>)[key], out, `${path}.${key}`);
        });
        out.push("}");
        return;
      }
      throw new CanonicalJsonError(`${path}: only plain objects and arrays can be canonicalized`);
    default:
      throw new CanonicalJsonError(`${path}: a ${typeof value} is not JSON data`);
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function quoteString(text: string, path: string): string {
  const lone = findLoneSurrogate(text);
  if (lone >= 0) {
    throw new CanonicalJsonError(
      `${path}: string has a lone surrogate U+${text.charCodeAt(lone).toString(16).toUpperCase()} at index ${lone}; canonical JSON requires well-formed UTF-16`,
    );
  }
  // For well-formed strings JSON.stringify escapes exactly ", \, \b \f \n \r \t and other C0
  // controls as lower-case \u00xx, and leaves everything else (/, <, U+2028, DEL, astral) raw.
  return JSON.stringify(text);
}

/** Index of the first unpaired surrogate code unit in `text`, or -1 when the string is well formed. */
export function findLoneSurrogate(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return i;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return i;
  }
  return -1;
}

/**
 * Lowercase hex SHA-256 of a string's UTF-8 bytes, or of raw bytes: native where the runtime has
 * node:crypto (Node, Bun, Deno), the portable implementation in browsers and React Native.
 */
export const sha256Hex: (input: string | Uint8Array) => string = nativeSha256Hex() ?? portableSha256Hex;

/** The portable SHA-256 (pure JavaScript, synchronous); sha256Hex where no native one is found. */
export function portableSha256Hex(input: string | Uint8Array): string {
  return bytesToHex(sha256(typeof input === "string" ? utf8ToBytes(input) : input));
}

interface NodeCryptoHash {
  update(data: string | Uint8Array): NodeCryptoHash;
  digest(encoding: "hex"): string;
}

/**
 * node:crypto's SHA-256, reached through process.getBuiltinModule (feature detection, not an
 * import), so bundles for browsers and React Native stay free of Node built-ins. A 10,000-row push
 * hashes its 2.4 MB of canonical JSON twice on each side: 32–56 ms a time portably, 2–10 ms natively.
 */
function nativeSha256Hex(): ((input: string | Uint8Array) => string) | undefined {
  const runtime = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = runtime?.getBuiltinModule?.("node:crypto") as
    | { createHash?: (algorithm: string) => NodeCryptoHash }
    | undefined;
  const createHash = crypto?.createHash;
  if (typeof createHash !== "function") return undefined;
  // A string is hashed as its UTF-8 bytes, as utf8ToBytes encodes it.
  return (input) => createHash("sha256").update(input).digest("hex");
}

/**
 * UTF-8 byte length of a string, or of text[start, end). A lone surrogate counts 3 bytes, as the
 * replacement character it would be encoded as.
 */
export function utf8ByteLength(text: string, start = 0, end: number = text.length): number {
  let length = 0;
  for (let i = start; i < end; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < end) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 4;
        i++;
      } else length += 3;
    } else length += 3;
  }
  return length;
}
