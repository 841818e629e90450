/**
 * The Fetch-API handler for every sync route: `(Request) => Promise<Response>`. It matches the
 * route, authenticates through the host's hook (the user, and the scope the request acts on), takes
 * the source from `Oversync-Source-ID`, and turns every failure into a JSON error body; unexpected
 * faults are logged and answered with the route's generic 5xx code, never with their message or
 * stack.
 */
import {
  OversyncError,
  SOURCE_ID_HEADER,
  matchPath,
  scopeIdProblem,
  sourceIdProblem,
  userIdProblem,
} from "@oversync/protocol";
import type { Actor, SyncService } from "../service/sync-service.js";
import { readBodyText } from "./request-body.js";
import { errorResponse } from "./responses.js";
import { type RouteContext, RouteTable, type SyncRoute } from "./routes.js";
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

/** Where the handler reports faults it hides from clients. */
export interface SyncHandlerLogger {
  error(message: string, details: Readonly<Record<string, unknown>>): void;
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
  /** Default: console. */
  readonly logger?: SyncHandlerLogger;
  /** More routes (test helpers, host endpoints), matched after the built-in ones. */
  readonly routes?: readonly SyncRoute[];
}

/** The default request body limit: room for a full push chunk of wide rows. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** A Fetch-API request handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Builds the handler serving all sync routes under `basePath`. */
export function createSyncHandler(options: SyncHandlerOptions): FetchHandler {
  const table = new RouteTable([...SYNC_ROUTES, ...(options.routes ?? [])]);
  const basePath = parseBasePath(options.basePath ?? "");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = options.logger ?? consoleLogger;

  return async (request) => {
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
      const context: RouteContext = {
        request,
        url,
        params: match.params,
        service: options.service,
        bodyText: () => readBodyText(request, maxBodyBytes),
      };
      if (route.auth === "none") return await route.handle(context);
      actor = await authenticateActor(request, { basePathParams: below.params }, options.authenticate);
      return await route.handle({ ...context, actor });
    } catch (error) {
      if (error instanceof OversyncError) return errorResponse(error);
      if (error instanceof ScopeForbiddenError) return scopeForbiddenResponse(error);
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

const consoleLogger: SyncHandlerLogger = {
  error: (message, details) => console.error(message, details),
};
