/**
 * The client-side value mapping between SQLite values and wire values (protocol-latest §2.1/§2.2,
 * client digest §12.2). INTEGER values are bigint on the SQLite side, never number.
 */
import {
  WireValueError,
  bytesToUuid,
  decodeBase64Strict,
  encodeBase64,
  jsonTypeName,
  parseCanonicalFloat64,
  parseCanonicalInteger,
  renderFloat64,
  uuidToBytes,
} from "./values.js";

/** How the client treats a column, derived from its declared SQLite type. */
export type ColumnKind = "UUID_BLOB" | "BLOB" | "REAL" | "INTEGER" | "TEXT";

/**
 * Classifies a declared SQLite type in KMP's order: blob (UUID_BLOB when the column is the primary
 * key or a foreign-key column), then real/float/double, then int, else TEXT.
 */
export function columnKindOf(declaredType: string, isKeyOrForeignKey: boolean): ColumnKind {
  const type = declaredType.toLowerCase();
  if (type.includes("blob")) return isKeyOrForeignKey ? "UUID_BLOB" : "BLOB";
  if (type.includes("real") || type.includes("float") || type.includes("double")) return "REAL";
  if (type.includes("int")) return "INTEGER";
  return "TEXT";
}

/** A value as a SQLite driver returns it with safe integers on. */
export type SqliteValue = null | bigint | number | string | Uint8Array;

/** A payload or key value on the wire. Booleans only arrive server→client, for PostgreSQL booleans. */
export type WireValue = string | boolean | null;

/** Encodes a local SQLite value of a column of `kind` as the wire value the client uploads. */
export function encodeSqliteValue(kind: ColumnKind, value: SqliteValue): string | null {
  if (value === null) return null;
  switch (kind) {
    case "TEXT":
      if (typeof value === "string") return value;
      break;
    case "INTEGER":
      if (typeof value === "bigint") return parseCanonicalInteger(String(value)).toString();
      break;
    case "REAL":
      if (typeof value === "number") return renderFloat64(value);
      break;
    case "BLOB":
      if (value instanceof Uint8Array) return encodeBase64(value);
      break;
    case "UUID_BLOB":
      if (value instanceof Uint8Array) return bytesToUuid(value);
      break;
  }
  throw new WireValueError(
    `a ${kind} column holds a ${sqliteTypeName(value)} value; store ${expectedSqliteType(kind)} in it or change its declared type`,
  );
}

/** Decodes an authoritative wire value (committed rows, pull, snapshot, server_row) for a column of `kind`. */
export function decodeWireValue(kind: ColumnKind, wire: unknown): SqliteValue {
  if (wire === null) return null;
  switch (kind) {
    case "TEXT":
      if (typeof wire !== "string") {
        throw new WireValueError(`a TEXT column needs a JSON string, got a ${jsonTypeName(wire)}`);
      }
      return wire;
    case "INTEGER":
      // PostgreSQL booleans arrive as JSON true/false and bind as 1/0.
      if (wire === true) return 1n;
      if (wire === false) return 0n;
      return parseCanonicalInteger(wire);
    case "REAL":
      return parseCanonicalFloat64(wire);
    case "BLOB":
      return decodeBase64Strict(wire);
    case "UUID_BLOB":
      return uuidToBytes(wire);
  }
}

function sqliteTypeName(value: Exclude<SqliteValue, null>): string {
  if (typeof value === "bigint") return "INTEGER";
  if (typeof value === "number") return "REAL";
  if (typeof value === "string") return "TEXT";
  return "BLOB";
}

function expectedSqliteType(kind: ColumnKind): string {
  switch (kind) {
    case "TEXT":
      return "TEXT";
    case "INTEGER":
      return "INTEGER (read as bigint)";
    case "REAL":
      return "REAL";
    case "BLOB":
      return "BLOB";
    case "UUID_BLOB":
      return "a 16-byte BLOB";
  }
}
