/**
 * Sealing: turning one transaction's captured row effects into one committed bundle.
 *
 * A bundle context is a set of transaction-local settings the guard trigger checks. After the
 * business writes, `sealBundle` forces the deferred constraint checks (so their failures, and
 * any rows written by deferred constraint triggers, happen before the bundle is sealed), takes the
 * stage rows, normalises them to one effect per row, reserves the scope's next gapless `bundle_seq`,
 * renders every value to its wire form once, checks each row fits a snapshot, hashes, and stores
 * the bundle with its rows and the new row versions.
 */
import {
  type CanonicalRowTexts,
  type CommittedBundleIdentity,
  bundleHashJsonOfTexts,
  canonicalJson,
  sha256Hex,
  utf8ByteLength,
} from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { OP_CODES, OP_NAMES, type OpCode } from "../schema/op-codes.js";
import { type RegisteredTable, type TableDirectory, rowKey } from "../schema/table-catalog.js";
import { checkSnapshotRowSize } from "../snapshot/snapshot-row-size.js";
import { BUNDLE_SCOPE_SETTING } from "./capture-triggers.js";
import { renderPayload } from "./row-payload.js";

/** Who a bundle belongs to and which source tuple it commits. */
export interface BundleIdentity {
  readonly scopePk: number;
  readonly scopeId: string;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  /** The push's request hash; "" for bundles that do not come from a push. */
  readonly canonicalRequestHash: string;
}

interface StageRow {
  capture_ordinal: string | number;
  table_id: number;
  op: OpCode;
  key_text: string;
  payload: Record<string, unknown> | null;
}

interface NormalizedRow {
  readonly table: RegisteredTable;
  readonly keyText: string;
  readonly op: OpCode;
  readonly payload: Record<string, unknown> | null;
}

/**
 * Opens the bundle context for `scopeId` in the current transaction and defers deferrable
 * constraints, so rows may be written in any order (FK cycles, children before parents).
 */
export async function openBundleContext(client: SqlQueryable, scopeId: string): Promise<void> {
  await client.query("SELECT set_config($1, $2, true)", [BUNDLE_SCOPE_SETTING, scopeId]);
  await client.query("SET CONSTRAINTS ALL DEFERRED");
}

/**
 * Seals the current transaction's captured effects as the scope's next bundle. Returns undefined
 * (and stores nothing) when the effects cancel out or nothing was written. Throws
 * SnapshotRowTooLargeError when a row's after-image would take more than `maxSnapshotRowBytes` in a
 * snapshot (the caller's transaction must then roll back).
 */
