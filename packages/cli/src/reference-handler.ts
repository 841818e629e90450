/**
 * The reference server's HTTP surface as one Fetch-API handler: the sync routes of
 * @oversync/server, the sign-in and test-helper routes, JWT authentication, and CORS.
 */
import {
  type FetchHandler,
  type PublicRoute,
  type SyncHandlerLogger,
  type SyncService,
  createSyncHandler,
} from "@oversync/server";
import { withCors } from "./cors.js";
import type { JwtAuth } from "./jwt-auth.js";
import { noteRequestUser } from "./request-log.js";
import { signInRoute } from "./sign-in-route.js";
import { type TestHelperHooks, testHelperRoutes } from "./test-helper-routes.js";

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
  return withCors(
    createSyncHandler({
      service: options.service,
      async authenticate(request) {
        const user = await auth.authenticate(request);
        if (user !== null) noteRequestUser(user.userId);
        return user;
      },
      logger: options.logger,
      maxBodyBytes: options.maxBodyBytes,
      routes: [
        signInRoute(auth),
        ...(options.testHooks === undefined ? [] : testHelperRoutes(options.testHooks)),
        ...(options.extraRoutes ?? []),
      ],
    }),
  );
}
