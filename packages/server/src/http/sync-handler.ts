/**
 * The Fetch-API handler for every sync route: `(Request, ConnectionInfo?) => Promise<Response>`. It
 * matches the route, authenticates through the host's hook (the user, and the scope the request
 * acts on), takes the source from `Oversync-Source-ID`, lets only admins reach admin routes
 * (admin-access.ts), adds CORS headers for allowed origins (cors.ts), and turns every failure into a
 * JSON error body; unexpected faults are logged and answered with the route's generic 5xx code,
 * never with their message or stack. Each request is observed (request-telemetry.ts): its span,
 * its figures and its log lines.
 */
import {
  ENDPOINTS,
  OversyncError,
  SOURCE_ID_HEADER,
  matchPath,
  scopeIdProblem,
  sourceIdProblem,
  userIdProblem,
} from "@oversync/protocol";
import type { Actor, SyncService } from "../service/sync-service.js";
import { type SyncLogger, consoleLogger } from "../telemetry/sync-logger.js";
import { NO_TELEMETRY, type TelemetryRecorder, guardRecorder } from "../telemetry/telemetry-recorder.js";
import {
  type AdminAccess,
  AdminAccessError,
  type ConnectionInfo,
  adminAccessDeniedResponse,
  checkAdminAccess,
} from "./admin-access.js";
import { type CorsOptions, corsPolicy } from "./cors.js";
import { readBodyText } from "./request-body.js";
import { type RequestFacts, observeRequest } from "./request-telemetry.js";
import { errorResponse } from "./responses.js";
import { type RouteContext, RouteTable, type SyncRoute, publicRoute } from "./routes.js";
import { ScopeForbiddenError, scopeForbiddenResponse } from "./scope-forbidden.js";
import { SYNC_ROUTES } from "./sync-routes.js";

/** The trusted identity the host's authentication yields for a request. */
export interface AuthenticatedUser {
  /** The person (or service) behind the request: `Actor.userId`, for the host's hooks and logs. */
  readonly userId: string;
  /**
   * The scope whose rows the request reads and writes (`Actor.scopeId`); the user's own scope,
   * whose id is `userId`, when absent. A shared scope's id must be one no user id can take (say, a
   * prefix the host never lets a user id start with): user and scope ids are one namespace.
   */
  readonly scopeId?: string;
}

/** What `authenticate` learns besides the request: where below the base path it arrived. */
export interface AuthenticationContext {
  /** The values of the base path's `:name` segments, percent-decoded (`{}` for a fixed base path). */
  readonly basePathParams: Readonly<Record<string, string>>;
}

/** Options of createSyncHandler. */
export interface SyncHandlerOptions {
  readonly service: SyncService;
  /**
   * The host's authentication: the user behind the request and the scope it acts on, or null to
   * answer 401 `authentication_failed`. Throw ScopeForbiddenError to answer 403 (a user who may not
   * use the scope the request names).
   */
  readonly authenticate: (
    request: Request,
    context: AuthenticationContext,
  ) => Promise<AuthenticatedUser | null>;
  /**
   * A path prefix the routes live under, such as `/api/v1`; none by default. A segment `:name`
   * matches any one non-empty segment and reaches `authenticate` as `basePathParams.name`, so one
   * handler can serve many scopes under their own base URLs (`/w/:workspace`: clients use
   * `https://host/w/<workspace>` as their base URL).
   */
  readonly basePath?: string;
  /** The largest request body accepted, in bytes (413 beyond it). Default 64 MiB. */
  readonly maxBodyBytes?: number;
  /**
   * Faults hidden from clients (`error`), and, when it takes them, a line as each request starts
   * (`debug`) and once it has its answer (`info`). Default: errors on the console.
   */
  readonly logger?: SyncLogger;
  /**
   * Where each request's figures (count by endpoint and status, duration) and the rows and bytes of
   * pushes, pulls and snapshot chunks are recorded, and each request traced (pass the service the
   * same recorder). Records nothing when absent.
   */
  readonly telemetry?: TelemetryRecorder;
  /** More routes (test helpers, host endpoints), matched after the built-in ones. */
  readonly routes?: readonly SyncRoute[];
  /**
   * Who may call the admin routes (`/syncx/status` and routes declared `auth: "admin"`): callers
   * on this machine (a loopback address, which toNodeListener passes), and with `token` callers
   * anywhere that send `Authorization: Bearer <token>`. Default: loopback callers only.
   */
  readonly adminAccess?: AdminAccess;
  /**
   * Answer `GET /syncx/status` (table names and counters) to every caller, as before admin routes
   * existed. Default false: admins only.
   */
  readonly publicStatus?: boolean;
  /**
   * Let browser pages of other origins call the routes: CORS headers on every answer to an allowed
   * origin and 204 answers to preflights (`OPTIONS`). Default: no CORS headers, `OPTIONS` is 405.
   */
  readonly cors?: CorsOptions;
}

