/**
 * Materializing a snapshot: every live row of a scope, read from the business tables in the
 * caller's REPEATABLE READ transaction (so the image is exactly the state at its bundle seq, whatever
 * commits meanwhile), rendered to its wire payload as pull renders it, serialized once to the JSON
 * text chunks will splice in (§3.4), and stored with its byte length under 1-based ordinals.
 *
 * Order is deterministic: table id, then the key text in byte order. Each row's `row_version` is
 * its `sync.row_state` bundle seq; a live business row without a live row state (or the reverse)
 * means the business tables were written outside a bundle, and the build fails rather than serve
 * an image that disagrees with the bundle history.
 */
import { HIDDEN_SCOPE_COLUMN, OversyncError, type SnapshotLimitDimension } from "@oversync/protocol";
import { payloadSql, renderPayload } from "../bundle/row-payload.js";
import { quoteIdent, toSafeInt } from "../db/session.js";
import type { SqlQueryable, SqlResult } from "../db/sql-pool.js";
import type { RegisteredTable, TableDirectory } from "../schema/table-catalog.js";
import type { ResolvedLimits } from "../service/service-options.js";
import { snapshotRowText } from "./snapshot-row-size.js";

/** Rows and bytes a build stored. */
export interface SnapshotTotals {
  readonly rowCount: number;
  readonly byteCount: number;
}

/** Rows fetched and inserted per round trip when the host leaves the batch limits unset. */
const DEFAULT_BATCH_ROWS = 1000;
const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;

/** The cursor the build reads through; it lives only inside the build's transaction. */
const CURSOR = "oversync_snapshot_build";

interface BuildRow {
  table_id: number;
  key_text: string;
  bundle_seq: unknown;
  payload: Record<string, unknown> | null;
}

/** 409 snapshot_session_limit_exceeded with its structured body. */
export function snapshotLimitError(
  dimension: SnapshotLimitDimension,
  actual: number,
  limit: number,
  what: string,
): OversyncError {
  return new OversyncError(
    "snapshot_session_limit_exceeded",
    `${what} ${actual} exceeds the server limit ${limit}; the snapshot cannot be served (ask the operator to raise the limit)`,
    { extras: { dimension, actual, limit } },
  );
}

/**
 * One table's live rows of a scope, full-joined with its live row states so either side missing
 * shows up as a NULL.
 */
function tableSelect(table: RegisteredTable): string {
  return `SELECT ${table.tableId}::int AS table_id, coalesce(b.key_text, s.key_text) AS key_text,
                 s.bundle_seq, b.payload
            FROM (SELECT t.${quoteIdent(table.keyColumn)}::text AS key_text, ${payloadSql(table, "t")} AS payload
                    FROM ${table.sqlName} t WHERE t.${HIDDEN_SCOPE_COLUMN} = $1) b
            FULL JOIN (SELECT key_text, bundle_seq FROM sync.row_state
                        WHERE user_pk = $2 AND table_id = ${table.tableId} AND NOT deleted) s
              ON s.key_text = b.key_text`;
}

/**
 * Stores the scope's live rows as `snapshotId`'s rows and returns the totals. Enforces
 * `max_rows_per_snapshot_session` (before reading any row), `max_bytes_per_snapshot_row` and
 * `max_bytes_per_snapshot_session`, each as 409 snapshot_session_limit_exceeded. Commits refuse rows
 * above the row limit (snapshot-row-size.ts), so that one trips only for rows committed before the
 * limit was lowered.
 */
