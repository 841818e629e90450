/**
 * Source checks of a snapshot create (protocol-latest §1.9, server digest §7): a plain create from
 * a retired source is refused with `source_retired`; a create carrying `source_replacement`
 * retires the header source and reserves its successor in the caller's transaction, so the
 * replacement and the snapshot the client rebuilds from commit together or not at all.
 */
import {
  OversyncError,
  SOURCE_REPLACEMENT_REASONS,
  type SnapshotCreateRequest,
  sourceIdProblem,
} from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { type SourceState, loadSourceState, sourceRetiredError } from "./source-state.js";

/** The replacement a snapshot create may carry. */
export type SourceReplacement = NonNullable<SnapshotCreateRequest["source_replacement"]>;

/** A create without replacement: refused when the header source is retired. */
export async function checkSnapshotSource(
  client: SqlQueryable,
  scopePk: number,
  sourceId: string,
): Promise<void> {
  const source = await loadSourceState(client, scopePk, sourceId);
  if (source.state === "retired") throw sourceRetiredError(sourceId, source);
}

function invalid(message: string): OversyncError {
  return new OversyncError("source_replacement_invalid", message);
}

/**
 * Retires `sourceId` (the header source) in favour of `replacement.new_source_id`, which becomes
 * `reserved` (it turns active on its first commit, source_bundle_id 1). Call under the scope's lock.
 *
 * - `previous_source_id` must be the header source, and the new id a different non-empty one.
 * - Previous already retired: naming its recorded successor again is an idempotent repeat (the
 *   successor is reserved if missing; reserved or active is accepted; retired is invalid); naming
 *   another one is `source_retired` carrying the recorded successor, which the client adopts.
 * - Previous not retired: the new id must be unknown to the server (a source that exists has a
 *   sequence of its own and cannot take over the old one's outbox).
 *
 * Errors: 409 source_replacement_invalid, source_retired.
 */
export async function applySourceReplacement(
  client: SqlQueryable,
  scopePk: number,
  sourceId: string,
  replacement: SourceReplacement,
): Promise<void> {
  const { previous_source_id: previous, new_source_id: next, reason } = replacement;
  if (previous !== sourceId) {
    throw invalid(
      `source_replacement.previous_source_id ${JSON.stringify(previous)} is not this request's source ${JSON.stringify(sourceId)}; send the replacement from the source being replaced`,
    );
  }
  const problem = sourceIdProblem(next);
  if (problem !== undefined) throw invalid(`source_replacement.new_source_id ${problem}`);
  if (next === previous) {
    throw invalid("source_replacement.new_source_id must differ from the previous source id");
  }
  if (!(SOURCE_REPLACEMENT_REASONS as readonly string[]).includes(reason)) {
    throw invalid(`source_replacement.reason must be one of ${SOURCE_REPLACEMENT_REASONS.join(", ")}`);
  }
  const { rows } = await client.query<{
    source_id: string;
    state: SourceState["state"];
    max_committed_source_bundle_id: unknown;
    replaced_by_source_id: string | null;
  }>(
    `SELECT source_id, state, max_committed_source_bundle_id, replaced_by_source_id FROM sync.source_state
      WHERE user_pk = $1 AND source_id IN ($2, $3) FOR UPDATE`,
    [scopePk, previous, next],
  );
  const old = rows.find((row) => row.source_id === previous);
  const successor = rows.find((row) => row.source_id === next);

  if (old?.state === "retired") {
    if (old.replaced_by_source_id !== next) {
      throw sourceRetiredError(sourceId, {
        state: old.state,
        maxCommittedSourceBundleId: toSafeInt(old.max_committed_source_bundle_id),
        replacedBySourceId: old.replaced_by_source_id,
      });
    }
    if (successor === undefined) await reserve(client, scopePk, next);
    else if (successor.state === "retired") {
      throw invalid(
        `replacement source ${JSON.stringify(next)} has itself been retired; continue with its replacement`,
      );
    }
    return;
  }
  if (successor !== undefined) {
    throw invalid(
      `replacement source ${JSON.stringify(next)} already exists in this scope (${successor.state}); choose a fresh source id`,
    );
  }
  await reserve(client, scopePk, next);
  await client.query(
    `INSERT INTO sync.source_state (user_pk, source_id, state, replaced_by_source_id, retirement_reason)
     VALUES ($1, $2, 'retired', $3, $4)
     ON CONFLICT (user_pk, source_id) DO UPDATE
       SET state = 'retired', replaced_by_source_id = EXCLUDED.replaced_by_source_id,
           retirement_reason = EXCLUDED.retirement_reason, updated_at = now()`,
    [scopePk, previous, next, reason],
  );
}

/**
 * Inserts `sourceId` as reserved. ON CONFLICT matters only when a row committed after this
 * transaction's snapshot collides: under REPEATABLE READ that is a serialization failure, which
 * reruns the transaction (it then sees the row), instead of a unique violation.
 */
async function reserve(client: SqlQueryable, scopePk: number, sourceId: string): Promise<void> {
  await client.query(
    `INSERT INTO sync.source_state (user_pk, source_id, state) VALUES ($1, $2, 'reserved')
     ON CONFLICT (user_pk, source_id) DO NOTHING`,
    [scopePk, sourceId],
  );
}
