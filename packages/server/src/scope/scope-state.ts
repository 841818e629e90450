/**
 * Per-scope state: the advisory lock that serializes one scope's writers, the scope's row (bundle
 * counter, retained floor, initialization state) and the lazy expiry of an initialization lease.
 *
 * The row lives in `sync.user_state`, keyed by `user_id`: the layout's names predate shared scopes
 * (a scope was always its user's) and stay, so existing databases need no migration; `user_id`
 * holds the scope id and `user_pk` is the scope's key.
 */
import { OversyncError } from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";

/** The scope's initialization state. */
export type ScopeState = "uninitialized" | "initializing" | "initialized";

/** A scope's state row. Time values are computed by the database clock. */
export interface ScopeRecord {
  readonly scopePk: number;
  readonly scopeId: string;
  readonly nextBundleSeq: number;
  readonly retainedBundleFloor: number;
  readonly scopeState: ScopeState;
  readonly initializerSourceId: string | null;
  readonly initializationId: string | null;
  /** RFC 3339 UTC text of the lease end, when initializing. */
  readonly leaseExpiresAt: string | null;
  /** Whole seconds left on the lease (may be ≤ 0 once it has passed). */
  readonly leaseSecondsLeft: number | null;
  /** True when initializing and the lease end has passed. */
  readonly leaseExpired: boolean;
}

/** The latest committed bundle seq (0 before the first bundle). */
export function latestBundleSeq(scope: ScopeRecord): number {
  return scope.nextBundleSeq - 1;
}

