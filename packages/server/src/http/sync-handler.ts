/**
 * The Fetch-API handler for every sync route: `(Request) => Promise<Response>`. It matches the
 * route, authenticates through the host's hook, takes the source from `Oversync-Source-ID`, and
 * turns every failure into a JSON error body; unexpected faults are logged and answered with the
 * route's generic 5xx code, never with their message or stack.
 */
import { OversyncError, SOURCE_ID_HEADER, sourceIdProblem, userIdProblem } from "@oversync/protocol";
import type { Actor, SyncService } from "../service/sync-service.js";
import { readBodyText } from "./request-body.js";
import { errorResponse } from "./responses.js";
import { type RouteContext, RouteTable, type SyncRoute } from "./routes.js";
import { SYNC_ROUTES } from "./sync-routes.js";

/** The trusted identity the host's authentication yields for a request. */
export interface AuthenticatedUser {
  readonly userId: string;
}

/** Where the handler reports faults it hides from clients. */
export interface SyncHandlerLogger {
  error(message: string, details: Readonly<Record<string, unknown>>): void;
}

/** Options of createSyncHandler. */
export interface SyncHandlerOptions {
  readonly service: SyncService;
  /** The host's authentication: the user behind the request, or null to answer 401. */
  readonly authenticate: (request: Request) => Promise<AuthenticatedUser | null>;
  /** A path prefix the routes live under, such as `/api/v1`; none by default. */
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
  const basePath = normalizeBasePath(options.basePath ?? "");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = options.logger ?? consoleLogger;

  return async (request) => {
    let route: SyncRoute | undefined;
    try {
      const url = new URL(request.url);
      const path = belowBase(url.pathname, basePath);
      const match = path === undefined ? ({ kind: "none" } as const) : table.match(request.method, path);
      if (match.kind === "none") {
        throw new OversyncError("not_found", `no sync route at ${url.pathname}`);
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
      const actor = await authenticateActor(request, options.authenticate);
      return await route.handle({ ...context, actor });
    } catch (error) {
      if (error instanceof OversyncError) return errorResponse(error);
      const code = route?.failureCode ?? "internal_error";
      logger.error("sync request failed unexpectedly", {
        method: request.method,
        url: request.url,
        route: route?.path,
        code,
        error,
      });
      const message = "the server failed to handle this request; retry later";
      return errorResponse(new OversyncError(code, message));
    }
  };
}

/**
 * The user from the host's hook (401 when none, or when its id breaks the identity rules: such a
 * subject names no user this server can serve) and the source from the header (400 when bad).
 */
async function authenticateActor(
  request: Request,
  authenticate: SyncHandlerOptions["authenticate"],
): Promise<Actor> {
  const user = await authenticate(request);
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
  const sourceId = request.headers.get(SOURCE_ID_HEADER);
  if (sourceId === null || sourceId === "") {
    throw new OversyncError("invalid_request", `${SOURCE_ID_HEADER} header is required`);
  }
  const sourceProblem = sourceIdProblem(sourceId);
  if (sourceProblem !== undefined) {
    throw new OversyncError("invalid_request", `${SOURCE_ID_HEADER} header ${sourceProblem}`);
  }
  return { userId: user.userId, sourceId };
}

function normalizeBasePath(basePath: string): string {
  const trimmed = basePath.replace(/\/+$/, "");
  if (trimmed === "") return "";
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/** The path below `basePath`, or undefined when the request is outside it. */
function belowBase(pathname: string, basePath: string): string | undefined {
  if (basePath === "") return pathname;
  if (!pathname.startsWith(`${basePath}/`)) return undefined;
  return pathname.slice(basePath.length);
}

const consoleLogger: SyncHandlerLogger = {
  error: (message, details) => console.error(message, details),
};