/** The default request body limit: room for a full push chunk of wide rows. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * A Fetch-API request handler. `connection` carries the caller's address, which admin routes need;
 * a handler called without it treats the caller as remote.
 */
export type FetchHandler = (request: Request, connection?: ConnectionInfo) => Promise<Response>;

/** Builds the handler serving all sync routes under `basePath`. */
export function createSyncHandler(options: SyncHandlerOptions): FetchHandler {
  const builtIn = options.publicStatus === true ? SYNC_ROUTES.map(openStatus) : SYNC_ROUTES;
  const table = new RouteTable([...builtIn, ...(options.routes ?? [])]);
  const basePath = parseBasePath(options.basePath ?? "");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = options.logger ?? consoleLogger;
  const telemetry = guardRecorder(options.telemetry ?? NO_TELEMETRY, logger);
  const adminAccess = checkedAdminAccess(options.adminAccess);
  const cors = options.cors === undefined ? undefined : corsPolicy(options.cors);

  const answer = async (
    request: Request,
    connection: ConnectionInfo | undefined,
    facts: RequestFacts,
  ): Promise<Response> => {
    let route: SyncRoute | undefined;
    let actor: Actor | undefined;
    try {
      const url = new URL(request.url);
      const below = belowBase(url.pathname, basePath);
      const match = below === undefined ? undefined : table.match(request.method, below.path);
      if (below === undefined || match === undefined || match.kind === "none") {
        throw new OversyncError("not_found", notFoundMessage(table, request.method, url.pathname, basePath));
      }
      if (match.kind === "wrong_method") {
        return errorResponse(
          new OversyncError(
            "method_not_allowed",
            `${request.method} is not allowed on ${url.pathname}; use ${match.allowed.join(" or ")}`,
          ),
          { allow: match.allowed.join(", ") },
        );
      }
      route = match.route;
      facts.route = route;
      const context: RouteContext = {
        request,
        url,
        params: match.params,
        service: options.service,
        bodyText: () => readBodyText(request, maxBodyBytes),
        telemetry,
      };
      if (route.auth === "none") return await route.handle(context);
      if (route.auth === "admin") {
        checkAdminAccess(request, connection, adminAccess);
        return await route.handle(context);
      }
      actor = await authenticateActor(request, { basePathParams: below.params }, options.authenticate);
      facts.actor = actor;
      return await route.handle({ ...context, actor });
    } catch (error) {
      facts.error = error;
      if (error instanceof OversyncError) return errorResponse(error);
      if (error instanceof ScopeForbiddenError) return scopeForbiddenResponse(error);
      if (error instanceof AdminAccessError) return adminAccessDeniedResponse(error);
      const code = route?.failureCode ?? "internal_error";
      logger.error("sync request failed unexpectedly", {
        method: request.method,
        url: request.url,
        route: route?.path,
        code,
        ...(actor === undefined ? {} : { scopeId: actor.scopeId, userId: actor.userId }),
        error,
      });
      const message = "the server failed to handle this request; retry later";
      return errorResponse(new OversyncError(code, message));
    }
  };
  const observed: FetchHandler = (request, connection) =>
    observeRequest(request, { basePath, logger, telemetry }, (facts) => answer(request, connection, facts));
  if (cors === undefined) return observed;
  return async (request, connection) => {
    if (request.method === "OPTIONS") {
      // A preflight on a routed path; an unknown path falls through to its 404.
      const below = belowBase(new URL(request.url).pathname, basePath);
      const match = below === undefined ? undefined : table.match(request.method, below.path);
      if (match?.kind === "wrong_method") return cors.preflight(request, match.allowed);
    }
    return cors.apply(request, await observed(request, connection));
  };
}

/** The status route open to every caller (`publicStatus`). */
function openStatus(route: SyncRoute): SyncRoute {
  return route.auth === "admin" && route.path === ENDPOINTS.status.path ? publicRoute(route) : route;
}

