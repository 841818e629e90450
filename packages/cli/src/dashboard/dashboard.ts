/**
 * The reference server's diagnostics dashboard: `GET /dashboard`, a page with no data of its own
 * (dashboard-page.ts), and `GET /dashboard/data`, the JSON it polls every second: request rates and
 * latencies, bundles per second and totals from the Prometheus registry (metrics-history.ts), the
 * most recently active scopes with their users and sources (server-activity.ts) and what PostgreSQL
 * holds for them (scope-details.ts), watch subscribers, and the latest errors.
 *
 * Both are for admins (callers on this machine, or with the admin token). A browser sends no
 * `Authorization` header when a person opens a URL, so with an admin token set the page itself
 * answers everyone: it is the same bytes for every server and caller, holds nothing about this one,
 * and asks for the token, which it keeps in the tab's sessionStorage and sends as `Authorization:
 * Bearer` to the data route only (never in a URL, which logs and histories keep). Without a token
 * nobody off this machine could use the page, so it answers this machine alone, like the data.
 */
import type { AdminRoute, PublicRoute, SqlQueryable, SyncService } from "@oversync/server";
import { jsonResponse } from "@oversync/server";
import type { Registry } from "prom-client";
import { dashboardPageResponse } from "./dashboard-page.js";
import {
  type CurrentFigures,
  type EndpointFigures,
  MetricsHistory,
  type SeriesPoint,
  type Totals,
} from "./metrics-history.js";
import { type ScopeDetails, readScopeDetails } from "./scope-details.js";
import type { ServerActivity } from "./server-activity.js";

/** Where the page is served. */
export const DASHBOARD_PATH = "/dashboard";
/** Where the page reads its data. */
export const DASHBOARD_DATA_PATH = "/dashboard/data";
/** How often the page polls its data, in ms. */
export const DASHBOARD_POLL_MS = 1000;
/** The most recently active scopes the data lists. */
export const DASHBOARD_SCOPES = 50;

/** The route names (the `endpoint` label) of the two routes, left out of the traffic figures. */
const ROUTE_NAMES = { page: "dashboard", data: "dashboardData" } as const;

/** A source (device) of a listed scope. */
export interface DashboardSource {
  readonly source_id: string;
  /** When this process last heard from it, ISO. */
  readonly last_seen: string;
  /** The endpoint of that request. */
  readonly last_endpoint: string;
  /** From `sync.source_state`; null when it has none yet (it has not connected or committed). */
  readonly state: string | null;
  readonly committed_source_bundle_id: number | null;
  readonly last_commit_at: string | null;
  readonly replaced_by_source_id: string | null;
  /** Its open snapshot sessions. */
  readonly pending_snapshots: number;
}

/** A listed scope: a user's own (its id is the user's), or a shared one such as a workspace. */
export interface DashboardScope {
  readonly scope_id: string;
  /** The users seen acting on it, most recent first. */
  readonly user_ids: readonly string[];
  readonly last_seen: string;
  /** From `sync.user_state`; null when the scope has no sync state yet. */
  readonly latest_bundle_seq: number | null;
  readonly retained_floor: number | null;
  readonly scope_state: string | null;
  /** Open watch streams on it in this process. */
  readonly watch_subscribers: number;
  readonly pending_snapshots: number;
  /** Its most recently seen sources. */
  readonly sources: readonly DashboardSource[];
}

/** A remembered problem (server-activity.ts ErrorEntry), in the JSON's spelling. */
export interface DashboardError {
  readonly time: string;
  readonly level: "error" | "warn";
  readonly message: string;
  readonly detail?: string;
  readonly path?: string;
  readonly status?: number;
  readonly code?: string;
  readonly user_id?: string;
  readonly scope_id?: string;
}

/** The body of `GET /dashboard/data`. */
export interface DashboardData {
  readonly generated_at: string;
  readonly poll_interval_ms: number;
  /** From the status counters (up to ten seconds old); null while they cannot be read. */
  readonly server: {
    readonly app_name: string | null;
    readonly lifecycle: string | null;
    readonly accepting_operations: boolean | null;
    readonly inflight_operations: number | null;
    readonly started_at: string;
  };
  /** The last `window_seconds`, the dashboard's own requests left out. */
  readonly current: CurrentFigures;
  readonly totals: Totals;
  /** Chart points after `?since=<epoch ms>`, up to `limits.history_seconds` back. */
  readonly series: readonly SeriesPoint[];
  readonly endpoints: readonly EndpointFigures[];
  /** Whether the database answered the scope queries; the scopes' database fields are null if not. */
  readonly database_ok: boolean;
  readonly scopes: readonly DashboardScope[];
  /** How many scopes this process remembers (the list shows the most recent `limits.scopes`). */
  readonly scopes_tracked: number;
  readonly watch: {
    readonly open_streams: number;
    /** Remembered scopes with open streams, most subscribers first. */
    readonly scopes: readonly { readonly scope_id: string; readonly subscribers: number }[];
  };
  /** Newest first. */
  readonly errors: readonly DashboardError[];
  readonly limits: {
    readonly scopes: number;
    readonly sources_per_scope: number;
    readonly errors: number;
    readonly history_seconds: number;
  };
}

