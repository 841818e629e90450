/**
 * Server-side validation of uploaded wire values against the PostgreSQL column they target
 * (protocol-latest §2.3). Every rule here runs before any mutation.
 */
import { findLoneSurrogate } from "./canonical-json.js";
import {
  type IntegerWidth,
  WireValueError,
  checkDecimalText,
  decodeBase64Strict,
  isCanonicalUuid,
  jsonTypeName,
  parseBooleanBridge,
  parseCanonicalFloat4,
  parseCanonicalFloat64,
  parseCanonicalInteger,
} from "./values.js";

/** The validation family of a PostgreSQL column type. */
export type PostgresValueType =
  | { readonly family: "integer"; readonly width: IntegerWidth }
  | { readonly family: "float"; readonly width: "float4" | "float8" }
  | { readonly family: "decimal" }
  | { readonly family: "boolean" }
  | { readonly family: "bytea" }
  | { readonly family: "uuid" }
  | { readonly family: "text" };

const TYPE_ALIASES: Readonly<Record<string, PostgresValueType>> = {
  int2: { family: "integer", width: "int2" },
  smallint: { family: "integer", width: "int2" },
  int4: { family: "integer", width: "int4" },
  int: { family: "integer", width: "int4" },
  integer: { family: "integer", width: "int4" },
  int8: { family: "integer", width: "int8" },
  bigint: { family: "integer", width: "int8" },
  float4: { family: "float", width: "float4" },
  real: { family: "float", width: "float4" },
  float8: { family: "float", width: "float8" },
  "double precision": { family: "float", width: "float8" },
  numeric: { family: "decimal" },
  decimal: { family: "decimal" },
  bool: { family: "boolean" },
  boolean: { family: "boolean" },
  bytea: { family: "bytea" },
  uuid: { family: "uuid" },
};

/**
 * Maps a PostgreSQL type name (udt_name like `int8` or format_type text like `numeric(10,2)`) to
 * its validation family. Types without a numeric or binary rule (text, varchar, timestamptz, date,
 * json, …) are the text family.
 */
export function postgresValueType(typeName: string): PostgresValueType {
  const base = typeName
    .trim()
    .toLowerCase()
    .replace(/\s*\(.*\)$/, "");
  return TYPE_ALIASES[base] ?? { family: "text" };
}

/** A validated upload, ready to bind as a node-postgres parameter. */
export type PostgresParam = string | boolean | Uint8Array | null;

/**
 * Validates one uploaded payload or key value for a column of `type` and returns the parameter to
 * bind. NULL passes (NOT NULL is the table's rule). Throws WireValueError naming the rule broken.
 */
export function parseUploadedValue(type: PostgresValueType, value: unknown): PostgresParam {
  if (value === null) return null;
  switch (type.family) {
    case "integer":
      return parseCanonicalInteger(value, type.width).toString();
    case "float":
      if (type.width === "float4") parseCanonicalFloat4(value);
      else parseCanonicalFloat64(value);
      return value as string;
    case "decimal":
      return checkDecimalText(value);
    case "boolean":
      return parseBooleanBridge(value);
    case "bytea":
      return decodeBase64Strict(value);
    case "uuid":
      if (!isCanonicalUuid(value)) {
        throw new WireValueError(
          `uuid value ${typeof value === "string" ? JSON.stringify(value) : `of type ${jsonTypeName(value)}`} is not a canonical lowercase dashed UUID`,
        );
      }
      return value;
    case "text":
      return checkText(value);
  }
}

function checkText(value: unknown): string {
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