/** `access` checked once, when the handler is built: a token must be a non-empty string. */
function checkedAdminAccess(access: AdminAccess | undefined): AdminAccess | undefined {
  const token = access?.token;
  if (token !== undefined && (typeof token !== "string" || token.trim() === "" || /\s/.test(token))) {
    throw new TypeError("adminAccess.token must be a non-empty string without spaces");
  }
  return access;
}

/**
 * The user and scope from the host's hook (401 when none, or when an id breaks the identity rules:
 * such an id names no user or scope this server can serve) and the source from the header (400
 * when bad).
 */
async function authenticateActor(
  request: Request,
  context: AuthenticationContext,
  authenticate: SyncHandlerOptions["authenticate"],
): Promise<Actor> {
  const user = await authenticate(request, context);
  if (user === null || typeof user.userId !== "string" || user.userId === "") {
    throw new OversyncError("authentication_failed", "authentication failed: send valid credentials");
  }
  const userProblem = userIdProblem(user.userId);
  if (userProblem !== undefined) {
    throw new OversyncError(
      "authentication_failed",
      `authentication failed: the authenticated user id ${userProblem}; sign in as a valid user`,
    );
  }
  const scopeId = user.scopeId ?? user.userId;
  const scopeProblem = scopeIdProblem(scopeId);
  if (scopeProblem !== undefined) {
    throw new OversyncError(
      "authentication_failed",
      `authentication failed: the scope id the authentication resolved ${scopeProblem}`,
    );
  }
  const sourceId = request.headers.get(SOURCE_ID_HEADER);
  if (sourceId === null || sourceId === "") {
    throw new OversyncError("invalid_request", `${SOURCE_ID_HEADER} header is required`);
  }
  const sourceProblem = sourceIdProblem(sourceId);
  if (sourceProblem !== undefined) {
    throw new OversyncError("invalid_request", `${SOURCE_ID_HEADER} header ${sourceProblem}`);
  }
  return { scopeId, userId: user.userId, sourceId };
}

/** `basePath` as a pattern of `/`-separated segments, without trailing slashes; "" for none. */
function parseBasePath(basePath: string): string {
  const trimmed = basePath.replace(/\/+$/, "");
  if (trimmed === "") return "";
  const pattern = trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
  for (const segment of pattern.split("/").slice(1)) {
    if (segment === "" || segment === ":") {
      throw new TypeError(`basePath ${JSON.stringify(basePath)} has an empty segment or parameter name`);
    }
  }
  return pattern;
}

/**
 * The path below `basePath` and the base path's parameters (percent-decoded), or undefined when the
 * request is outside it (or a parameter is not valid percent-encoding).
 */
function belowBase(
  pathname: string,
  basePath: string,
): { path: string; params: Record<string, string> } | undefined {
  if (basePath === "") return { path: pathname, params: {} };
  const depth = basePath.split("/").length;
  const segments = pathname.split("/");
  if (segments.length <= depth) return undefined;
  const matched = matchPath(basePath, segments.slice(0, depth).join("/"));
  if (matched === undefined) return undefined;
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(matched)) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return { path: `/${segments.slice(depth).join("/")}`, params };
}

/**
 * A 404's message. When the path would match a route with another base path, it says which: the
 * usual mistakes are a framework that strips its mount path before the handler sees the request
 * (Express `app.use("/api", …)`: leave `basePath` unset) and a prefix the handler was not told
 * about (`basePath: "/api"`).
 */
function notFoundMessage(table: RouteTable, method: string, pathname: string, basePath: string): string {
  const message = `no sync route at ${pathname}`;
  const routed = (path: string) => table.match(method, path).kind !== "none";
  if (basePath !== "" && routed(pathname)) {
    return `${message}: this handler serves routes under basePath "${basePath}", and the path has no such prefix; when the framework strips its mount path (Express app.use("/prefix", …)), leave basePath unset`;
  }
  const segments = pathname.split("/");
  for (let index = 2; index < segments.length; index++) {
    if (routed(`/${segments.slice(index).join("/")}`)) {
      const prefix = segments.slice(0, index).join("/");
      const where = basePath === "" ? "has no basePath" : `has basePath "${basePath}"`;
      return `${message}: a sync route lives under "${prefix}", but this handler ${where}; set basePath: "${prefix}"`;
    }
  }
  return message;
}
