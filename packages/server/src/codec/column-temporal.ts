/**
 * Uploaded date/time text for `timestamptz`, `timestamp`, `date` and `time` columns. PostgreSQL
 * reads many spellings ("now", "Mar 24", session-dependent zones); the wire takes one ISO 8601 shape
 * so every value means the same instant whatever the session settings.
 */
import { WireValueError } from "@oversync/protocol";

/** The date/time column types the codec syncs. */
export type TemporalType = "timestamptz" | "timestamp" | "date" | "time";

const DATE = String.raw`(\d{4})-(\d{2})-(\d{2})`;
const TIME = String.raw`(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?`;
const OFFSET = String.raw`(Z|z|[+-](\d{2})(?::?(\d{2}))?)`;

const SHAPES: Readonly<Record<TemporalType, RegExp>> = {
  timestamptz: new RegExp(`^${DATE}(?:[T ]${TIME}${OFFSET}?)?$`),
  timestamp: new RegExp(`^${DATE}(?:[T ]${TIME})?$`),
  date: new RegExp(`^${DATE}$`),
  time: new RegExp(`^${TIME}$`),
};

const EXPECTED: Readonly<Record<TemporalType, string>> = {
  timestamptz: "YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.fraction]] with an optional Z or ±HH[:MM] offset",
  timestamp: "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fraction]] without an offset",
  date: "YYYY-MM-DD",
  time: "HH:MM[:SS[.fraction]]",
};

/**
 * Returns the parameter text for an uploaded temporal value, or throws a sentence saying what to
 * send. A timestamptz without an offset is read as UTC (as SQLite's datetime() writes it), so the
 * result never depends on the session TimeZone.
 */
export function temporalParam(type: TemporalType, text: string): string {
  const match = SHAPES[type].exec(text);
  const problem = match ? fieldProblem(type, match) : "does not have the expected shape";
  if (problem !== undefined) {
    throw new WireValueError(`${type} ${JSON.stringify(text)} ${problem}: send ${EXPECTED[type]}`);
  }
  if (type !== "timestamptz") return text;
  const hasTime = match![4] !== undefined;
  const hasOffset = match![7] !== undefined;
  if (!hasTime) return `${text}T00:00:00Z`;
  return hasOffset ? text : `${text}Z`;
}

/** Range-checks the captured fields; undefined when every field is in range. */
function fieldProblem(type: TemporalType, match: RegExpExecArray): string | undefined {
  const fields = match.slice(1).map((part) => (part === undefined ? undefined : Number(part)));
  const [year, month, day, hour, minute, second, , offsetHour, offsetMinute] =
    type === "time" ? [1, 1, 1, ...fields] : fields;
  if (year !== undefined && year < 1) return "has year 0000; years start at 0001";
  if (month !== undefined && (month < 1 || month > 12)) return `has month ${month}`;
  if (day !== undefined && (day < 1 || day > daysInMonth(year!, month!))) return `has day ${day}`;
  if (hour !== undefined && hour > 23) return `has hour ${hour}`;
  if (minute !== undefined && minute > 59) return `has minute ${minute}`;
  if (second !== undefined && second > 59) return `has second ${second}`;
  if (offsetHour !== undefined && offsetHour > 15) return `has a UTC offset of ${offsetHour} hours`;
  if (offsetMinute !== undefined && offsetMinute > 59) return `has offset minute ${offsetMinute}`;
  return undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
