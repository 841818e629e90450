/**
 * Push commit (protocol-latest §1.5): check the staged rows against the session, the request hash
 * and the source sequence, detect conflicts against `sync.row_state`, apply the rows to the business
 * tables in upload order under deferred constraints, and seal everything the transaction captured
 * (the rows themselves plus cascades and trigger writes) as one bundle.
 */
import {
  HIDDEN_SCOPE_COLUMN,
  OversyncError,
  type PushCommitResponse,
  type PushConflict,
  type WireValue,
  canonicalRequestJsonOfTexts,
  sha256Hex,
} from "@oversync/protocol";
import { runSyncBundle } from "../bundle/bundle-commit.js";
import { FOREIGN_SCOPE_SQLSTATE, NO_BUNDLE_CONTEXT_SQLSTATE } from "../bundle/capture-triggers.js";
import { payloadSql, renderPayload } from "../bundle/row-payload.js";
import type { BoundValue, ColumnCodec } from "../codec/column-codec.js";
import { quoteIdent, sqlState, toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { OP_CODES, OP_NAMES, type OpCode } from "../schema/op-codes.js";
import { type RegisteredTable, type TableDirectory, rowKey } from "../schema/table-catalog.js";
import { checkCommitSequence, loadSourceState } from "../scope/source-state.js";
import { loadScopeForWrite, setInitialized } from "../scope/scope-state.js";
import type { ResolvedLimits } from "../service/service-options.js";
import type { Actor } from "../service/sync-service.js";
import { SnapshotRowTooLargeError } from "../snapshot/snapshot-row-size.js";
import { type StagedRow, bindPayload, requestHashRow } from "./push-rows.js";
import { type PushSession, loadSessionForActor, revalidateLease } from "./push-session.js";
import { commitRuleViolation, rowBreakingForeignKey } from "./push-violations.js";

/** Savepoint taken before the push's writes, so a broken rule can be answered from the prior state. */
const BEFORE_APPLY = "push_apply";

/** A row's authoritative version in `sync.row_state`; `deleted` marks a tombstone. */
interface RowVersion {
  readonly version: number;
  readonly deleted: boolean;
}

function commitInvalid(message: string): OversyncError {
  return new OversyncError("push_commit_invalid", message);
}

/** Commits a staged push session as one bundle. */
export async function commitPushSession(
  client: SqlQueryable,
  directory: TableDirectory,
  actor: Actor,
  pushId: string,
  limits: ResolvedLimits,
): Promise<PushCommitResponse> {
  const session = await loadSessionForActor(client, actor, pushId);
  const scope = await loadScopeForWrite(client, actor.scopeId);
  if (session.initializationId !== null) {
    await revalidateLease(
      client,
      scope,
      session.sourceId,
      session.initializationId,
      limits.initialization_lease_ttl_seconds,
    );
  }
  const rows = await loadStagedRows(client, directory, session);
  const hash = sha256Hex(canonicalRequestJsonOfTexts(rows.map(requestHashRow)));
  if (hash !== session.canonicalRequestHash) {
    throw commitInvalid(
      `the staged rows hash to ${hash}, not to canonical_request_hash ${session.canonicalRequestHash} given at create; re-create the session with the hash of the rows you upload`,
    );
  }
  checkCommitSequence(
    session.sourceId,
    session.sourceBundleId,
    await loadSourceState(client, scope.scopePk, session.sourceId),
  );

  let bundle: Awaited<ReturnType<typeof runSyncBundle>>["bundle"];
  try {
    ({ bundle } = await runSyncBundle(
      client,
      directory,
      {
        scopePk: scope.scopePk,
        scopeId: scope.scopeId,
        sourceId: session.sourceId,
        sourceBundleId: session.sourceBundleId,
        canonicalRequestHash: session.canonicalRequestHash,
      },
      limits.max_bytes_per_snapshot_row,
      async () => {
        await client.query(`SAVEPOINT ${BEFORE_APPLY}`);
        await checkConflicts(client, scope.scopePk, scope.scopeId, rows);
        await applyRows(client, scope.scopeId, rows);
      },
    ));
  } catch (error) {
    throw await mapApplyError(client, directory, scope, rows, error);
  }
  if (bundle === undefined) throw commitInvalid("push session produced no captured business-table effects");
  if (session.initializationId !== null) await setInitialized(client, scope.scopePk, session.sourceId);
  await client.query("DELETE FROM sync.push_sessions WHERE push_id = $1", [session.pushId]);
  return bundle;
}

async function loadStagedRows(
  client: SqlQueryable,
  directory: TableDirectory,
  session: PushSession,
): Promise<StagedRow[]> {
  if (session.nextExpectedRowOrdinal !== session.plannedRowCount) {
    throw commitInvalid(
      `staged row count ${session.nextExpectedRowOrdinal} does not match planned_row_count ${session.plannedRowCount}; upload the remaining chunks first`,
    );
  }
  // Read and deleted at once: a commit that fails rolls back and keeps them for a retry.
  const { rows: deleted } = await client.query<{
    row_ordinal: number;
    table_id: number;
    key_text: string;
    op: OpCode;
    base_row_version: unknown;
    payload_wire: string | null;
  }>(
    `DELETE FROM sync.push_session_rows WHERE push_id = $1
     RETURNING row_ordinal, table_id, key_text, op, base_row_version, payload_wire`,
    [session.pushId],
  );
  const rows = deleted.sort((a, b) => a.row_ordinal - b.row_ordinal);
  const targets = new Set<string>();
  return rows.map((row, index) => {
    if (row.row_ordinal !== index) {
      throw commitInvalid(
        `staged rows are not contiguous: expected ordinal ${index}, found ${row.row_ordinal}`,
      );
    }
    const target = rowKey(row.table_id, row.key_text);
    if (targets.has(target)) {
      throw commitInvalid(
        `duplicate target row in staged push session at ordinal ${index}; send each row once`,
      );
    }
    targets.add(target);
    return {
      table: directory.byId(row.table_id),
      keyText: row.key_text,
      op: row.op,
      baseRowVersion: toSafeInt(row.base_row_version),
      payloadWire: row.payload_wire,
    };
  });
}

/**
 * Checks each row, in upload order, against the authoritative version: an INSERT needs no row
 * state (base 0) or a tombstone at its base; UPDATE and DELETE need a live row at their base. The
 * first mismatch is a `push_conflict` carrying the server's current after-image.
 */
async function checkConflicts(
  client: SqlQueryable,
  scopePk: number,
  scopeId: string,
  rows: readonly StagedRow[],
): Promise<void> {
  const { rows: states } = await client.query<{
    table_id: number;
    key_text: string;
    bundle_seq: unknown;
    deleted: boolean;
  }>(
    `SELECT r.table_id, r.key_text, r.bundle_seq, r.deleted
       FROM sync.row_state r
       JOIN unnest($2::int[], $3::text[]) AS k(table_id, key_text)
         ON r.table_id = k.table_id AND r.key_text = k.key_text
      WHERE r.user_pk = $1`,
    [scopePk, rows.map((row) => row.table.tableId), rows.map((row) => row.keyText)],
  );
  const byTarget = new Map<string, RowVersion>(
    states.map((state) => [
      rowKey(state.table_id, state.key_text),
      { version: toSafeInt(state.bundle_seq), deleted: state.deleted },
    ]),
  );
  for (const row of rows) {
    const state = byTarget.get(rowKey(row.table.tableId, row.keyText));
    const ok =
      row.op === OP_CODES.INSERT
        ? state === undefined
          ? row.baseRowVersion === 0
          : state.deleted && state.version === row.baseRowVersion
        : state !== undefined && !state.deleted && state.version === row.baseRowVersion;
    if (!ok) throw await conflictOn(client, scopeId, row, state);
  }
}

/** The `push_conflict` on `row` against the server's `state` of it (undefined: no row state). */
async function conflictOn(
  client: SqlQueryable,
  scopeId: string,
  row: StagedRow,
  state: RowVersion | undefined,
): Promise<OversyncError> {
  const serverRow =
    state !== undefined && !state.deleted
      ? await loadServerRow(client, scopeId, row.table, row.keyText)
      : null;
  const conflict: PushConflict = {
    schema: row.table.schema,
    table: row.table.table,
    key: { [row.table.keyColumn]: row.keyText },
    op: OP_NAMES[row.op],
    base_row_version: row.baseRowVersion,
    server_row_version: state?.version ?? 0,
    server_row_deleted: state?.deleted ?? false,
    server_row: serverRow,
  };
  const serverSide =
    state === undefined
      ? "the server has no such row"
      : `the server row is at version ${state.version}${state.deleted ? " (deleted)" : ""}`;
  return new OversyncError(
    "push_conflict",
    `${OP_NAMES[row.op].toLowerCase()} conflict on ${row.table.schema}.${row.table.table} ${row.keyText}: pushed against version ${row.baseRowVersion}, but ${serverSide}; resolve and push again`,
    { extras: { conflict } },
  );
}

/** The server's version of one row, from `sync.row_state`. */
async function loadRowState(
  client: SqlQueryable,
  scopePk: number,
  row: StagedRow,
): Promise<RowVersion | undefined> {
  const { rows } = await client.query<{ bundle_seq: unknown; deleted: boolean }>(
    "SELECT bundle_seq, deleted FROM sync.row_state WHERE user_pk = $1 AND table_id = $2 AND key_text = $3",
    [scopePk, row.table.tableId, row.keyText],
  );
  const state = rows[0];
  return state === undefined ? undefined : { version: toSafeInt(state.bundle_seq), deleted: state.deleted };
}

/** The live business row rendered in wire form, or null when it does not exist. */
async function loadServerRow(
  client: SqlQueryable,
  scopeId: string,
  table: RegisteredTable,
  keyText: string,
): Promise<Record<string, WireValue> | null> {
  const { rows } = await client.query<{ payload: Record<string, unknown> }>(
    `SELECT ${payloadSql(table, "t")} AS payload FROM ${table.sqlName} t
      WHERE t.${HIDDEN_SCOPE_COLUMN} = $1 AND t.${quoteIdent(table.keyColumn)} = $2::${table.keyKind}`,
    [scopeId, keyText],
  );
  return rows[0] === undefined ? null : renderPayload(table, rows[0].payload);
}

/**
 * Applies the rows in upload order. Consecutive rows of one table and operation (and, for upserts,
 * the same columns) go in one statement fed by unnest() arrays; payload values are bound as text
 * and cast by the column codec.
 */
async function applyRows(client: SqlQueryable, scopeId: string, rows: readonly StagedRow[]): Promise<void> {
  const prepared = rows.map((row) => ({
    row,
    bound: row.op === OP_CODES.DELETE ? undefined : bindPayload(row),
  }));
  let start = 0;
  while (start < prepared.length) {
    const first = prepared[start]!;
    let end = start + 1;
    while (
      end < prepared.length &&
      prepared[end]!.row.table === first.row.table &&
      prepared[end]!.row.op === first.row.op &&
      sameColumns(prepared[end]!.bound?.columns, first.bound?.columns)
    ) {
      end++;
    }
    const batch = prepared.slice(start, end);
    if (first.bound === undefined) {
      await deleteBatch(
        client,
        scopeId,
        first.row.table,
        batch.map((entry) => entry.row),
      );
    } else {
      const values = batch.map((entry) => entry.bound!.values);
      await writeBatch(client, scopeId, first.row.table, first.row.op, first.bound.columns, values);
    }
    start = end;
  }
}

function sameColumns(a: readonly ColumnCodec[] | undefined, b: readonly ColumnCodec[] | undefined): boolean {
  return (
    a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((c, i) => c === b[i]))
  );
}

