/**
 * Push sessions: create (with idempotent replay of an already committed tuple), chunk upload and
 * delete. Every call runs in the caller's transaction and takes the scope's lock first.
 */
import {
  INT32_MAX,
  OversyncError,
  type PushChunkRequest,
  type PushChunkResponse,
  type PushCreateResponse,
  isCanonicalUuid,
} from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { checkCreateSequence, loadSourceState } from "../scope/source-state.js";
import { type ScopeRecord, loadScopeForWrite, lockScope, refreshLease } from "../scope/scope-state.js";
import type { ResolvedLimits } from "../service/service-options.js";
import type { Actor, PushCreateInput } from "../service/sync-service.js";
import type { StagedRow } from "./push-rows.js";

/** A push session row, as read under the scope's lock. */
export interface PushSession {
  readonly pushId: string;
  readonly scopePk: number;
  readonly scopeId: string;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly plannedRowCount: number;
  readonly nextExpectedRowOrdinal: number;
  readonly canonicalRequestHash: string;
  readonly initializationId: string | null;
}

/**
 * Deletes up to `batch` expired sessions of any scope with their staged rows, skipping ones another
 * transaction holds; answers how many sessions it deleted. The housekeeping sweep calls it, off the
 * request path.
 */
export async function purgeExpiredPushSessions(client: SqlQueryable, batch: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `WITH expired AS (
       SELECT push_id FROM sync.push_sessions WHERE expires_at <= now()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED),
     gone AS (DELETE FROM sync.push_sessions s USING expired e WHERE s.push_id = e.push_id RETURNING s.push_id),
     staged AS (DELETE FROM sync.push_session_rows
                 WHERE push_id = ANY (ARRAY(SELECT push_id FROM gone)))
     SELECT count(*)::int AS n FROM gone`,
    [batch],
  );
  return rows[0]!.n;
}

/** Deletes one session and its staged rows in one statement. */
export async function deleteSession(client: SqlQueryable, pushId: string): Promise<void> {
  await client.query(
    `WITH staged AS (DELETE FROM sync.push_session_rows WHERE push_id = $1)
     DELETE FROM sync.push_sessions WHERE push_id = $1`,
    [pushId],
  );
}

/**
 * Checks that a seed session's initialization lease is still this source's: a lapsed lease is
 * `initialization_expired`, a lease that moved on (scope initialized, another id or source) is
 * `initialization_stale`. On success the lease is refreshed.
 */
export async function revalidateLease(
  client: SqlQueryable,
  scope: ScopeRecord,
  sourceId: string,
  initializationId: string,
  leaseSeconds: number,
): Promise<void> {
  if (scope.scopeState === "uninitialized") {
    throw new OversyncError(
      "initialization_expired",
      `initialization ${initializationId} expired before this push finished; connect again`,
    );
  }
  if (
    scope.scopeState !== "initializing" ||
    scope.initializerSourceId !== sourceId ||
    scope.initializationId !== initializationId
  ) {
    throw new OversyncError(
      "initialization_stale",
      `initialization ${initializationId} is no longer the scope's current initialization; connect again`,
    );
  }
  await refreshLease(client, scope.scopePk, leaseSeconds);
}

