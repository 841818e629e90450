/**
 * Wire value primitives of the uniform numeric-string contract (protocol-latest §2): canonical
 * integer, binary64, decimal, boolean-bridge, base64 and UUID text. Pure functions, no I/O.
 */

/** Thrown when a wire value breaks the value contract; `message` says which rule and what to send. */
export class WireValueError extends Error {
  readonly code = "invalid_wire_value";
  override readonly name = "WireValueError";
}

/** PostgreSQL integer widths a wire integer may target. */
export type IntegerWidth = "int2" | "int4" | "int8";

/** Inclusive value range of each integer width. */
export const INTEGER_RANGES: Readonly<Record<IntegerWidth, { readonly min: bigint; readonly max: bigint }>> =
  {
    int2: { min: -32768n, max: 32767n },
    int4: { min: -2147483648n, max: 2147483647n },
    int8: { min: -9223372036854775808n, max: 9223372036854775807n },
  };

const CANONICAL_INTEGER = /^-?(0|[1-9][0-9]*)$/;

/**
 * Parses a canonical signed decimal integer string (`^-?(0|[1-9][0-9]*)$`, not `-0`) within the
 * range of `width`. Anything else (JSON numbers, `+1`, `01`, `1e3`, out of range) throws.
 */
export function parseCanonicalInteger(value: unknown, width: IntegerWidth = "int8"): bigint {
  if (typeof value !== "string") {
    throw new WireValueError(
      `integer must be a JSON string holding a canonical decimal, got a ${jsonTypeName(value)}`,
    );
  }
  if (!CANONICAL_INTEGER.test(value) || value === "-0") {
    throw new WireValueError(
      `integer ${JSON.stringify(value)} is not canonical: write -?(0|[1-9][0-9]*) with no sign on zero, no leading zeros, fraction or exponent`,
    );
  }
  const parsed = BigInt(value);
  const range = INTEGER_RANGES[width];
  if (parsed < range.min || parsed > range.max) {
    throw new WireValueError(`integer ${value} is outside the ${width} range ${range.min}..${range.max}`);
  }
  return parsed;
}

/** True when `value` is a canonical integer string within `width`. */
export function isCanonicalInteger(value: unknown, width: IntegerWidth = "int8"): boolean {
  try {
    parseCanonicalInteger(value, width);
    return true;
  } catch {
    return false;
  }
}

/** Canonical binary64 text: ECMAScript shortest round-trip form, with -0 written as "0". */
export function renderFloat64(value: number): string {
  if (!Number.isFinite(value)) {
    throw new WireValueError(`float ${value} is not finite; the wire carries finite binary64 values only`);
  }
  return Object.is(value, -0) ? "0" : String(value);
}

/** A float4 value widened to binary64 and rendered canonically ("1.2345678806304932"). */
export function renderFloat4(value: number): string {
  return renderFloat64(Math.fround(value));
}

/**
 * Parses canonical binary64 text: Number(s) must be finite and String(Number(s)) must give s back,
 * which rules out "1.0", "1e0", "-0", "", "NaN" and "Infinity".
 */
export function parseCanonicalFloat64(value: unknown): number {
  if (typeof value !== "string") {
    throw new WireValueError(
      `float must be a JSON string holding canonical binary64 text, got a ${jsonTypeName(value)}`,
    );
  }
  const parsed = Number(value);
  if (value === "" || !Number.isFinite(parsed)) {
    throw new WireValueError(`float ${JSON.stringify(value)} is not a finite number`);
  }
  if (String(parsed) !== value) {
    throw new WireValueError(
      `float ${JSON.stringify(value)} is not canonical: send ${JSON.stringify(renderFloat64(parsed))} (ECMAScript shortest form, -0 as "0")`,
    );
  }
  return parsed;
}

/**
 * Parses canonical binary64 text bound for a float4 column: also rejects finite values that overflow
 * float4 or underflow it to zero, which PostgreSQL would refuse as out of range.
 */
export function parseCanonicalFloat4(value: unknown): number {
  const parsed = parseCanonicalFloat64(value);
  const narrowed = Math.fround(parsed);
  if (!Number.isFinite(narrowed)) {
    throw new WireValueError(`float ${parsed} overflows float4 (largest magnitude 3.4028234663852886e+38)`);
  }
  if (narrowed === 0 && parsed !== 0) {
    throw new WireValueError(
      `float ${parsed} underflows float4 to zero (smallest magnitude 1.401298464324817e-45)`,
    );
  }
  return parsed;
}

const STRICT_DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * Checks exact-decimal text against the strict grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
 * and rejects negative zero in any spelling ("-0", "-0.00e5"). Returns the text unchanged.
 */
export function checkDecimalText(value: unknown): string {
  if (typeof value !== "string") {
    throw new WireValueError(`decimal must be a JSON string, got a ${jsonTypeName(value)}`);
  }
  const match = STRICT_DECIMAL.exec(value);
  if (!match) {
    throw new WireValueError(
      `decimal ${JSON.stringify(value)} does not match -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`,
    );
  }
  const mantissaDigits = `${match[1]}${match[2] ?? ""}`.replace(".", "");
  if (value.startsWith("-") && /^0+$/.test(mantissaDigits)) {
    throw new WireValueError(`decimal ${JSON.stringify(value)} is a negative zero; send zero without a sign`);
  }
  return value;
}

