/**
 * Per-user state: the advisory lock that serializes one user's writers, the `sync.user_state` row
 * (bundle counter, retained floor, scope initialization state) and the lazy expiry of an
 * initialization lease.
 */
import { OversyncError } from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";

/** The scope's initialization state. */
export type ScopeState = "uninitialized" | "initializing" | "initialized";

/** A user's state row. Time values are computed by the database clock. */
export interface UserState {
  readonly userPk: number;
  readonly userId: string;
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
export function latestBundleSeq(user: UserState): number {
  return user.nextBundleSeq - 1;
}

/** RFC 3339 UTC text with microseconds, computed in SQL from a timestamptz expression. */
export function rfc3339Sql(expression: string): string {
  return `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

const USER_COLUMNS = `user_pk, user_id, next_bundle_seq, retained_bundle_floor, scope_state,
  initializer_source_id, initialization_id::text AS initialization_id,
  ${rfc3339Sql("lease_expires_at")} AS lease_expires_at,
  floor(extract(epoch FROM lease_expires_at - now()))::int AS lease_seconds_left,
  coalesce(lease_expires_at <= now(), false) AS lease_expired`;

interface UserRow {
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

function toUserState(row: UserRow): UserState {
  return {
    userPk: toSafeInt(row.user_pk),
    userId: row.user_id,
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
 * Takes the user's transaction-scoped advisory lock. Every writer for one user (connect, push
 * create/chunk/commit/delete, server-originated bundles) holds it, so a user's bundles are sealed
 * one at a time; other users' locks are independent (two users whose ids hash alike merely wait
 * for each other). It is released when the transaction ends, so no session is left holding it.
 */
export async function lockUser(client: SqlQueryable, userId: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [userId]);
}

/** Reads the user's row without creating it. */
export async function findUserState(client: SqlQueryable, userId: string): Promise<UserState | undefined> {
  const { rows } = await client.query<UserRow>(
    `SELECT ${USER_COLUMNS} FROM sync.user_state WHERE user_id = $1`,
    [userId],
  );
  return rows[0] === undefined ? undefined : toUserState(rows[0]);
}

/**
 * Returns the user's row, creating it (scope uninitialized) when missing, and expires a lapsed
 * initialization lease on the way (the scope goes back to uninitialized). Call under lockUser.
 */
export async function loadUserForWrite(client: SqlQueryable, userId: string): Promise<UserState> {
  let user = await findUserState(client, userId);
  if (user === undefined) {
    const { rows } = await client.query<UserRow>(
      `INSERT INTO sync.user_state (user_id) VALUES ($1) RETURNING ${USER_COLUMNS}`,
      [userId],
    );
    user = toUserState(rows[0]!);
  }
  if (user.scopeState === "initializing" && user.leaseExpired) {
    return setUninitialized(client, user.userPk);
  }
  return user;
}

/**
 * The scope as a read path sees it, without writing: an initializing scope whose lease has passed
 * reads as uninitialized.
 */
export function effectiveScopeState(user: UserState): ScopeState {
  if (user.scopeState === "initializing" && user.leaseExpired) return "uninitialized";
  return user.scopeState;
}

/**
 * The user of a read path (pull, snapshot, watch), whose scope must be initialized: 409
 * scope_uninitialized when it has never been (or its initializer's lease lapsed), 409
 * scope_initializing while a source seeds it.
 */
export async function requireInitializedUser(client: SqlQueryable, userId: string): Promise<UserState> {
  const user = await findUserState(client, userId);
  const scope = user === undefined ? "uninitialized" : effectiveScopeState(user);
  if (user === undefined || scope === "uninitialized") {
    throw new OversyncError("scope_uninitialized", "the scope is not initialized; connect first");
  }
  if (scope === "initializing") {
    throw new OversyncError(
      "scope_initializing",
      "another source is initializing the scope; retry after it finishes",
    );
  }
  return user;
}

async function updateUser(
  client: SqlQueryable,
  userPk: number,
  set: string,
  values: unknown[],
): Promise<UserState> {
  const { rows } = await client.query<UserRow>(
    `UPDATE sync.user_state SET ${set} WHERE user_pk = $1 RETURNING ${USER_COLUMNS}`,
    [userPk, ...values],
  );
  return toUserState(rows[0]!);
}

/** Moves the scope back to uninitialized (lease lapsed). */
export function setUninitialized(client: SqlQueryable, userPk: number): Promise<UserState> {
  return updateUser(
    client,
    userPk,
    `scope_state = 'uninitialized', initializer_source_id = NULL, initialization_id = NULL,
     lease_expires_at = NULL`,
    [],
  );
}

/** Starts or refreshes an initialization lease held by `sourceId` under `initializationId`. */
export function setInitializing(
  client: SqlQueryable,
  userPk: number,
  sourceId: string,
  initializationId: string,
  leaseSeconds: number,
): Promise<UserState> {
  return updateUser(
    client,
    userPk,
    `scope_state = 'initializing', initializer_source_id = $2, initialization_id = $3::uuid,
     lease_expires_at = now() + make_interval(secs => $4)`,
    [sourceId, initializationId, leaseSeconds],
  );
}

/** Refreshes the current lease's end to now + `leaseSeconds`. */
export function refreshLease(client: SqlQueryable, userPk: number, leaseSeconds: number): Promise<UserState> {
  return updateUser(client, userPk, "lease_expires_at = now() + make_interval(secs => $2)", [leaseSeconds]);
}

/** Marks the scope initialized by `sourceId`. */
export function setInitialized(client: SqlQueryable, userPk: number, sourceId: string): Promise<UserState> {
  return updateUser(
    client,
    userPk,
    `scope_state = 'initialized', initializer_source_id = NULL, initialization_id = NULL,
     lease_expires_at = NULL, initialized_at = now(), initialized_by_source_id = $2`,
    [sourceId],
  );
}
