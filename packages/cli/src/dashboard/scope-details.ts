/**
 * What PostgreSQL knows about the scopes and sources the dashboard lists: each scope's latest
 * bundle, retained floor and state, each listed source's state, latest committed bundle and last
 * commit time, and the snapshot sessions still open per source. Three statements per data request,
 * whatever the data: every one is keyed by the listed scopes (the `sync.user_state.user_id` unique
 * index, then the `user_pk` primary-key prefixes), so each costs a few index lookups per listed
 * scope and source, stays routable by scope (docs/scaling.md), and never scans a table.
 */
import type { SqlQueryable } from "@oversync/server";
import type { ScopeActivity } from "./server-activity.js";

/** A listed source's row of `sync.source_state`. */
export interface SourceDetails {
  readonly state: string;
  /** The source's latest committed `source_bundle_id`. */
  readonly committedSourceBundleId: number;
  /** When the source last committed (or changed state), ISO. */
  readonly lastCommitAt: string;
  readonly replacedBySourceId: string | null;
}

/** What the database holds for one scope. */
export interface ScopeDetails {
  readonly latestBundleSeq: number;
  readonly retainedFloor: number;
  /** `uninitialized`, `initializing` or `initialized`. */
  readonly scopeState: string;
  readonly sources: ReadonlyMap<string, SourceDetails>;
  /** Open (unexpired) snapshot sessions by source id, with the rows they hold. */
  readonly snapshots: ReadonlyMap<string, { readonly sessions: number; readonly rows: number }>;
}

/** The database's view of `scopes` (and of their listed sources), by scope id. */
export async function readScopeDetails(
  db: SqlQueryable,
  scopes: readonly ScopeActivity[],
): Promise<Map<string, ScopeDetails>> {
  const details = new Map<string, ScopeDetails>();
  if (scopes.length === 0) return details;
  const { rows: states } = await db.query<{
    user_pk: string;
    user_id: string;
    latest_bundle_seq: string;
    retained_bundle_floor: string;
    scope_state: string;
  }>(
    `SELECT user_pk::text AS user_pk, user_id, (next_bundle_seq - 1)::text AS latest_bundle_seq,
            retained_bundle_floor::text AS retained_bundle_floor, scope_state
       FROM sync.user_state
      WHERE user_id = ANY($1::text[])`,
    [scopes.map((scope) => scope.scopeId)],
  );
  if (states.length === 0) return details;
  const pkOf = new Map(states.map((state) => [state.user_id, state.user_pk]));
  const scopeOf = new Map(states.map((state) => [state.user_pk, state.user_id]));
  const pairs = scopes.flatMap((scope) => {
    const pk = pkOf.get(scope.scopeId);
    return pk === undefined ? [] : scope.sources.map((source) => [pk, source.sourceId] as const);
  });
  const pks = [...scopeOf.keys()];
  const { rows: sources } = await db.query<{
    user_pk: string;
    source_id: string;
    state: string;
    committed_source_bundle_id: string;
    replaced_by_source_id: string | null;
    updated_at: Date | string;
  }>(
    `SELECT s.user_pk::text AS user_pk, s.source_id, s.state,
            s.max_committed_source_bundle_id::text AS committed_source_bundle_id,
            s.replaced_by_source_id, s.updated_at
       FROM unnest($1::bigint[], $2::text[]) AS k(user_pk, source_id)
       JOIN sync.source_state s ON s.user_pk = k.user_pk AND s.source_id = k.source_id
      WHERE s.user_pk = ANY($3::bigint[])`,
    [pairs.map(([pk]) => pk), pairs.map(([, sourceId]) => sourceId), pks],
  );
  const { rows: snapshots } = await db.query<{
    user_pk: string;
    source_id: string;
    sessions: number;
    rows: string;
  }>(
    `SELECT user_pk::text AS user_pk, source_id, count(*)::int AS sessions, sum(row_count)::text AS rows
       FROM sync.snapshot_sessions
      WHERE user_pk = ANY($1::bigint[]) AND expires_at > now()
      GROUP BY user_pk, source_id`,
    [pks],
  );
  for (const state of states) {
    details.set(state.user_id, {
      latestBundleSeq: Number(state.latest_bundle_seq),
      retainedFloor: Number(state.retained_bundle_floor),
      scopeState: state.scope_state,
      sources: new Map(
        sources
          .filter((source) => source.user_pk === state.user_pk)
          .map((source) => [
            source.source_id,
            {
              state: source.state,
              committedSourceBundleId: Number(source.committed_source_bundle_id),
              lastCommitAt: new Date(source.updated_at).toISOString(),
              replacedBySourceId: source.replaced_by_source_id,
            },
          ]),
      ),
      snapshots: new Map(
        snapshots
          .filter((snapshot) => snapshot.user_pk === state.user_pk)
          .map((snapshot) => [
            snapshot.source_id,
            { sessions: Number(snapshot.sessions), rows: Number(snapshot.rows) },
          ]),
      ),
    });
  }
  return details;
}
