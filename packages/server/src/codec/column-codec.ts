/**
 * Value conversion between one PostgreSQL column and the wire (protocol-latest §2.2–§2.4): the SQL
 * a capture trigger stores the column with, the wire rendering of that stored value, and the
 * validation plus parameter binding of an uploaded value.
 */
import {
  OversyncError,
  type WireValue,
  WireValueError,
  checkDecimalText,
  decodeBase64Strict,
  findLoneSurrogate,
  isCanonicalUuid,
  jsonTypeName,
  parseBooleanBridge,
  parseCanonicalFloat4,
  parseCanonicalFloat64,
  parseCanonicalInteger,
} from "@oversync/protocol";
import { type NumericTypmod, decimalOverflowReason } from "./column-decimal.js";
import { checkJsonText } from "./column-json.js";
import { type TemporalType, temporalParam } from "./column-temporal.js";

/** What bootstrap knows about a column from the catalog. */
export interface ColumnInfo {
  readonly name: string;
  /** The type's `pg_type.typname` (`int8`, `numeric`, `varchar`, `timestamptz`, …); SQL spellings such as `bigint` also work. */
  readonly dataType: string;
  /** `pg_attribute.atttypmod`; −1 or absent when the type has no modifier. */
  readonly typmod?: number | null;
  /** information_schema `numeric_precision`/`numeric_scale`, used for numeric when no typmod is given. */
  readonly numericPrecision?: number | null;
  readonly numericScale?: number | null;
  /** information_schema `character_maximum_length`, used for varchar/bpchar when no typmod is given. */
  readonly characterMaximumLength?: number | null;
  readonly notNull: boolean;
  /** True when the column has a default, so an INSERT may leave it out. */
  readonly hasDefault?: boolean;
}

/** How a column's values are validated and rendered. */
export type ColumnFamily =
  | "integer"
  | "decimal"
  | "float"
  | "boolean"
  | "bytea"
  | "uuid"
  | "text"
  | "temporal"
  | "json";

/** An uploaded value ready to bind: write it as `$n::<cast>` (the cast may be a chain such as `float8::float4`). */
export interface BoundValue {
  readonly param: string | null;
  readonly cast: string;
}

/** Conversions for one column. */
export interface ColumnCodec {
  readonly name: string;
  /** The canonical typname, e.g. `int8` for `bigint`. */
  readonly dataType: string;
  /** The type with its modifier, as in messages: `numeric(30,10)`, `varchar(20)`, `int8`. */
  readonly sqlType: string;
  readonly family: ColumnFamily;
  readonly notNull: boolean;
  /** True when an INSERT may leave the column out: it is nullable or has a default. */
  readonly optionalOnInsert: boolean;
  /**
   * The SQL expression, over the column reference `ref` (e.g. `NEW."rating"`), whose value a
   * capture trigger stores in a jsonb object; its JSON form is what `toWire` takes. It never
   * depends on session settings (TimeZone, DateStyle, extra_float_digits).
   */
  captureSql(ref: string): string;
  /** Renders a value stored by `captureSql` (after JSON parsing) as the wire value. */
  toWire(stored: unknown): WireValue;
  /**
   * Validates an uploaded wire value (protocol-latest §2.3) and returns its parameter text and
   * cast. Throws OversyncError `push_chunk_invalid` whose message starts with `fieldPath`.
   */
  fromWire(value: unknown, fieldPath: string): BoundValue;
}

/** Thrown by describeColumn for a column whose type the wire cannot carry exactly. */
export class UnsupportedColumnTypeError extends Error {
  override readonly name = "UnsupportedColumnTypeError";
  readonly code = "unsupported_column_type";
  readonly column: string;
  readonly dataType: string;