/** Opens a staging session, or reports the tuple as already committed (protocol-latest §1.3). */
export async function createPushSession(
  client: SqlQueryable,
  actor: Actor,
  request: PushCreateInput,
  limits: ResolvedLimits,
): Promise<PushCreateResponse> {
  if (request.planned_row_count > INT32_MAX) {
    throw new OversyncError(
      "push_session_invalid",
      `planned_row_count ${request.planned_row_count} exceeds ${INT32_MAX}; split the push into smaller bundles`,
    );
  }
  await lockScope(client, actor.scopeId);
  const scope = await loadScopeForWrite(client, actor.scopeId);
  const initializationId = request.initialization_id;

  const alreadyCommitted = () => findCommittedTuple(client, scope, actor.sourceId, request.source_bundle_id);
  switch (scope.scopeState) {
    case "initialized":
      if (initializationId !== undefined) {
        // A seed push that committed (initializing the scope) and is retried replays its bundle.
        const replay = await alreadyCommitted();
        if (replay !== undefined) return replay;
        // Committed but no longer retained: the same answer a retry without the id gets.
        const source = await loadSourceState(client, scope.scopePk, actor.sourceId);
        if (request.source_bundle_id <= source.maxCommittedSourceBundleId) {
          checkCreateSequence(actor.sourceId, request.source_bundle_id, source);
        }
        throw new OversyncError(
          "push_session_invalid",
          "initialization_id must be absent once the scope is initialized; connect again and push without it",
        );
      }
      break;
    case "uninitialized":
      if (initializationId !== undefined) {
        throw new OversyncError(
          "initialization_expired",
          `initialization ${initializationId} expired; connect again`,
        );
      }
      throw new OversyncError("scope_uninitialized", "the scope is not initialized; connect first");
    case "initializing":
      if (initializationId === undefined) {
        if (scope.initializerSourceId === actor.sourceId) {
          throw new OversyncError(
            "push_session_invalid",
            "initialization_id is required while the scope is initializing; send the id connect returned",
          );
        }
        throw new OversyncError(
          "scope_initializing",
          "another source is initializing the scope; connect again after its lease ends",
        );
      }
      await revalidateLease(
        client,
        scope,
        actor.sourceId,
        initializationId,
        limits.initialization_lease_ttl_seconds,
      );
      break;
  }

  const replay = await alreadyCommitted();
  if (replay !== undefined) return replay;
  checkCreateSequence(
    actor.sourceId,
    request.source_bundle_id,
    await loadSourceState(client, scope.scopePk, actor.sourceId),
  );

  // A new create for the same tuple replaces any session still staging it.
  await client.query(
    `WITH previous AS (
       DELETE FROM sync.push_sessions WHERE user_pk = $1 AND source_id = $2 AND source_bundle_id = $3
       RETURNING push_id)
     DELETE FROM sync.push_session_rows WHERE push_id = ANY (ARRAY(SELECT push_id FROM previous))`,
    [scope.scopePk, actor.sourceId, request.source_bundle_id],
  );

  const pushId = crypto.randomUUID();
  await client.query(
    `INSERT INTO sync.push_sessions (push_id, user_pk, source_id, source_bundle_id, planned_row_count,
       canonical_request_hash, initialization_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))`,
    [
      pushId,
      scope.scopePk,
      actor.sourceId,
      request.source_bundle_id,
      request.planned_row_count,
      request.canonical_request_hash,
      initializationId ?? null,
      limits.push_session_ttl_seconds,
    ],
  );
  return {
    status: "staging",
    push_id: pushId,
    planned_row_count: request.planned_row_count,
    next_expected_row_ordinal: 0,
    canonical_request_hash: request.canonical_request_hash,
  };
}