/** Writes upserts that carry the same `columns`; an INSERT leaves the others to their defaults. */
async function writeBatch(
  client: SqlQueryable,
  scopeId: string,
  table: RegisteredTable,
  op: OpCode,
  columns: readonly ColumnCodec[],
  bound: readonly BoundValue[][],
): Promise<void> {
  const arrays = columns.map((_, index) => bound.map((values) => values[index]!.param));
  const casts = columns.map((_, index) => bound[0]![index]!.cast);
  const aliases = columns.map((_, index) => `c${index}`);
  const unnest = `unnest(${columns.map((_, index) => `$${index + 2}::text[]`).join(", ")})`;
  const value = (index: number) => `v.c${index}::${casts[index]}`;
  let statement: string;
  if (op === OP_CODES.INSERT) {
    statement = `INSERT INTO ${table.sqlName} (${HIDDEN_SCOPE_COLUMN}, ${columns.map((c) => quoteIdent(c.name)).join(", ")})
      SELECT $1, ${columns.map((_, index) => value(index)).join(", ")}
        FROM ${unnest} WITH ORDINALITY AS v(${aliases.join(", ")}, ord) ORDER BY v.ord`;
  } else {
    const keyIndex = columns.findIndex((column) => column.name === table.keyColumn);
    statement = `UPDATE ${table.sqlName} AS t
        SET ${columns.map((column, index) => `${quoteIdent(column.name)} = ${value(index)}`).join(", ")}
       FROM ${unnest} AS v(${aliases.join(", ")})
      WHERE t.${HIDDEN_SCOPE_COLUMN} = $1 AND t.${quoteIdent(table.keyColumn)} = ${value(keyIndex)}`;
  }
  const result = await client.query(statement, [scopeId, ...arrays]);
  if (op === OP_CODES.UPDATE && (result.rowCount ?? 0) !== bound.length) {
    throw commitInvalid(
      `an UPDATE of ${table.schema}.${table.table} found no row to update (it was removed earlier in this push, e.g. by a cascade); drop that row from the push`,
    );
  }
}

