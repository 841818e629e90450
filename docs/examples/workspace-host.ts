/**
 * Workspaces in your own server: the sync handler mounted twice over one service, once for each
 * user's own data and once under `/w/<workspace>` for the workspaces a session is a member of.
 * docs/shared-data.md includes the `mount` region; test/docs/shared-lists.test.ts serves it.
 */
// #region imports
import { ScopeForbiddenError, type SyncService, createSyncHandler } from "@oversync/server";
// #endregion imports

/** What the host's own session store knows about a signed-in user. */
export interface Session {
  readonly userId: string;
  readonly workspaces: readonly string[];
}

/** The host's request handler: each user's own scope at the root, workspaces below `/w/`. */
export function createWorkspaceHandler(
  service: SyncService,
  verifySession: (token: string) => Promise<Session | null>,
): (request: Request) => Promise<Response> {
  // #region mount
  const session = (request: Request) => {
    const token = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
    return token === undefined ? Promise.resolve(null) : verifySession(token);
  };
  // The user's own data: no scopeId, so the scope is the user's.
  const own = createSyncHandler({
    service,
    authenticate: async (request) => {
      const user = await session(request);
      return user === null ? null : { userId: user.userId };
    },
  });
  // A workspace's data, for its members: clients use `https://host/w/<workspace>` as base URL.
  const workspaces = createSyncHandler({
    service,
    basePath: "/w/:workspace",
    authenticate: async (request, { basePathParams }) => {
      const workspace = basePathParams.workspace ?? "";
      const user = await session(request);
      if (user === null) return null; // 401 authentication_failed
      if (!user.workspaces.includes(workspace)) {
        throw new ScopeForbiddenError(`not a member of workspace ${workspace}`); // 403
      }
      // A scope id no user id can take: here user ids are UUIDs, which never contain ":".
      return { userId: user.userId, scopeId: `workspace:${workspace}` };
    },
  });
  return (request) => (new URL(request.url).pathname.startsWith("/w/") ? workspaces(request) : own(request));
  // #endregion mount
}
