/**
 * The reference server's HTTP surface as one Fetch-API handler: the sync routes of
 * @oversync/server for each user's own data and, under `/w/<workspace>`, for the workspaces the
 * user is a member of (workspaces.ts), the sign-in and test-helper routes, JWT authentication, and
 * CORS. Status, the test helpers, `/metrics` and the dashboard's data are admin routes: callers on
 * this machine, or with the admin token, unless the options open them to everyone.
 */
import { OversyncError } from "@oversync/protocol";
import {
  type AdminAccess,
  type AdminRoute,
  type CorsOptions,
  type FetchHandler,
  ScopeForbiddenError,
  type SyncLogger,
  type SyncService,
  createSyncHandler,
  publicRoute,
} from "@oversync/server";
import type { Dashboard } from "./dashboard/dashboard.js";
import type { JwtAuth } from "./jwt-auth.js";
import { type ServerMetrics, metricsRoute } from "./metrics-route.js";
import { noteRequestUser } from "./request-log.js";
import { signInRoute } from "./sign-in-route.js";
import { type TestHelperHooks, testHelperRoutes } from "./test-helper-routes.js";
import { WORKSPACE_BASE_PATH, isWorkspaceId, isWorkspacePath, workspaceScopeId } from "./workspaces.js";

/** Options of createReferenceHandler. */
export interface ReferenceHandlerOptions {
  readonly service: SyncService;
  readonly auth: JwtAuth;
  /**
   * Hooks behind `/test/retention-floor` and `/test/watch-subscribers`; a route whose hook is
   * missing answers 404.
   */
  readonly testHooks?: Partial<TestHelperHooks>;
  /** More test-helper routes, such as those of `serve --test-hooks` (test-hooks.ts). */
  readonly extraRoutes?: readonly AdminRoute[];
  /** Who counts as an admin (status, test helpers): loopback callers by default. */
  readonly adminAccess?: AdminAccess;
  /** Answer `/syncx/status` to everyone. */
  readonly publicStatus?: boolean;
  /** Answer the test helpers (`/test/*`) to everyone, for suites on other machines. */
  readonly publicTestHelpers?: boolean;
  /** Cross-origin access for browser apps; default any origin (`*`), as upstream's example. */
  readonly cors?: CorsOptions;
  readonly logger?: SyncLogger;
  /** Largest request body accepted, in bytes (the sync handler's default when omitted). */
  readonly maxBodyBytes?: number;
  /**
   * Where requests are recorded (the service takes the same recorder), and the registry `GET
   * /metrics` serves to admins (metrics-route.ts). No figures and no `/metrics` when absent.
   */
  readonly metrics?: ServerMetrics;
  /**
   * The diagnostics dashboard at `/dashboard` (dashboard/dashboard.ts). Its data route is for
   * admins; its page, which holds no data, answers everyone when `adminAccess` has a token (so a
   * person elsewhere can open it and give it the token) and admins otherwise.
   */
  readonly dashboard?: Dashboard;
}

/** Builds the reference server's request handler. */
export function createReferenceHandler(options: ReferenceHandlerOptions): FetchHandler {
  const { auth } = options;
  const cors = options.cors ?? { origin: "*" };
  const helpers: readonly AdminRoute[] = [
    ...(options.testHooks === undefined ? [] : testHelperRoutes(options.testHooks)),
    ...(options.extraRoutes ?? []),
  ];
  // The user's own data: the scope is the user (the sync handler's default).
  const personal = createSyncHandler({
    service: options.service,
    async authenticate(request) {
      const user = await auth.authenticate(request);
      if (user === null) return null;
      noteRequestUser(user.userId);
      return { userId: user.userId };
    },
    logger: options.logger,
    maxBodyBytes: options.maxBodyBytes,
    adminAccess: options.adminAccess,
    publicStatus: options.publicStatus,
    cors,
    telemetry: options.metrics?.telemetry,
    routes: [
      signInRoute(auth),
      ...(options.metrics === undefined ? [] : [metricsRoute(options.metrics.registry)]),
      ...(options.dashboard?.routes(options.adminAccess?.token !== undefined) ?? []),
      ...(options.publicTestHelpers === true ? helpers.map((route) => publicRoute(route)) : helpers),
    ],
  });
  // A workspace's data: the same sync routes one level down, for its members only.
  const workspaces = createSyncHandler({
    service: options.service,
    basePath: WORKSPACE_BASE_PATH,
    async authenticate(request, { basePathParams }) {
      const workspace = basePathParams.workspace ?? "";
      if (!isWorkspaceId(workspace)) {
        throw new OversyncError(
          "not_found",
          `no workspace ${JSON.stringify(workspace)}: workspace ids are 1-64 ASCII letters, digits, _ or -`,
        );
      }
      const user = await auth.authenticate(request);
      if (user === null) return null;
      const scopeId = workspaceScopeId(workspace);
      noteRequestUser(user.userId, scopeId);
      if (!user.workspaces.includes(workspace)) {
        throw new ScopeForbiddenError(
          `user ${JSON.stringify(user.userId)} is not a member of workspace ${workspace}; sign in with "workspaces": [${JSON.stringify(workspace)}]`,
        );
      }
      return { userId: user.userId, scopeId };
    },
    logger: options.logger,
    maxBodyBytes: options.maxBodyBytes,
    adminAccess: options.adminAccess,
    publicStatus: options.publicStatus,
    cors,
    telemetry: options.metrics?.telemetry,
  });
  return (request, connection) =>
    isWorkspacePath(new URL(request.url).pathname)
      ? workspaces(request, connection)
      : personal(request, connection);
}