/** RFC 3339 UTC text with microseconds, computed in SQL from a timestamptz expression. */
export function rfc3339Sql(expression: string): string {
  return `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

const SCOPE_COLUMNS = `user_pk, user_id, next_bundle_seq, retained_bundle_floor, scope_state,
  initializer_source_id, initialization_id::text AS initialization_id,
  ${rfc3339Sql("lease_expires_at")} AS lease_expires_at,
  floor(extract(epoch FROM lease_expires_at - now()))::int AS lease_seconds_left,
  coalesce(lease_expires_at <= now(), false) AS lease_expired`;

interface ScopeRow {
  user_pk: unknown;
  user_id: string;
  next_bundle_seq: unknown;
  retained_bundle_floor: unknown;
  scope_state: ScopeState;
  initializer_source_id: string | null;
  initialization_id: string | null;
  lease_expires_at: string | null;
  lease_seconds_left: number | null;
  lease_expired: boolean;
}

function toScopeRecord(row: ScopeRow): ScopeRecord {
  return {
    scopePk: toSafeInt(row.user_pk),
    scopeId: row.user_id,
    nextBundleSeq: toSafeInt(row.next_bundle_seq),
    retainedBundleFloor: toSafeInt(row.retained_bundle_floor),
    scopeState: row.scope_state,
    initializerSourceId: row.initializer_source_id,
    initializationId: row.initialization_id,
    leaseExpiresAt: row.lease_expires_at,
    leaseSecondsLeft: row.lease_seconds_left,
    leaseExpired: row.lease_expired,
  };
}

/**
 * Takes the scope's transaction-scoped advisory lock. Every writer to one scope (connect, push
 * create/chunk/commit/delete, server-originated bundles), whichever user it acts for, holds it, so
 * a scope's bundles are sealed one at a time; other scopes' locks are independent (two scopes whose
 * ids hash alike merely wait for each other). It is released when the transaction ends, so no
 * session is left holding it.
 */
export async function lockScope(client: SqlQueryable, scopeId: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [scopeId]);
}

/** Reads the scope's row without creating it. */
export async function findScope(client: SqlQueryable, scopeId: string): Promise<ScopeRecord | undefined> {
  const { rows } = await client.query<ScopeRow>(
    `SELECT ${SCOPE_COLUMNS} FROM sync.user_state WHERE user_id = $1`,
    [scopeId],
  );
  return rows[0] === undefined ? undefined : toScopeRecord(rows[0]);
}

/**
 * Returns the scope's row, creating it (uninitialized) when missing, and expires a lapsed
 * initialization lease on the way (the scope goes back to uninitialized). Call under lockScope.
 */
export async function loadScopeForWrite(client: SqlQueryable, scopeId: string): Promise<ScopeRecord> {
  let scope = await findScope(client, scopeId);
  if (scope === undefined) {
    const { rows } = await client.query<ScopeRow>(
      `INSERT INTO sync.user_state (user_id) VALUES ($1) RETURNING ${SCOPE_COLUMNS}`,
      [scopeId],
    );
    scope = toScopeRecord(rows[0]!);
  }
  if (scope.scopeState === "initializing" && scope.leaseExpired) {
    return setUninitialized(client, scope.scopePk);
  }
  return scope;
}

/**
 * The scope as a read path sees it, without writing: an initializing scope whose lease has passed
 * reads as uninitialized.
 */
export function effectiveScopeState(scope: ScopeRecord): ScopeState {
  if (scope.scopeState === "initializing" && scope.leaseExpired) return "uninitialized";
  return scope.scopeState;
}

/**
 * The scope of a read path (pull, snapshot, watch), which must be initialized: 409
 * scope_uninitialized when it has never been (or its initializer's lease lapsed), 409
 * scope_initializing while a source seeds it.
 */
export async function requireInitializedScope(client: SqlQueryable, scopeId: string): Promise<ScopeRecord> {
  const scope = await findScope(client, scopeId);
  const state = scope === undefined ? "uninitialized" : effectiveScopeState(scope);
  if (scope === undefined || state === "uninitialized") {
    throw new OversyncError("scope_uninitialized", "the scope is not initialized; connect first");
  }
  if (state === "initializing") {
    throw new OversyncError(
      "scope_initializing",
      "another source is initializing the scope; retry after it finishes",
    );
  }
  return scope;
}

async function updateScope(
  client: SqlQueryable,
  scopePk: number,
  set: string,
  values: unknown[],
): Promise<ScopeRecord> {
  const { rows } = await client.query<ScopeRow>(
    `UPDATE sync.user_state SET ${set} WHERE user_pk = $1 RETURNING ${SCOPE_COLUMNS}`,
    [scopePk, ...values],
  );
  return toScopeRecord(rows[0]!);
}

/** Moves the scope back to uninitialized (lease lapsed). */
export function setUninitialized(client: SqlQueryable, scopePk: number): Promise<ScopeRecord> {
  return updateScope(
    client,
    scopePk,
    `scope_state = 'uninitialized', initializer_source_id = NULL, initialization_id = NULL,
     lease_expires_at = NULL`,
    [],
  );
}

/** Starts or refreshes an initialization lease held by `sourceId` under `initializationId`. */
export function setInitializing(
  client: SqlQueryable,
  scopePk: number,
  sourceId: string,
  initializationId: string,
  leaseSeconds: number,
): Promise<ScopeRecord> {
  return updateScope(
    client,
    scopePk,
    `scope_state = 'initializing', initializer_source_id = $2, initialization_id = $3::uuid,
     lease_expires_at = now() + make_interval(secs => $4)`,
    [sourceId, initializationId, leaseSeconds],
  );
}

/** Refreshes the current lease's end to now + `leaseSeconds`. */
export function refreshLease(
  client: SqlQueryable,
  scopePk: number,
  leaseSeconds: number,
): Promise<ScopeRecord> {
  return updateScope(client, scopePk, "lease_expires_at = now() + make_interval(secs => $2)", [leaseSeconds]);
}

/** Marks the scope initialized by `sourceId`. */
export function setInitialized(
  client: SqlQueryable,
  scopePk: number,
  sourceId: string,
): Promise<ScopeRecord> {
  return updateScope(
    client,
    scopePk,
    `scope_state = 'initialized', initializer_source_id = NULL, initialization_id = NULL,
     lease_expires_at = NULL, initialized_at = now(), initialized_by_source_id = $2`,
    [sourceId],
  );
}
