/**
 * Opening `/syncx/status` (and routes declared `auth: "admin"`) to an operator elsewhere with an
 * admin token, while callers on the server's machine keep their access. The docs site's Operations
 * page includes the `#region`; test/docs/server-guide.test.ts runs it.
 */
import { type SyncHandlerOptions, type SyncService, createSyncHandler } from "@oversync/server";

/** The sync handler, with status open to callers that send `adminToken`. */
export function handlerWithAdminToken(
  service: SyncService,
  authenticate: SyncHandlerOptions["authenticate"],
  adminToken: string,
) {
  // #region admin-access
  const handler = createSyncHandler({
    service,
    authenticate,
    // /syncx/status answers callers on this machine, and callers anywhere that send
    // "Authorization: Bearer <adminToken>"; anyone else gets 403 admin_access_denied.
    // Behind a reverse proxy on this machine, add loopback: false: every caller looks local.
    adminAccess: { token: adminToken },
  });
  // #endregion admin-access
  return handler;
}
