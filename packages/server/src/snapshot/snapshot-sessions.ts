/**
 * Snapshot sessions (protocol-latest §1.9–§1.11): create freezes the scope's after-image in one
 * REPEATABLE READ transaction (snapshot-build.ts), chunk reads page through the frozen rows by
 * ordinal within `max_rows` and `max_bytes`, delete discards a session. Sessions expire after
 * `snapshot_session_ttl_seconds` (no sliding); expired ones answer 410 until the housekeeping
 * sweep (housekeeping.ts) deletes them. Each chunk read marks its session as used, so a scope's cap on open sessions only ever
 * evicts idle (abandoned) ones and never a restore in progress.
 */
import {
  OversyncError,
  type SnapshotCreateRequest,
  type SnapshotRowText,
  type SnapshotSession,
  isCanonicalUuid,
} from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import type { TableDirectory } from "../schema/table-catalog.js";
import { applySourceReplacement, checkSnapshotSource } from "../scope/source-replacement.js";
import { latestBundleSeq, lockScope, requireInitializedScope, rfc3339Sql } from "../scope/scope-state.js";
import type { ResolvedLimits } from "../service/service-options.js";
import type { Actor, SnapshotChunkInput, SnapshotChunkPage } from "../service/sync-service.js";
import { materializeSnapshot } from "./snapshot-build.js";
import {
  SNAPSHOT_RETRY_AFTER_SECONDS,
  SnapshotCapacityError,
  takeSnapshotSlot,
} from "./snapshot-capacity.js";

/** Snapshot options of createSyncService beyond the advertised limits. */
export interface SnapshotSessionOptions {
  /**
   * Open sessions one scope may hold, whichever user's device created them. Creating one more
   * first discards that scope's sessions idle for `idleSessionSeconds` (least recently used first),
   * so sessions a client abandoned cannot lock the scope out until they expire; when none is idle
   * the create is refused with 429 `snapshot_build_capacity` and the client retries, so restores in
   * progress are never cut off.
   * The cap is soft: creates building at the same moment (up to `max_concurrent_snapshot_builds`)
   * may each see room for one more. Default 8.
   */
  readonly maxOpenSessionsPerScope?: number;
  /** Seconds without a chunk read after which a session counts as abandoned. Default 30. */
  readonly idleSessionSeconds?: number;
}

/** Default of SnapshotSessionOptions.maxOpenSessionsPerScope. */
export const DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE = 8;

/** Default of SnapshotSessionOptions.idleSessionSeconds. */
export const DEFAULT_IDLE_SNAPSHOT_SESSION_SECONDS = 30;

/**
 * Deletes up to `batch` expired sessions of any scope with their rows, skipping ones another
 * transaction holds; answers how many sessions it deleted. The housekeeping sweep calls it, off the
 * request path.
 */
export async function purgeExpiredSnapshotSessions(client: SqlQueryable, batch: number): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `WITH expired AS (
       SELECT snapshot_id FROM sync.snapshot_sessions WHERE expires_at <= now()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED),
     gone AS (DELETE FROM sync.snapshot_sessions s USING expired e WHERE s.snapshot_id = e.snapshot_id
              RETURNING s.snapshot_id),
     frozen AS (DELETE FROM sync.snapshot_session_rows
                 WHERE snapshot_id = ANY (ARRAY(SELECT snapshot_id FROM gone)))
     SELECT count(*)::int AS n FROM gone`,
    [batch],
  );
  return rows[0]!.n;
}

/** Deletes sessions and their rows. */
async function deleteSessions(client: SqlQueryable, snapshotIds: readonly string[]): Promise<void> {
  if (snapshotIds.length === 0) return;
  await client.query("DELETE FROM sync.snapshot_session_rows WHERE snapshot_id = ANY($1::uuid[])", [
    snapshotIds,
  ]);
  await client.query("DELETE FROM sync.snapshot_sessions WHERE snapshot_id = ANY($1::uuid[])", [snapshotIds]);
}

/**
 * Creates a session in the caller's REPEATABLE READ transaction. Order: a build slot (429
 * snapshot_build_capacity), the scope (409 scope_uninitialized / scope_initializing), the source
 * (409 source_retired, or the replacement: source_replacement_invalid / source_retired), room for
 * one more of the scope's sessions, then the frozen rows (409 snapshot_session_limit_exceeded).
 */