export interface DashboardOptions {
  /** The registry the server records into (createServerMetrics). */
  readonly registry: Registry;
  /** The server's database, for the scope queries. */
  readonly db: SqlQueryable;
  /** The activity its loggers feed (ServerActivity.tap). */
  readonly activity: ServerActivity;
  readonly now?: () => number;
}

/** A server's dashboard: its two routes and the data behind them. */
export interface Dashboard {
  /**
   * The page and data routes. The page answers everyone with `openPage` (set it when an admin
   * token exists, so a person elsewhere can open the page and give it the token), admins otherwise.
   */
  routes(openPage: boolean): (AdminRoute | PublicRoute)[];
  /** The data route's body for `service`, with chart points after `since`. */
  data(service: SyncService, since?: number): Promise<DashboardData>;
}

export function createDashboard(options: DashboardOptions): Dashboard {
  const now = options.now ?? Date.now;
  const { activity } = options;
  const history = new MetricsHistory(options.registry, {
    excludedEndpoints: Object.values(ROUTE_NAMES),
  });
  const startedAt = new Date(now()).toISOString();

  async function data(service: SyncService, since = 0): Promise<DashboardData> {
    const at = now();
    const metrics = await history.view(at, since);
    const status = await service.status("recent").catch(() => undefined);
    const recent = activity.recentScopes(DASHBOARD_SCOPES);
    let details: Map<string, ScopeDetails> | undefined;
    try {
      details = await readScopeDetails(options.db, recent);
    } catch {
      // The failure is the database's; its own lines already reach the log and the errors list.
      details = undefined;
    }
    const watched = activity
      .scopeIds()
      .map((scopeId) => ({ scope_id: scopeId, subscribers: service.watchSubscriberCount(scopeId) }))
      .filter((scope) => scope.subscribers > 0)
      .sort((a, b) => b.subscribers - a.subscribers);
    return {
      generated_at: new Date(at).toISOString(),
      poll_interval_ms: DASHBOARD_POLL_MS,
      server: {
        app_name: status?.app_name ?? null,
        lifecycle: status?.lifecycle ?? null,
        accepting_operations: status?.accepting_operations ?? null,
        inflight_operations: status?.inflight_operations ?? null,
        started_at: startedAt,
      },
      current: metrics.current,
      totals: metrics.totals,
      series: metrics.series,
      endpoints: metrics.endpoints,
      database_ok: details !== undefined,
      scopes: recent.map((scope): DashboardScope => {
        const held = details?.get(scope.scopeId);
        const sources = scope.sources.map((source): DashboardSource => {
          const row = held?.sources.get(source.sourceId);
          return {
            source_id: source.sourceId,
            last_seen: new Date(source.lastSeen).toISOString(),
            last_endpoint: source.lastEndpoint,
            state: row?.state ?? null,
            committed_source_bundle_id: row?.committedSourceBundleId ?? null,
            last_commit_at: row?.lastCommitAt ?? null,
            replaced_by_source_id: row?.replacedBySourceId ?? null,
            pending_snapshots: held?.snapshots.get(source.sourceId)?.sessions ?? 0,
          };
        });
        let pending = 0;
        for (const snapshot of held?.snapshots.values() ?? []) pending += snapshot.sessions;
        return {
          scope_id: scope.scopeId,
          user_ids: scope.userIds,
          last_seen: new Date(scope.lastSeen).toISOString(),
          latest_bundle_seq: held?.latestBundleSeq ?? null,
          retained_floor: held?.retainedFloor ?? null,
          scope_state: held?.scopeState ?? null,
          watch_subscribers: service.watchSubscriberCount(scope.scopeId),
          pending_snapshots: pending,
          sources,
        };
      }),
      scopes_tracked: activity.scopeCount,
      watch: { open_streams: metrics.current.open_watch_streams, scopes: watched },
      errors: activity.latestErrors().map(
        ({ userId, scopeId, ...entry }): DashboardError => ({
          ...entry,
          ...(userId === undefined ? {} : { user_id: userId }),
          ...(scopeId === undefined ? {} : { scope_id: scopeId }),
        }),
      ),
      limits: {
        scopes: DASHBOARD_SCOPES,
        sources_per_scope: activity.limits.sourcesPerScope,
        errors: activity.limits.errors,
        history_seconds: history.historySeconds,
      },
    };
  }

  return {
    data,
    routes(openPage) {
      const page = {
        method: "GET",
        path: DASHBOARD_PATH,
        failureCode: "internal_error",
        name: ROUTE_NAMES.page,
        handle: async () => dashboardPageResponse(),
      } as const;
      const dataRoute: AdminRoute = {
        method: "GET",
        path: DASHBOARD_DATA_PATH,
        auth: "admin",
        failureCode: "internal_error",
        name: ROUTE_NAMES.data,
        async handle({ service, url }) {
          const since = Number(url.searchParams.get("since") ?? "0");
          const body = await data(service, Number.isFinite(since) ? since : 0);
          return jsonResponse(body, 200, { "cache-control": "no-store" });
        },
      };
      // "/dashboard/" is how people type it; relative, so a proxy's path prefix is kept.
      const slash = {
        ...page,
        path: `${DASHBOARD_PATH}/`,
        handle: async () => new Response(null, { status: 308, headers: { location: "../dashboard" } }),
      } as const;
      return [
        ...[page, slash].map((route) =>
          openPage ? { ...route, auth: "none" as const } : { ...route, auth: "admin" as const },
        ),
        dataRoute,
      ];
    },
  };
}