  constructor(column: string, dataType: string, message: string) {
    super(message);
    this.column = column;
    this.dataType = dataType;
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  int2: "int2",
  smallint: "int2",
  int4: "int4",
  int: "int4",
  integer: "int4",
  int8: "int8",
  bigint: "int8",
  numeric: "numeric",
  decimal: "numeric",
  float4: "float4",
  real: "float4",
  float8: "float8",
  "double precision": "float8",
  bool: "bool",
  boolean: "bool",
  bytea: "bytea",
  uuid: "uuid",
  text: "text",
  varchar: "varchar",
  "character varying": "varchar",
  bpchar: "bpchar",
  character: "bpchar",
  timestamptz: "timestamptz",
  "timestamp with time zone": "timestamptz",
  timestamp: "timestamp",
  "timestamp without time zone": "timestamp",
  date: "date",
  time: "time",
  "time without time zone": "time",
  json: "json",
  jsonb: "jsonb",
};

const SUPPORTED = [...new Set(Object.values(TYPE_NAMES))].join(", ");

/** The per-type parts of a codec; nullability and error wrapping are shared. */
interface TypeRules {
  readonly family: ColumnFamily;
  readonly sqlType: string;
  readonly cast: string;
  capture(ref: string): string;
  render(stored: unknown): WireValue;
  /** Returns the parameter text or throws WireValueError. */
  parse(value: unknown): string;
}

/** Builds the codec for a column, or throws UnsupportedColumnTypeError naming the column and type. */
export function describeColumn(info: ColumnInfo): ColumnCodec {
  const given = info.dataType.trim().toLowerCase();
  const dataType = TYPE_NAMES[given];
  if (dataType === undefined) {
    const what = given.startsWith("_") || given.endsWith("[]") ? "an array type" : "a type";
    throw new UnsupportedColumnTypeError(
      info.name,
      info.dataType,
      `column ${JSON.stringify(info.name)} has ${what} (${info.dataType}) that oversync cannot sync; use one of ${SUPPORTED}`,
    );
  }
  const rules = typeRules(info, dataType);
  const column = `column ${JSON.stringify(info.name)}`;
  return {
    name: info.name,
    dataType,
    sqlType: rules.sqlType,
    family: rules.family,
    notNull: info.notNull,
    optionalOnInsert: !info.notNull || info.hasDefault === true,
    captureSql: rules.capture,
    toWire(stored) {
      if (stored === null || stored === undefined) return null;
      return rules.render(stored);
    },
    fromWire(value, fieldPath) {
      if (value === undefined) throw invalid(fieldPath, `is missing; ${column} needs a value or null`);
      if (value === null) {
        if (info.notNull) throw invalid(fieldPath, `is null, but ${column} is NOT NULL`);
        return { param: null, cast: rules.cast };
      }
      try {
        return { param: rules.parse(value), cast: rules.cast };
      } catch (error) {
        if (error instanceof WireValueError) throw invalid(fieldPath, error.message);
        throw error;
      }
    },
  };
}

function invalid(fieldPath: string, reason: string): OversyncError {
  return new OversyncError("push_chunk_invalid", `${fieldPath}: ${reason}`);
}

function typeRules(info: ColumnInfo, type: string): TypeRules {
  switch (type) {
    case "int2":
    case "int4":
    case "int8":
      return {
        ...asText(type, "integer"),
        parse: (value) => parseCanonicalInteger(value, type).toString(),
      };
    case "numeric":
      return numericRules(numericTypmod(info));
    case "float4":
    case "float8":
      return {
        family: "float",
        sqlType: type,
        // float8 → float4 rounds exactly as Math.fround, so the float4 range check matches PostgreSQL.
        cast: type === "float4" ? "float8::float4" : "float8",
        // The binary form is exact whatever extra_float_digits the writing session uses.
        capture: (ref) => `encode(float8send((${ref})::float8), 'hex')`,
        render: renderFloatHex,
        parse: (value) => {
          if (type === "float4") parseCanonicalFloat4(value);
          else parseCanonicalFloat64(value);
          return value as string;
        },
      };
    case "bool":
      return {
        family: "boolean",
        sqlType: "bool",
        cast: "boolean",
        capture: (ref) => `(${ref})::boolean`,
        render: (stored) => expect(stored, "boolean"),
        parse: (value) => (parseBooleanBridge(value) ? "true" : "false"),
      };
    case "bytea":
      return {
        family: "bytea",
        sqlType: "bytea",
        cast: "bytea",
        // PostgreSQL's base64 is standard and padded but wraps lines at 76 characters.
        capture: (ref) => `translate(encode(${ref}, 'base64'), chr(10), '')`,
        render: (stored) => expect(stored, "string"),
        parse: (value) => `\\x${bytesToHex(decodeBase64Strict(value))}`,
      };
    case "uuid":
      return {
        ...asText("uuid", "uuid"),
        parse: (value) => {
          if (!isCanonicalUuid(value)) {
            throw new WireValueError(
              `uuid ${describe(value)} is not a canonical lowercase dashed UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`,
            );
          }
          return value;
        },
      };
    case "text":
      return { ...asText("text", "text"), parse: parseText };
    case "varchar":
    case "bpchar":
      return characterRules(type, characterLength(info));
    case "timestamptz":
      return {
        family: "temporal",
        sqlType: type,
        cast: type,
        // UTC wall time in to_jsonb's ISO form; render() adds the "+00:00" offset.
        capture: (ref) => `to_jsonb((${ref}) AT TIME ZONE 'UTC') #>> '{}'`,
        render: renderUtcTimestamp,
        parse: (value) => temporalParam(type, requireString(value, type)),
      };
    case "timestamp":
    case "date":
    case "time":
      return {
        family: "temporal",
        sqlType: type,
        cast: type,
        // to_jsonb writes ISO text whatever the session DateStyle.
        capture: (ref) => `to_jsonb(${ref}) #>> '{}'`,
        render: (stored) => expect(stored, "string"),
        parse: (value) => temporalParam(type as TemporalType, requireString(value, type)),
      };
    case "json":
    case "jsonb":
      return {
        ...asText(type, "json"),
        parse: (value) => {
          const text = parseText(value);
          checkJsonText(text, type);
          return text;
        },
      };
    default:
      throw new Error(`unreachable column type ${type}`);
  }
}

/** Rules for types whose PostgreSQL text output is already the wire value. */
function asText(type: string, family: ColumnFamily): Omit<TypeRules, "parse"> {
  return {
    family,
    sqlType: type,
    cast: type,
    capture: (ref) => `(${ref})::text`,
    render: (stored) => expect(stored, "string"),
  };
}

function numericRules(typmod: NumericTypmod | undefined): TypeRules {
  return {
    ...asText("numeric", "decimal"),
    sqlType: typmod === undefined ? "numeric" : `numeric(${typmod.precision},${typmod.scale})`,
    parse: (value) => {
      const text = checkDecimalText(value);
      const overflow = decimalOverflowReason(text, typmod);
      if (overflow !== undefined) throw new WireValueError(overflow);
      return text;
    },
  };
}

function characterRules(type: "varchar" | "bpchar", length: number | undefined): TypeRules {
  return {
    ...asText(type, "text"),
    sqlType: length === undefined ? type : `${type}(${length})`,
    cast: "text",
    parse: (value) => {
      const text = parseText(value);
      // Like PostgreSQL, excess characters are allowed only when they are trailing spaces.
      if (length !== undefined) {
        // A loop, not / +$/: that regex backtracks quadratically on a long run of spaces followed
        // by another character, which froze the event loop for minutes on one uploaded value.
        let end = text.length;
        while (end > 0 && text.charCodeAt(end - 1) === 0x20) end--;
        const significant = [...text.slice(0, end)].length;
        if (significant > length) {
          throw new WireValueError(`text of ${significant} characters is too long for ${type}(${length})`);
        }
      }
      return text;
    },
  };
}

/** A numeric column's precision and scale, from atttypmod or information_schema. */
function numericTypmod(info: ColumnInfo): NumericTypmod | undefined {
  if (info.typmod !== undefined && info.typmod !== null && info.typmod >= 4) {
    const packed = info.typmod - 4;
    // The scale is an 11-bit two's-complement field (PostgreSQL 15 allows negative scales).
    return { precision: (packed >> 16) & 0xffff, scale: ((packed & 0x7ff) ^ 0x400) - 0x400 };
  }
  if (info.numericPrecision !== undefined && info.numericPrecision !== null) {
    return { precision: info.numericPrecision, scale: info.numericScale ?? 0 };
  }
  return undefined;
}

function characterLength(info: ColumnInfo): number | undefined {
  if (info.typmod !== undefined && info.typmod !== null && info.typmod >= 4) return info.typmod - 4;
  return info.characterMaximumLength ?? undefined;
}

function parseText(value: unknown): string {
  if (typeof value !== "string") {
    throw new WireValueError(`text value must be a JSON string, got a ${jsonTypeName(value)}`);
  }
  // PostgreSQL text cannot hold NUL, and a lone surrogate would be silently replaced on encoding.
  if (value.includes("\u0000")) {
    throw new WireValueError("text value contains U+0000, which PostgreSQL text cannot store");
  }
  if (findLoneSurrogate(value) >= 0) {
    throw new WireValueError("text value contains a lone UTF-16 surrogate; send well-formed Unicode");
  }
  return value;
}

function requireString(value: unknown, type: string): string {
  if (typeof value !== "string") {
    throw new WireValueError(`${type} value must be a JSON string, got a ${jsonTypeName(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : `a ${jsonTypeName(value)}`;
}

/** Checks a stored value's JSON type; a mismatch means it was not written by captureSql. */
function expect<T extends "string" | "boolean">(
  stored: unknown,
  type: T,
): T extends "string" ? string : boolean {
  if (typeof stored !== type) {
    throw new TypeError(
      `captured value ${JSON.stringify(stored)} is not a ${type}; store columns with captureSql`,
    );
  }
  return stored as T extends "string" ? string : boolean;
}

/** float8send hex → ECMAScript text; −0 is "0". NaN and ±Infinity (server-side writes only) keep JS spellings. */
function renderFloatHex(stored: unknown): string {
  const hex = expect(stored, "string");
  if (!/^[0-9a-f]{16}$/.test(hex)) {
    throw new TypeError(
      `captured float ${JSON.stringify(hex)} is not float8send hex; store columns with captureSql`,
    );
  }
  // Two 32-bit halves: a snapshot renders one float per row, and per-byte parsing showed up there.
  FLOAT_BITS.setUint32(0, Number.parseInt(hex.slice(0, 8), 16));
  FLOAT_BITS.setUint32(4, Number.parseInt(hex.slice(8), 16));
  const value = FLOAT_BITS.getFloat64(0);
  return Object.is(value, -0) ? "0" : String(value);
}

const FLOAT_BITS = new DataView(new ArrayBuffer(8));

/** Adds the UTC offset to to_jsonb's wall-clock text, placing it before a BC suffix as to_jsonb does. */
function renderUtcTimestamp(stored: unknown): string {
  const text = expect(stored, "string");
  if (text === "infinity" || text === "-infinity") return text;
  return text.endsWith(" BC") ? `${text.slice(0, -3)}+00:00 BC` : `${text}+00:00`;
}

const HEX_DIGITS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** Lowercase hex of `bytes`, as PostgreSQL's bytea hex input takes it. */
function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += HEX_DIGITS[byte];
  return hex;
}
