/**
 * Route definitions and matching. A route is a method, a path pattern with `:name` segments, how
 * its caller is identified, and the 5xx code an unexpected fault on it is answered with. Hosts and
 * later endpoints add routes by passing more of them to createSyncHandler.
 */
import type { ErrorCode } from "@oversync/protocol";
import type { Actor, SyncService } from "../service/sync-service.js";

/** The HTTP methods sync routes use. */
export type RouteMethod = "GET" | "POST" | "DELETE";

/** What every route handler gets. */
export interface RouteContext {
  readonly request: Request;
  readonly url: URL;
  /** Path parameters by name, still percent-encoded as they arrived. */
  readonly params: Readonly<Record<string, string>>;
  readonly service: SyncService;
  /** The body as text, within the handler's size limit (413 beyond it). */
  bodyText(): Promise<string>;
}

interface RouteBase {
  readonly method: RouteMethod;
  /** Path below the base path, e.g. `/sync/push-sessions/:push_id/chunks`. */
  readonly path: string;
  /** The code an unexpected fault is answered with (a generic message; details go to the log). */
  readonly failureCode: ErrorCode;
}

/** A route whose caller must be authenticated and name its source (`/sync/*`). */
export interface ActorRoute extends RouteBase {
  readonly auth: "actor";
  handle(context: RouteContext & { readonly actor: Actor }): Promise<Response>;
}

/** A route anyone may call (`/syncx/*`, test helpers). */
export interface PublicRoute extends RouteBase {
  readonly auth: "none";
  handle(context: RouteContext): Promise<Response>;
}

/** One endpoint. */
export type SyncRoute = ActorRoute | PublicRoute;

/** The outcome of matching a request path and method. */
export type RouteMatch =
  | { readonly kind: "found"; readonly route: SyncRoute; readonly params: Record<string, string> }
  | { readonly kind: "wrong_method"; readonly allowed: readonly RouteMethod[] }
  | { readonly kind: "none" };

interface CompiledRoute {
  readonly route: SyncRoute;
  readonly segments: readonly string[];
}

/** Matches paths against a fixed route list; the first route declared for a method and path wins. */
export class RouteTable {
  private readonly compiled: readonly CompiledRoute[];

  constructor(routes: readonly SyncRoute[]) {
    this.compiled = routes.map((route) => ({ route, segments: route.path.split("/") }));
  }

  /** Finds the route for `method` and `path` (below the base path). */
  match(method: string, path: string): RouteMatch {
    const segments = path.split("/");
    const allowed: RouteMethod[] = [];
    for (const { route, segments: pattern } of this.compiled) {
      const params = matchSegments(pattern, segments);
      if (params === undefined) continue;
      if (route.method === method) return { kind: "found", route, params };
      if (!allowed.includes(route.method)) allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: "wrong_method", allowed } : { kind: "none" };
  }
}

function matchSegments(
  pattern: readonly string[],
  segments: readonly string[],
): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i]!;
    const actual = segments[i]!;
    if (expected.startsWith(":")) {
      if (actual === "") return undefined;
      params[expected.slice(1)] = actual;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}