export async function materializeSnapshot(
  client: SqlQueryable,
  directory: TableDirectory,
  target: { readonly snapshotId: string; readonly scopePk: number; readonly scopeId: string },
  limits: ResolvedLimits,
): Promise<SnapshotTotals> {
  const tables = [...directory.tables].sort((a, b) => a.tableId - b.tableId);
  if (tables.length === 0) return { rowCount: 0, byteCount: 0 };

  const maxRows = limits.max_rows_per_snapshot_session;
  if (maxRows !== undefined) {
    const { rows } = await client.query<{ live: unknown }>(
      `SELECT count(*) AS live FROM sync.row_state
        WHERE user_pk = $1 AND table_id = ANY($2::int[]) AND NOT deleted`,
      [target.scopePk, tables.map((table) => table.tableId)],
    );
    const live = toSafeInt(rows[0]!.live);
    if (live > maxRows) throw snapshotLimitError("row_count", live, maxRows, "snapshot row count");
  }

  const batchRows = limits.snapshot_materialization_batch_rows ?? DEFAULT_BATCH_ROWS;
  const batchBytes = limits.snapshot_materialization_batch_bytes ?? DEFAULT_BATCH_BYTES;
  const maxRowBytes = limits.max_bytes_per_snapshot_row;
  const maxSessionBytes = limits.max_bytes_per_snapshot_session;

  await client.query(
    `DECLARE ${CURSOR} NO SCROLL CURSOR FOR
       SELECT * FROM (${tables.map(tableSelect).join("\nUNION ALL\n")}) live
        ORDER BY table_id, key_text COLLATE "C"`,
    [target.scopeId, target.scopePk],
  );

  // The loop issues statements without awaiting them, so PostgreSQL stores one batch while JS
  // renders the next. They still run one at a time, in order: node-postgres deprecates queueing on
  // a busy client (pg 8 warns, pg 9 drops it). A failed statement fails every later one without
  // running it, so the build reports the first error (not "current transaction is aborted"); every
  // failure reaches `tail`, which is always awaited, so the promises are marked handled as made.
  let tail: Promise<unknown> = Promise.resolve();
  const issue = <Row>(text: string, values?: unknown[]): Promise<SqlResult<Row>> => {
    const result = tail.then(() => client.query<Row>(text, values));
    result.catch(() => undefined);
    tail = result;
    return result;
  };

  let rowCount = 0;
  let byteCount = 0;
  let pendingLengths: number[] = [];
  let pendingTexts: string[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pendingTexts.length === 0) return;
    issue(
      `INSERT INTO sync.snapshot_session_rows (snapshot_id, row_ordinal, byte_length, row_text)
       SELECT $1, $2 + r.ordinal, ($3::int[])[r.ordinal], r.row_text
         FROM json_array_elements_text($4::json) WITH ORDINALITY AS r(row_text, ordinal)`,
      // The texts go as one JSON array: node-postgres escapes a text[] element by element in JS,
      // ~170 ms of a 100k-row build.
      [target.snapshotId, rowCount - pendingTexts.length, pendingLengths, JSON.stringify(pendingTexts)],
    );
    pendingLengths = [];
    pendingTexts = [];
    pendingBytes = 0;
  };

  try {
    let fetching = issue<BuildRow>(`FETCH ${batchRows} FROM ${CURSOR}`);
    for (;;) {
      const { rows } = await fetching;
      const more = rows.length === batchRows;
      // Queued ahead of this batch's INSERTs: the next batch arrives before them, so the last of
      // them runs while JS renders that batch.
      if (more) fetching = issue<BuildRow>(`FETCH ${batchRows} FROM ${CURSOR}`);
      for (const row of rows) {
        const table = directory.byId(row.table_id);
        if (row.payload === null || row.bundle_seq === null) {
          throw new Error(
            `${table.schema}.${table.table} key ${row.key_text} of scope ${target.scopeId} ${row.payload === null ? "has a live row state but no business row" : "has a business row but no live row state"}; the table was written outside an oversync bundle`,
          );
        }
        const text = snapshotRowText(
          table,
          row.key_text,
          toSafeInt(row.bundle_seq),
          renderPayload(table, row.payload),
        );
        if (text.byteLength > maxRowBytes) {
          throw snapshotLimitError(
            "row_byte_count",
            text.byteLength,
            maxRowBytes,
            `snapshot row ${table.schema}.${table.table} ${row.key_text} bytes`,
          );
        }
        rowCount++;
        byteCount += text.byteLength;
        // Past the session byte limit the build only measures, so the error reports the full size.
        if (maxSessionBytes !== undefined && byteCount > maxSessionBytes) continue;
        pendingLengths.push(text.byteLength);
        pendingTexts.push(text.text);
        pendingBytes += text.byteLength;
        if (pendingTexts.length >= batchRows || pendingBytes >= batchBytes) flush();
      }
      if (!more) break;
    }
    issue(`CLOSE ${CURSOR}`);
    if (maxSessionBytes !== undefined && byteCount > maxSessionBytes) {
      throw snapshotLimitError("byte_count", byteCount, maxSessionBytes, "snapshot byte count");
    }
    flush();
    await tail;
  } catch (error) {
    // The caller rolls back on this session next, so the statements still queued settle first. A
    // failed one wins: the sequential build would have met an earlier batch's failed INSERT first.
    await tail;
    throw error;
  }
  return { rowCount, byteCount };
}
