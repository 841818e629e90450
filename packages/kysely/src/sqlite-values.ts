/**
 * The value rules of `@oversync/kysely`, in one place for the dialect and the live queries alike.
 *
 * Parameters: the driver binds a JS number as REAL, but Kysely passes the app's integers as
 * numbers (`where("id", "=", 5)`, `limit(10)`, an inserted count), so a safe-integer number is bound
 * as bigint (INTEGER) and any other finite number as REAL; booleans become 1/0. Anything SQLite
 * cannot store as given (a Date, an object, NaN, ±Infinity, undefined) is refused here with
 * `sql_param_invalid`, before it reaches SQLite, instead of being stored as something else.
 *
 * Rows: the driver reads every INTEGER as bigint. With `integers: "number"` each one within
 * ±(2^53−1) becomes a number, and one beyond that is refused with `integer_out_of_range` rather
 * than rounded; `integers: "bigint"` hands the rows on as the driver gives them.
 */
import { OversyncClientError, type SqliteRow, type SqliteValue } from "@oversync/client";

/** How INTEGER values come back: as JS numbers (exact up to ±(2^53−1)) or as bigint. */
export type IntegerMode = "number" | "bigint";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** The integer mode of a config value; undefined means "number". */
export function integerMode(value: unknown): IntegerMode {
  if (value === undefined || value === "number") return "number";
  if (value === "bigint") return "bigint";
  throw new OversyncClientError(
    "invalid_argument",
    `integers must be "number" or "bigint", not ${JSON.stringify(String(value))}`,
  );
}

/** Kysely's parameters as the driver binds them; throws `sql_param_invalid` for a value it refuses. */
export function toSqliteParameters(parameters: readonly unknown[]): SqliteValue[] {
  return parameters.map(toSqliteParameter);
}

function toSqliteParameter(value: unknown, index: number): SqliteValue {
  switch (typeof value) {
    case "string":
    case "bigint":
      return value;
    case "boolean":
      return value ? 1n : 0n;
    case "number":
      if (Number.isSafeInteger(value)) return BigInt(value);
      if (Number.isFinite(value)) return value;
      throw refused(index, `${value}, which SQLite cannot store as a number; bind null or a finite number`);
    case "object":
      if (value === null || value instanceof Uint8Array) return value;
      if (value instanceof Date) {
        throw refused(
          index,
          "a Date; bind date.toISOString() (TEXT) or date.getTime() (INTEGER milliseconds)",
        );
      }
      throw refused(
        index,
        `${Array.isArray(value) ? "an array" : "an object"}; bind JSON.stringify(value) to store it as TEXT`,
      );
    case "undefined":
      throw refused(index, "undefined; bind null for SQL NULL");
    default:
      throw refused(index, `a ${typeof value}; bind null, a number, bigint, boolean, string or Uint8Array`);
  }
}

function refused(index: number, what: string): OversyncClientError {
  return new OversyncClientError("sql_param_invalid", `query parameter ${index + 1} is ${what}`);
}

/**
 * Result rows under `integers`: as given for "bigint"; for "number", copies whose INTEGERs are
 * numbers. Throws `integer_out_of_range` naming the column for an INTEGER a number cannot hold.
 */
export function fromSqliteRows<R>(rows: readonly SqliteRow[], integers: IntegerMode): R[] {
  if (integers === "bigint") return rows as R[];
  return rows.map(
    (row) =>
      // fromEntries defines each column as an own property, even one named `__proto__`.
      Object.fromEntries(
        Object.entries(row).map(([column, value]) => [
          column,
          typeof value === "bigint" ? toSafeNumber(column, value) : value,
        ]),
      ) as R,
  );
}

function toSafeNumber(column: string, value: bigint): number {
  if (value >= MIN_SAFE && value <= MAX_SAFE) return Number(value);
  throw new OversyncClientError(
    "integer_out_of_range",
    `column "${column}" holds the INTEGER ${value}, beyond ±(2^53−1), which a JS number cannot hold exactly; ` +
      'read it with integers: "bigint" (new OversyncDialect({ driver, integers: "bigint" }), or the live query\'s option)',
  );
}