async function deleteBatch(
  client: SqlQueryable,
  scopeId: string,
  table: RegisteredTable,
  batch: readonly StagedRow[],
): Promise<void> {
  // A row already removed by a cascade earlier in this push is simply gone; that is the intent.
  await client.query(
    `DELETE FROM ${table.sqlName} WHERE ${HIDDEN_SCOPE_COLUMN} = $1 AND ${quoteIdent(table.keyColumn)} = ANY($2::${table.keyKind}[])`,
    [scopeId, batch.map((row) => row.keyText)],
  );
}

/** SQLSTATE classes and codes that mean the pushed data broke a rule of the business schema. */
function isDataRuleViolation(state: string): boolean {
  return state.startsWith("22") || state.startsWith("23") || state === "P0001";
}

/**
 * Turns failures raised while applying into their answers: a broken foreign key on one pushed row
 * becomes a push_conflict on it (push-violations.ts); other constraint and data errors 400
 * push_commit_invalid without PostgreSQL's text; the runtime's own guards keep their messages.
 */
async function mapApplyError(
  client: SqlQueryable,
  directory: TableDirectory,
  scope: { scopePk: number; scopeId: string },
  rows: readonly StagedRow[],
  error: unknown,
): Promise<unknown> {
  if (error instanceof SnapshotRowTooLargeError) return commitInvalid(error.message);
  if (error instanceof OversyncError) {
    return error.code === "push_chunk_invalid" ? commitInvalid(error.message) : error;
  }
  const state = sqlState(error);
  if (state === FOREIGN_SCOPE_SQLSTATE || state === NO_BUNDLE_CONTEXT_SQLSTATE) {
    return commitInvalid((error as Error).message);
  }
  if (state === undefined || !isDataRuleViolation(state)) return error;
  if (state === "23503") {
    // Back to the state before this push's writes, to read the server's side of the conflict.
    await client.query(`ROLLBACK TO SAVEPOINT ${BEFORE_APPLY}`);
    const row = await rowBreakingForeignKey(client, directory, scope.scopeId, rows, error);
    if (row !== undefined)
      return conflictOn(client, scope.scopeId, row, await loadRowState(client, scope.scopePk, row));
  }
  return commitRuleViolation(directory, error);
}
