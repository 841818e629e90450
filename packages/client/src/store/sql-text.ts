/** Quoting for SQL text the store generates (identifiers and literals come from schema metadata). */

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A single-quoted SQL string literal. */
export function quoteText(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The current UTC time as SQLite writes it into `_sync_*` timestamp columns. */
export const NOW_TIMESTAMP_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/**
 * Rows one multi-row statement of `width` columns carries, so that it binds at most 700
 * parameters, below SQLite's oldest default limit of 999. One statement per row dominated freezing
 * large pushes and restoring snapshots.
 */
export function rowsPerStatement(width: number): number {
  return Math.max(1, Math.floor(700 / width));
}

/** The VALUES list of `rowCount` rows of `width` parameters each: `(?, ?), (?, ?)`. */
export function valuesPlaceholders(width: number, rowCount: number): string {
  const row = `(${new Array(width).fill("?").join(", ")})`;
  return new Array(rowCount).fill(row).join(", ");
}