/** Parses the boolean bridge: only "0" (false) and "1" (true) are accepted. */
export function parseBooleanBridge(value: unknown): boolean {
  if (value === "0") return false;
  if (value === "1") return true;
  throw new WireValueError(`boolean must be the string "0" or "1", got ${describe(value)}`);
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_INDEX[BASE64_ALPHABET.charCodeAt(i)] = i;

const BASE64_CODES = Uint8Array.from(BASE64_ALPHABET, (char) => char.charCodeAt(0));
const PAD = 0x3d;
const ASCII = new TextDecoder();

/** Standard base64 with `=` padding; an empty array encodes as "". */
export function encodeBase64(bytes: Uint8Array): string {
  // Writing ASCII codes into a buffer and decoding once is far faster than string concatenation.
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const b2 = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    out[o++] = BASE64_CODES[b0 >> 2]!;
    out[o++] = BASE64_CODES[((b0 & 0x03) << 4) | (b1 >> 4)]!;
    out[o++] = i + 1 < bytes.length ? BASE64_CODES[((b1 & 0x0f) << 2) | (b2 >> 6)]! : PAD;
    out[o++] = i + 2 < bytes.length ? BASE64_CODES[b2 & 0x3f]! : PAD;
  }
  return ASCII.decode(out);
}

/**
 * Decodes standard padded base64 that re-encodes identically (no whitespace, no URL alphabet, no
 * missing padding, no stray bits under the padding). "" decodes to an empty array.
 */
export function decodeBase64Strict(value: unknown): Uint8Array {
  if (typeof value !== "string") {
    throw new WireValueError(`binary value must be a base64 JSON string, got a ${jsonTypeName(value)}`);
  }
  const invalid = () =>
    new WireValueError(
      `binary value ${abbreviate(value)} is not canonical base64: use the standard alphabet with = padding`,
    );
  if (value.length % 4 !== 0) throw invalid();
  const padding = value.endsWith("==") ? 2 : value.endsWith("=") ? 1 : 0;
  const bytes = new Uint8Array((value.length / 4) * 3 - padding);
  const sextet = (index: number): number => {
    const code = value.charCodeAt(index);
    const decoded = code < 128 ? BASE64_INDEX[code]! : -1;
    if (decoded < 0) throw invalid();
    return decoded;
  };
  let byteIndex = 0;
  for (let i = 0; i < value.length; i += 4) {
    const tail = i + 4 === value.length ? padding : 0;
    const s0 = sextet(i);
    const s1 = sextet(i + 1);
    const s2 = tail === 2 ? 0 : sextet(i + 2);
    const s3 = tail >= 1 ? 0 : sextet(i + 3);
    bytes[byteIndex++] = (s0 << 2) | (s1 >> 4);
    if (tail === 2) {
      if ((s1 & 0x0f) !== 0) throw invalid();
      break;
    }
    bytes[byteIndex++] = ((s1 & 0x0f) << 4) | (s2 >> 2);
    if (tail === 1) {
      if ((s2 & 0x03) !== 0) throw invalid();
      break;
    }
    bytes[byteIndex++] = ((s2 & 0x03) << 6) | s3;
  }
  return bytes;
}

/** A canonical lowercase dashed UUID (36 characters, untrimmed, any version). */
export const CANONICAL_UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a canonical lowercase dashed UUID (CANONICAL_UUID_PATTERN). */
export function isCanonicalUuid(value: unknown): value is string {
  return typeof value === "string" && CANONICAL_UUID_PATTERN.test(value);
}

/** Converts a canonical dashed UUID to its 16 bytes; anything else throws. */
export function uuidToBytes(value: unknown): Uint8Array {
  if (!isCanonicalUuid(value)) {
    throw new WireValueError(
      `UUID ${describe(value)} is not canonical: send 36 lowercase characters as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`,
    );
  }
  const hex = value.replaceAll("-", "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Renders 16 bytes as a canonical lowercase dashed UUID. */
export function bytesToUuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) {
    throw new WireValueError(`a UUID needs exactly 16 bytes, got ${bytes.length}`);
  }
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A row key on the wire: exactly one member, the sync-key column, with a string value. */
export type WireKey = Readonly<Record<string, string>>;

/** True when `value` is an object with exactly one member whose value is a string. */
export function isWireKey(value: unknown): value is WireKey {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length === 1 && typeof entries[0]![1] === "string";
}

/** Builds the wire key object `{column: text}`. */
export function wireKey(column: string, text: string): WireKey {
  return { [column]: text };
}

/** The JSON type name of a value, as used in error messages. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "number" ? "JSON number" : typeof value;
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : `a ${jsonTypeName(value)}`;
}

function abbreviate(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
