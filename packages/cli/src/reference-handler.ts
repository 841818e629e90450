/**
 * The reference server's HTTP surface as one Fetch-API handler: the sync routes of
 * @oversync/server for each user's own data and, under `/w/<workspace>`, for the workspaces the
 * user is a member of (workspaces.ts), the sign-in and test-helper routes, JWT authentication, and
 * CORS.
 */
import { OversyncError } from "@oversync/protocol";
import {
  type FetchHandler,
  type PublicRoute,
  ScopeForbiddenError,
  type SyncHandlerLogger,
  type SyncService,
  createSyncHandler,
} from "@oversync/server";
import { withCors } from "./cors.js";
import type { JwtAuth } from "./jwt-auth.js";
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
  /** More unauthenticated routes, such as those of `serve --test-hooks` (test-hooks.ts). */
  readonly extraRoutes?: readonly PublicRoute[];
  readonly logger?: SyncHandlerLogger;
  /** Largest request body accepted, in bytes (the sync handler's default when omitted). */
  readonly maxBodyBytes?: number;
}

/** Builds the reference server's request handler. */
export function createReferenceHandler(options: ReferenceHandlerOptions): FetchHandler {
  const { auth } = options;
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
    routes: [
      signInRoute(auth),
      ...(options.testHooks === undefined ? [] : testHelperRoutes(options.testHooks)),
      ...(options.extraRoutes ?? []),
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
  });
  return withCors((request) =>
    isWorkspacePath(new URL(request.url).pathname) ? workspaces(request) : personal(request),
  );
}
