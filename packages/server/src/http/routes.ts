/**
 * Route definitions and matching. A route is a method, a path pattern with `:name` segments, how
 * its caller is identified (an actor, anyone, or an admin), and the 5xx code an unexpected fault on
 * it is answered with. A protocol endpoint's route takes all four from the endpoint table
 * (endpointRoute); hosts and later endpoints add routes by passing more of them to
 * createSyncHandler.
 */
import {
  ENDPOINTS,
  type EndpointContract,
  type EndpointMethod,
  type ErrorCode,
  matchPath,
} from "@oversync/protocol";
import type { Actor, SyncService } from "../service/sync-service.js";
import type { TelemetryRecorder } from "../telemetry/telemetry-recorder.js";

/** The HTTP methods sync routes use. */
export type RouteMethod = EndpointMethod;

/** What every route handler gets. */
export interface RouteContext {
  readonly request: Request;
  readonly url: URL;
  /** Path parameters by name, still percent-encoded as they arrived. */
  readonly params: Readonly<Record<string, string>>;
  readonly service: SyncService;
  /** The body as text, within the handler's size limit (413 beyond it). */
  bodyText(): Promise<string>;
  /** The handler's recorder (records nothing unless the host gave one), for what a route carries. */
  readonly telemetry: TelemetryRecorder;
}

interface RouteBase {
  readonly method: RouteMethod;
  /** Path below the base path, e.g. `/sync/push-sessions/:push_id/chunks`. */
  readonly path: string;
  /** The code an unexpected fault is answered with (a generic message; details go to the log). */
  readonly failureCode: ErrorCode;
  /**
   * What metrics and logs call the route (the `endpoint` label): a protocol endpoint's name in
   * ENDPOINTS (`pushCommit`); `path` when absent.
   */
  readonly name?: string;
}

/** A route whose caller must be authenticated and name its source (`/sync/*`). */
export interface ActorRoute extends RouteBase {
  readonly auth: "actor";
  handle(context: RouteContext & { readonly actor: Actor }): Promise<Response>;
}

/** A route anyone may call (`/syncx/health`, sign-in). */
export interface PublicRoute extends RouteBase {
  readonly auth: "none";
  handle(context: RouteContext): Promise<Response>;
}

/**
 * A route for admins only (`/syncx/status`, test helpers): callers on the server's machine or with
 * the admin token (createSyncHandler's `adminAccess`); anyone else gets 403 `admin_access_denied`.
 */
export interface AdminRoute extends RouteBase {
  readonly auth: "admin";
  handle(context: RouteContext): Promise<Response>;
}

/** One endpoint. */
export type SyncRoute = ActorRoute | PublicRoute | AdminRoute;

/** `route` for admins only (an endpoint the table lists as unauthenticated, such as status). */
export function adminRoute(route: PublicRoute | AdminRoute): AdminRoute {
  return { ...route, auth: "admin" };
}

/** `route` open to anyone (a host that opens its status or test helpers to every caller). */
export function publicRoute(route: PublicRoute | AdminRoute): PublicRoute {
  return { ...route, auth: "none" };
}

/** The route of a protocol endpoint: its method, path, auth and failure code from the table. */
export function endpointRoute(
  endpoint: EndpointContract & { readonly auth: "actor" },
  handle: ActorRoute["handle"],
): ActorRoute;
export function endpointRoute(
  endpoint: EndpointContract & { readonly auth: "none" },
  handle: PublicRoute["handle"],
): PublicRoute;
export function endpointRoute(
  endpoint: EndpointContract,
  handle: ActorRoute["handle"] | PublicRoute["handle"],
): SyncRoute {
  const { method, path, auth } = endpoint;
  const failureCode = endpoint.failureCode ?? "internal_error";
  const name = Object.entries(ENDPOINTS).find(([, entry]) => entry === endpoint)?.[0];
  return { method, path, auth, failureCode, ...(name === undefined ? {} : { name }), handle } as SyncRoute;
}

/** The outcome of matching a request path and method. */
export type RouteMatch =
  | { readonly kind: "found"; readonly route: SyncRoute; readonly params: Record<string, string> }
  | { readonly kind: "wrong_method"; readonly allowed: readonly RouteMethod[] }
  | { readonly kind: "none" };

/** Matches paths against a fixed route list; the first route declared for a method and path wins. */
export class RouteTable {
  private readonly routes: readonly SyncRoute[];

  constructor(routes: readonly SyncRoute[]) {
    this.routes = routes;
  }

  /** Finds the route for `method` and `path` (below the base path). */
  match(method: string, path: string): RouteMatch {
    const allowed: RouteMethod[] = [];
    for (const route of this.routes) {
      const params = matchPath(route.path, path);
      if (params === undefined) continue;
      if (route.method === method) return { kind: "found", route, params };
      if (!allowed.includes(route.method)) allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: "wrong_method", allowed } : { kind: "none" };
  }
}
