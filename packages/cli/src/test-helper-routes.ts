/**
 * The test helpers the upstream live suites call (protocol-latest §5). They take no user token, as
 * the suites expect, and are admin routes: they answer callers on the server's machine (where the
 * suites run) or with the admin token, unless the server opens them to everyone. They reach
 * into the sync runtime through two small hooks; each route is served when its hook is offered. The
 * runtime from createSyncService offers both, so `serve` passes it as the hooks. A `user_id` outside
 * the identity rules (protocol identity.ts) is 400 invalid_request, like a missing one. A `user_id`
 * names a scope: a user's own, or a workspace's (`workspace:<id>`, workspaces.ts).
 */
import { ENDPOINTS, type RetentionFloorResponse, type WatchSubscribersResponse } from "@oversync/protocol";
import { type AdminRoute, adminRoute, endpointRoute, jsonResponse } from "@oversync/server";

/** What the test helpers need from the sync runtime. */
export interface TestHelperHooks {
  /**
   * Moves `scopeId`'s retained bundle floor to `floor` (the runtime also deletes the history at or
   * below it; the protocol does not require that). Throws OversyncError `user_state_not_found` for a
   * scope without sync state and `invalid_request` for a floor it cannot take (the runtime: above
   * the latest bundle or below the current floor); any other failure is answered 500
   * `retention_floor_update_failed`.
   */
  setRetainedFloor(scopeId: string, floor: number): Promise<void>;
  /** How many watch streams this process currently holds open on `scopeId`. */
  watchSubscriberCount(scopeId: string): number;
}

/**
 * `POST /test/retention-floor` (when `setRetainedFloor` is offered) and `GET /test/watch-subscribers`
 * (when `watchSubscriberCount` is); a route whose hook is missing is not served (404).
 */
export function testHelperRoutes(hooks: Partial<TestHelperHooks>): AdminRoute[] {
  const routes: AdminRoute[] = [];
  if (typeof hooks.setRetainedFloor === "function") {
    const retentionFloor = endpointRoute(ENDPOINTS.retentionFloor, async ({ bodyText }) => {
      const request = ENDPOINTS.retentionFloor.request.decode(await bodyText());
      await hooks.setRetainedFloor!(request.user_id, request.retained_bundle_floor);
      const body: RetentionFloorResponse = {
        status: "ok",
        user_id: request.user_id,
        retained_bundle_floor: request.retained_bundle_floor,
      };
      return jsonResponse(body);
    });
    routes.push(adminRoute(retentionFloor));
  }
  if (typeof hooks.watchSubscriberCount === "function") {
    const watchSubscribers = endpointRoute(ENDPOINTS.watchSubscribers, async ({ url }) => {
      const { user_id } = ENDPOINTS.watchSubscribers.query.decode(url.searchParams);
      const body: WatchSubscribersResponse = {
        user_id,
        subscriber_count: hooks.watchSubscriberCount!(user_id),
        process_local_only: true,
      };
      return jsonResponse(body);
    });
    routes.push(adminRoute(watchSubscribers));
  }
  return routes;
}
