/**
 * One comparable text form per column value of the example tables, produced from a device's SQLite
 * row and from PostgreSQL's row alike, so "every device holds what the server holds" is one string
 * comparison that is exact where it must be:
 *
 * - uuid: lowercase dashed text (the BLOB keys of `files`/`file_reviews` converted);
 * - integers, numeric and boolean: PostgreSQL's text output (`true`/`false` for SQLite's 1/0);
 * - double precision and real: the IEEE 754 binary64 bits in hex (bit for bit);
 * - bytea: hex;
 * - timestamptz: microseconds since the epoch (the server re-renders the text, the instant must not
 *   move; PostgreSQL keeps microseconds).
 *
 * A local value of an unexpected storage class is rendered with a prefix (`integer:`, `real:`,
 * `text:`), so it never equals the server's value by accident.
 */
import { bytesToUuid } from "@oversync/protocol";
import type { SqliteRow, SqliteValue } from "@oversync/client";
import { EXAMPLE_SCHEMA, EXAMPLE_TABLES, type ExampleColumn, type ExampleTable } from "../example-schema.js";

/** A row with every column in its comparable form. */
export type CanonicalRow = Readonly<Record<string, string | null>>;

/** The example table named `name`. */
export function exampleTable(name: string): ExampleTable {
  const table = EXAMPLE_TABLES.find((candidate) => candidate.name === name);
  if (table === undefined) throw new Error(`no example table ${name}`);
  return table;
}

/** A device's row in comparable form. */
export function canonicalLocalRow(table: ExampleTable, row: SqliteRow): CanonicalRow {
  return Object.fromEntries(
    table.columns.map((column) => [column.name, canonicalLocalValue(column, row[column.name] ?? null)]),
  );
}

/** The SELECT of `table`'s rows of one user (`$1`) in comparable form, ordered by id. */
export function canonicalServerSelect(table: ExampleTable): string {
  const columns = table.columns.map((column) => `${serverExpression(column)} AS ${column.name}`);
  return `SELECT ${columns.join(", ")} FROM ${EXAMPLE_SCHEMA}.${table.name} t WHERE t._sync_scope_id = $1 ORDER BY t.id`;
}

/** Sorts comparable rows by id, as the server's SELECT does. */
export function sortById(rows: CanonicalRow[]): CanonicalRow[] {
  return rows.sort((a, b) => ((a.id ?? "") < (b.id ?? "") ? -1 : (a.id ?? "") > (b.id ?? "") ? 1 : 0));
}

function serverExpression(column: ExampleColumn): string {
  const ref = `t.${column.name}`;
  switch (column.type) {
    case "text":
      return ref;
    case "double precision":
      return `encode(float8send(${ref}), 'hex')`;
    case "real":
      return `encode(float8send(${ref}::float8), 'hex')`;
    case "bytea":
      return `encode(${ref}, 'hex')`;
    case "timestamp with time zone":
      return `(extract(epoch FROM ${ref}) * 1000000)::bigint::text`;
    default:
      // uuid, bigint, integer, smallint, boolean, numeric(p,s)
      return `${ref}::text`;
  }
}

function canonicalLocalValue(column: ExampleColumn, value: SqliteValue): string | null {
  if (value === null) return null;
  switch (column.type) {
    case "uuid":
      if (value instanceof Uint8Array) return value.length === 16 ? bytesToUuid(value) : `blob:${hex(value)}`;
      return typeof value === "string" ? value : tagged(value);
    case "text":
      return typeof value === "string" ? value : tagged(value);
    case "bigint":
    case "integer":
    case "smallint":
      return typeof value === "bigint" ? value.toString() : tagged(value);
    case "boolean":
      return value === 0n ? "false" : value === 1n ? "true" : tagged(value);
    case "double precision":
    case "real":
      return typeof value === "number" ? float64Hex(value) : tagged(value);
    case "bytea":
      return value instanceof Uint8Array ? hex(value) : tagged(value);
    case "timestamp with time zone": {
      if (typeof value !== "string") return tagged(value);
      return epochMicros(value)?.toString() ?? `unparsed:${value}`;
    }
    default:
      // numeric(p,s) travels as text
      return typeof value === "string" ? value : tagged(value);
  }
}

/** The value with its SQLite storage class, for values in the wrong class. */
function tagged(value: SqliteValue): string {
  if (typeof value === "bigint") return `integer:${value}`;
  if (typeof value === "number") return `real:${value}`;
  if (value instanceof Uint8Array) return `blob:${hex(value)}`;
  return `text:${value}`;
}

/** The IEEE 754 binary64 bits of `value`, big-endian hex (PostgreSQL's float8send). */
function float64Hex(value: number): string {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(value);
  return bytes.toString("hex");
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Microseconds since 1970-01-01 UTC of an ISO 8601 / RFC 3339 timestamp (a missing offset is UTC,
 * as SQLite's CURRENT_TIMESTAMP writes it), truncated to microseconds; undefined when unparsable.
 */
export function epochMicros(text: string): bigint | undefined {
  const match = TIMESTAMP.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour = "0", minute = "0", second = "0", fraction = "", offset = "Z"] = match;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  let offsetMinutes = 0;
  if (offset !== "Z" && offset !== "z") {
    const digits = offset.slice(1).replace(":", "");
    offsetMinutes =
      (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0")) * (offset[0] === "-" ? -1 : 1);
  }
  const micros = BigInt(fraction.padEnd(6, "0").slice(0, 6));
  return (BigInt(date.getTime()) - BigInt(offsetMinutes) * 60_000n) * 1000n + micros;
}