export async function createSnapshotSession(
  client: SqlQueryable,
  directory: TableDirectory,
  actor: Actor,
  request: SnapshotCreateRequest,
  limits: ResolvedLimits,
  options: SnapshotSessionOptions,
): Promise<SnapshotSession> {
  await takeSnapshotSlot(client, "build", limits.max_concurrent_snapshot_builds);
  const replacement = request.source_replacement;
  // The replacement writes source_state, which every committing writer reads under this lock.
  if (replacement !== undefined) await lockScope(client, actor.scopeId);
  const scope = await requireInitializedScope(client, actor.scopeId);
  if (replacement === undefined) await checkSnapshotSource(client, scope.scopePk, actor.sourceId);
  else await applySourceReplacement(client, scope.scopePk, actor.sourceId, replacement);

  await makeRoomForSession(client, scope.scopePk, options);

  const snapshotId = crypto.randomUUID();
  const totals = await materializeSnapshot(
    client,
    directory,
    { snapshotId, scopePk: scope.scopePk, scopeId: actor.scopeId },
    limits,
  );
  const snapshotBundleSeq = latestBundleSeq(scope);
  const { rows } = await client.query<{ expires_at: string }>(
    `INSERT INTO sync.snapshot_sessions
       (snapshot_id, user_pk, source_id, snapshot_bundle_seq, row_count, byte_count, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
     RETURNING ${rfc3339Sql("expires_at")} AS expires_at`,
    [
      snapshotId,
      scope.scopePk,
      actor.sourceId,
      snapshotBundleSeq,
      totals.rowCount,
      totals.byteCount,
      limits.snapshot_session_ttl_seconds,
    ],
  );
  return {
    snapshot_id: snapshotId,
    snapshot_bundle_seq: snapshotBundleSeq,
    row_count: totals.rowCount,
    byte_count: totals.byteCount,
    expires_at: rows[0]!.expires_at,
  };
}

/**
 * Keeps the scope below the open-session cap: discards idle (or expired) sessions, least recently
 * used first, or refuses with 429 snapshot_build_capacity when the sessions still in use fill it.
 */
async function makeRoomForSession(
  client: SqlQueryable,
  scopePk: number,
  options: SnapshotSessionOptions,
): Promise<void> {
  const cap = options.maxOpenSessionsPerScope ?? DEFAULT_MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE;
  const idleSeconds = options.idleSessionSeconds ?? DEFAULT_IDLE_SNAPSHOT_SESSION_SECONDS;
  const { rows: open } = await client.query<{ snapshot_id: string; idle: boolean }>(
    `SELECT snapshot_id::text,
            (last_used_at <= now() - make_interval(secs => $2) OR expires_at <= now()) AS idle
       FROM sync.snapshot_sessions WHERE user_pk = $1 ORDER BY last_used_at, snapshot_id`,
    [scopePk, idleSeconds],
  );
  const excess = open.length - (cap - 1);
  if (excess <= 0) return;
  const idle = open.filter((session) => session.idle).slice(0, excess);
  if (idle.length < excess) {
    throw new SnapshotCapacityError(
      "snapshot_build_capacity",
      `this scope is already being read through ${open.length} snapshot sessions (at most ${cap}); retry after ${SNAPSHOT_RETRY_AFTER_SECONDS} s`,
    );
  }
  await deleteSessions(
    client,
    idle.map((session) => session.snapshot_id),
  );
}

/**
 * Marks the actor's session as used now. Its own statement, outside the chunk read's read-only
 * snapshot; an unknown or foreign id changes nothing (the read reports it).
 */
export async function touchSnapshotSession(
  client: SqlQueryable,
  actor: Actor,
  snapshotId: string,
): Promise<void> {
  if (!isCanonicalUuid(snapshotId)) return;
  await client.query(
    `UPDATE sync.snapshot_sessions s SET last_used_at = now()
       FROM sync.user_state u WHERE s.snapshot_id = $1 AND u.user_pk = s.user_pk AND u.user_id = $2`,
    [snapshotId, actor.scopeId],
  );
}

/** A session row as chunk reads and deletes see it. */
interface StoredSession {
  readonly snapshotBundleSeq: number;
  readonly rowCount: number;
  readonly expired: boolean;
}

/**
 * Finds `snapshotId` for `actor`: 404 snapshot_session_not_found (an id that is not a canonical
 * UUID names no session), 403 snapshot_session_forbidden (another scope's).
 */