export async function sealBundle(
  client: SqlQueryable,
  directory: TableDirectory,
  identity: BundleIdentity,
  maxSnapshotRowBytes: number,
): Promise<CommittedBundleIdentity | undefined> {
  await client.query("SET CONSTRAINTS ALL IMMEDIATE");
  const { rows: staged } = await client.query<StageRow>(
    `DELETE FROM sync.bundle_capture_stage WHERE txid = txid_current()
     RETURNING capture_ordinal, table_id, op, key_text, payload`,
  );
  const normalized = normalizeEffects(staged, directory);
  if (normalized.length === 0) return undefined;

  const { rows: reserved } = await client.query<{ bundle_seq: unknown }>(
    `UPDATE sync.user_state SET next_bundle_seq = next_bundle_seq + 1
      WHERE user_pk = $1 RETURNING next_bundle_seq - 1 AS bundle_seq`,
    [identity.scopePk],
  );
  const bundleSeq = toSafeInt(reserved[0]!.bundle_seq);

  const hashRows: (CanonicalRowTexts & { row_version: number })[] = [];
  for (const row of normalized) {
    const payloadJson = row.payload === null ? null : canonicalJson(renderPayload(row.table, row.payload));
    if (payloadJson !== null) {
      checkSnapshotRowSize(row.table, row.keyText, bundleSeq, payloadJson, maxSnapshotRowBytes);
    }
    hashRows.push({
      schema: row.table.schema,
      table: row.table.table,
      keyJson: canonicalJson({ [row.table.keyColumn]: row.keyText }),
      op: OP_NAMES[row.op],
      row_version: bundleSeq,
      payloadJson,
    });
  }
  const hashInput = bundleHashJsonOfTexts(hashRows);
  const bundle: CommittedBundleIdentity = {
    bundle_seq: bundleSeq,
    source_id: identity.sourceId,
    source_bundle_id: identity.sourceBundleId,
    row_count: normalized.length,
    bundle_hash: sha256Hex(hashInput),
    canonical_request_hash: identity.canonicalRequestHash,
  };

  // The log entry, its rows and the new row versions in one statement (one round trip). An upsert's
  // key is in its payload, so bundle_rows keeps only a delete's (sync-layout.ts).
  await client.query(
    `WITH log AS (
       INSERT INTO sync.bundle_log
         (user_pk, bundle_seq, source_id, source_bundle_id, row_count, byte_count, bundle_hash, canonical_request_hash)
       VALUES ($1, $2, $7, $8, $9, $10, decode($11, 'hex'), decode($12, 'hex'))),
     r AS (
       SELECT * FROM ROWS FROM (unnest($3::int[]), unnest($4::text[]), unnest($5::smallint[]),
                                json_array_elements_text($6::json))
              WITH ORDINALITY AS r(table_id, key_text, op, payload_wire, ordinal)),
     logged_rows AS (
       INSERT INTO sync.bundle_rows (user_pk, bundle_seq, row_ordinal, table_id, key_text, op, payload_wire)
       SELECT $1, $2, r.ordinal - 1, r.table_id, CASE WHEN r.op = ${OP_CODES.DELETE} THEN r.key_text END, r.op,
              r.payload_wire FROM r)
     INSERT INTO sync.row_state (user_pk, table_id, key_text, bundle_seq, deleted)
     SELECT $1, r.table_id, r.key_text, $2, r.op = ${OP_CODES.DELETE} FROM r
     ON CONFLICT (user_pk, table_id, key_text)
       DO UPDATE SET bundle_seq = EXCLUDED.bundle_seq, deleted = EXCLUDED.deleted`,
    [
      identity.scopePk,
      bundleSeq,
      normalized.map((row) => row.table.tableId),
      normalized.map((row) => row.keyText),
      normalized.map((row) => row.op),
      // One JSON array (null for a delete): node-postgres would escape a text[] element by element.
      JSON.stringify(hashRows.map((row) => row.payloadJson)),
      bundle.source_id,
      bundle.source_bundle_id,
      bundle.row_count,
      utf8ByteLength(hashInput),
      bundle.bundle_hash,
      bundle.canonical_request_hash,
    ],
  );
  return bundle;
}

/**
 * Folds the captured effects to one per (table, key), ordered by each key's first capture:
 * - ends with DELETE: dropped when it began with INSERT (the row never existed outside the
 *   transaction), otherwise DELETE;
 * - otherwise: INSERT when it began with INSERT, else UPDATE (DELETE then INSERT is an UPDATE),
 *   carrying the last after-image.
 */
function normalizeEffects(staged: readonly StageRow[], directory: TableDirectory): NormalizedRow[] {
  const ordered = [...staged].sort((a, b) => toSafeInt(a.capture_ordinal) - toSafeInt(b.capture_ordinal));
  const effects = new Map<string, { first: OpCode; last: StageRow }>();
  for (const row of ordered) {
    const id = rowKey(row.table_id, row.key_text);
    const effect = effects.get(id);
    if (effect === undefined) effects.set(id, { first: row.op, last: row });
    else effect.last = row;
  }
  const normalized: NormalizedRow[] = [];
  for (const { first, last } of effects.values()) {
    const table = directory.byId(last.table_id);
    if (last.op === OP_CODES.DELETE) {
      if (first !== OP_CODES.INSERT) {
        normalized.push({ table, keyText: last.key_text, op: OP_CODES.DELETE, payload: null });
      }
      continue;
    }
    const op = first === OP_CODES.INSERT ? OP_CODES.INSERT : OP_CODES.UPDATE;
    normalized.push({ table, keyText: last.key_text, op, payload: last.payload });
  }
  return normalized;
}