/** The already_committed answer for a retained committed tuple, or undefined. */
async function findCommittedTuple(
  client: SqlQueryable,
  scope: ScopeRecord,
  sourceId: string,
  sourceBundleId: number,
): Promise<PushCreateResponse | undefined> {
  const { rows } = await client.query<{
    bundle_seq: unknown;
    row_count: number;
    bundle_hash: string;
    canonical_request_hash: string;
  }>(
    `SELECT bundle_seq, row_count, encode(bundle_hash, 'hex') AS bundle_hash,
            encode(canonical_request_hash, 'hex') AS canonical_request_hash FROM sync.bundle_log
      WHERE user_pk = $1 AND source_id = $2 AND source_bundle_id = $3 AND bundle_seq > $4`,
    [scope.scopePk, sourceId, sourceBundleId, scope.retainedBundleFloor],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  await client.query("SELECT nextval('sync.accepted_push_replay_seq')");
  return {
    status: "already_committed",
    bundle_seq: toSafeInt(row.bundle_seq),
    source_id: sourceId,
    source_bundle_id: sourceBundleId,
    row_count: row.row_count,
    bundle_hash: row.bundle_hash,
    canonical_request_hash: row.canonical_request_hash,
  };
}

/**
 * Loads a session for a chunk, commit or delete call under the actor's lock, checking that it
 * exists (a push_id that is not a UUID cannot exist), belongs to the actor's scope and has not
 * expired.
 */
export async function loadSessionForActor(
  client: SqlQueryable,
  actor: Actor,
  pushId: string,
): Promise<PushSession> {
  const notFound = () => new OversyncError("push_session_not_found", `push session ${pushId} does not exist`);
  if (!isCanonicalUuid(pushId)) throw notFound();
  await lockScope(client, actor.scopeId);
  const { rows } = await client.query<{
    user_pk: unknown;
    user_id: string;
    source_id: string;
    source_bundle_id: unknown;
    planned_row_count: number;
    next_expected_row_ordinal: number;
    canonical_request_hash: string;
    initialization_id: string | null;
    expired: boolean;
  }>(
    // The owner's id by primary key in a subquery, not a join: a join may be planned as a walk
    // over user_state that grows with the number of users (a churned push_sessions index looks
    // expensive next to it); these two lookups stay one index probe each.
    `SELECT s.user_pk, (SELECT u.user_id FROM sync.user_state u WHERE u.user_pk = s.user_pk) AS user_id,
            s.source_id, s.source_bundle_id, s.planned_row_count,
            s.next_expected_row_ordinal, s.canonical_request_hash, s.initialization_id::text,
            s.expires_at <= now() AS expired
       FROM sync.push_sessions s
      WHERE s.push_id = $1 FOR UPDATE`,
    [pushId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound();
  if (row.user_id !== actor.scopeId) {
    throw new OversyncError("push_session_forbidden", `push session ${pushId} belongs to another scope`);
  }
  if (row.expired) {
    throw new OversyncError(
      "push_session_expired",
      `push session ${pushId} expired; create a new push session`,
    );
  }
  return {
    pushId,
    scopePk: toSafeInt(row.user_pk),
    scopeId: row.user_id,
    sourceId: row.source_id,
    sourceBundleId: toSafeInt(row.source_bundle_id),
    plannedRowCount: row.planned_row_count,
    nextExpectedRowOrdinal: row.next_expected_row_ordinal,
    canonicalRequestHash: row.canonical_request_hash,
    initializationId: row.initialization_id,
  };
}

/** Stages a validated chunk (protocol-latest §1.4). */
export async function uploadPushChunk(
  client: SqlQueryable,
  actor: Actor,
  pushId: string,
  request: PushChunkRequest,
  rows: readonly StagedRow[],
  limits: ResolvedLimits,
): Promise<PushChunkResponse> {
  const session = await loadSessionForActor(client, actor, pushId);
  if (session.initializationId !== null) {
    const scope = await loadScopeForWrite(client, actor.scopeId);
    await revalidateLease(
      client,
      scope,
      session.sourceId,
      session.initializationId,
      limits.initialization_lease_ttl_seconds,
    );
  }
  const start = request.start_row_ordinal;
  if (start !== session.nextExpectedRowOrdinal) {
    throw new OversyncError(
      "push_chunk_out_of_order",
      `push session ${pushId} expected start_row_ordinal ${session.nextExpectedRowOrdinal}, got ${start}`,
    );
  }
  const next = start + rows.length;
  if (next > session.plannedRowCount) {
    throw new OversyncError(
      "push_chunk_invalid",
      `chunk rows ${start}..${next - 1} exceed planned_row_count ${session.plannedRowCount}`,
    );
  }
  await client.query(
    `INSERT INTO sync.push_session_rows (push_id, row_ordinal, table_id, key_text, op, base_row_version, payload_wire)
     SELECT $1, $2 + r.ordinal - 1, r.table_id, r.key_text, r.op, r.base_row_version, r.payload_wire
       FROM ROWS FROM (unnest($3::int[]), unnest($4::text[]), unnest($5::smallint[]), unnest($6::bigint[]),
                       json_array_elements_text($7::json))
            WITH ORDINALITY AS r(table_id, key_text, op, base_row_version, payload_wire, ordinal)`,
    [
      pushId,
      start,
      rows.map((row) => row.table.tableId),
      rows.map((row) => row.keyText),
      rows.map((row) => row.op),
      rows.map((row) => row.baseRowVersion),
      // One JSON array (null for a delete): node-postgres would escape a text[] of JSON texts
      // element by element in JS.
      JSON.stringify(rows.map((row) => row.payloadWire)),
    ],
  );
  await client.query(
    `UPDATE sync.push_sessions SET next_expected_row_ordinal = $2, expires_at = now() + make_interval(secs => $3)
      WHERE push_id = $1`,
    [pushId, next, limits.push_session_ttl_seconds],
  );
  return { push_id: pushId, next_expected_row_ordinal: next };
}

/** Discards a session and its staged rows (protocol-latest §1.6). */
export async function deletePushSession(client: SqlQueryable, actor: Actor, pushId: string): Promise<void> {
  const session = await loadSessionForActor(client, actor, pushId);
  await deleteSession(client, session.pushId);
}