async function findSession(
  client: SqlQueryable,
  actor: Actor,
  snapshotId: string,
  forUpdate: boolean,
): Promise<StoredSession> {
  const notFound = () =>
    new OversyncError(
      "snapshot_session_not_found",
      `snapshot session ${snapshotId} does not exist; create a new snapshot session`,
    );
  if (!isCanonicalUuid(snapshotId)) throw notFound();
  const { rows } = await client.query<{
    user_id: string;
    snapshot_bundle_seq: unknown;
    row_count: unknown;
    expired: boolean;
  }>(
    `SELECT u.user_id, s.snapshot_bundle_seq, s.row_count, s.expires_at <= now() AS expired
       FROM sync.snapshot_sessions s JOIN sync.user_state u USING (user_pk)
      WHERE s.snapshot_id = $1${forUpdate ? " FOR UPDATE OF s" : ""}`,
    [snapshotId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound();
  if (row.user_id !== actor.scopeId) {
    throw new OversyncError(
      "snapshot_session_forbidden",
      `snapshot session ${snapshotId} belongs to another scope`,
    );
  }
  return {
    snapshotBundleSeq: toSafeInt(row.snapshot_bundle_seq),
    rowCount: toSafeInt(row.row_count),
    expired: row.expired,
  };
}

/**
 * One chunk, in the caller's REPEATABLE READ transaction: the rows after `after_row_ordinal` (a
 * count of rows already read), at most `max_rows` of them and at most `max_bytes` of row text
 * (both clamped to the server maxima, defaults when absent). Errors: 400 snapshot_chunk_invalid
 * (a cursor past the end), snapshot_chunk_too_small (with `required_byte_count`); 403; 404; 410
 * snapshot_session_expired; 429 snapshot_chunk_capacity.
 */
export async function readSnapshotChunk(
  client: SqlQueryable,
  actor: Actor,
  request: SnapshotChunkInput,
  limits: ResolvedLimits,
): Promise<SnapshotChunkPage> {
  const snapshotId = request.snapshot_id;
  const session = await findSession(client, actor, snapshotId, false);
  if (session.expired) {
    throw new OversyncError(
      "snapshot_session_expired",
      `snapshot session ${snapshotId} expired; create a new snapshot session`,
    );
  }
  const after = request.after_row_ordinal ?? 0;
  if (after > session.rowCount) {
    throw new OversyncError(
      "snapshot_chunk_invalid",
      `after_row_ordinal ${after} is past the end of snapshot session ${snapshotId} (${session.rowCount} rows)`,
    );
  }
  const maxRows = Math.min(
    request.max_rows ?? limits.default_rows_per_snapshot_chunk,
    limits.max_rows_per_snapshot_chunk,
  );
  const maxBytes = Math.min(
    request.max_bytes ?? limits.default_bytes_per_snapshot_chunk,
    limits.max_bytes_per_snapshot_chunk,
  );
  await takeSnapshotSlot(client, "chunk", limits.max_concurrent_snapshot_chunk_requests);

  // One range read of the primary key: rows within the byte budget come with their text, and the
  // first row always comes (with its length) so an oversized one can be reported. A self-join that
  // read the texts separately was planned, when the table's statistics predated a large session,
  // as a nested loop rescanning the whole session for every row (seconds per chunk late in it).
  const { rows } = await client.query<{ byte_length: number; row_text: string | null }>(
    `SELECT byte_length, CASE WHEN running <= $4 THEN row_text END AS row_text
       FROM (SELECT row_ordinal, byte_length, row_text, sum(byte_length) OVER (ORDER BY row_ordinal) AS running
               FROM sync.snapshot_session_rows WHERE snapshot_id = $1 AND row_ordinal > $2
              ORDER BY row_ordinal LIMIT $3) p
      WHERE running <= $4 OR row_ordinal = $2 + 1
      ORDER BY row_ordinal`,
    [snapshotId, after, maxRows, maxBytes],
  );
  const page: SnapshotRowText[] = [];
  for (const row of rows) {
    if (row.row_text === null) break;
    page.push({ text: row.row_text, byteLength: row.byte_length });
  }
  const first = rows[0];
  if (page.length === 0 && first !== undefined) {
    throw new OversyncError(
      "snapshot_chunk_too_small",
      `the next row of snapshot session ${snapshotId} is ${first.byte_length} bytes, more than max_bytes ${maxBytes}; ask with max_bytes of at least ${first.byte_length}`,
      { extras: { required_byte_count: first.byte_length } },
    );
  }
  const next = after + page.length;
  return {
    snapshot_id: snapshotId,
    snapshot_bundle_seq: session.snapshotBundleSeq,
    rows: page,
    next_row_ordinal: next,
    has_more: next < session.rowCount,
    byte_count: page.reduce((sum, row) => sum + row.byteLength, 0),
  };
}

/**
 * Discards a session and its rows, expired or not. Errors: 404 snapshot_session_not_found, 403
 * snapshot_session_forbidden.
 */
export async function deleteSnapshotSession(
  client: SqlQueryable,
  actor: Actor,
  snapshotId: string,
): Promise<void> {
  await findSession(client, actor, snapshotId, true);
  await deleteSessions(client, [snapshotId]);
}
