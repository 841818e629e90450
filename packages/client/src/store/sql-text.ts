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
