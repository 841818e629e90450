/**
 * `POST /dummy-signin`, the unauthenticated sign-in the upstream live suites use (protocol-latest
 * §5): any password is accepted and the token's subject is the user id. A user id outside the
 * identity rules (protocol identity.ts) is 400 invalid_request, so no token names a user the sync
 * routes would refuse or that PostgreSQL would store as another one; so is one in the workspace
 * scope namespace (`workspace:…`, workspaces.ts), which would be a workspace's data. The optional
 * `workspaces` make the user a member of those workspaces for the token's lifetime. It exists for
 * tests and demos; a real deployment authenticates its users its own way.
 */
import { type DummySigninResponse, ENDPOINTS, OversyncError } from "@oversync/protocol";
import { type PublicRoute, endpointRoute, jsonResponse } from "@oversync/server";
import type { JwtAuth } from "./jwt-auth.js";
import { noteRequestUser } from "./request-log.js";
import { WORKSPACE_SCOPE_PREFIX, isWorkspaceScopeId } from "./workspaces.js";

/** The sign-in route: `{user, password, device?, workspaces?}` -> 200 `{token, expires_in, user}`. */
export function signInRoute(auth: JwtAuth): PublicRoute {
  return endpointRoute(ENDPOINTS.dummySignin, async ({ bodyText }) => {
    const { user, workspaces } = ENDPOINTS.dummySignin.request.decode(await bodyText());
    if (isWorkspaceScopeId(user)) {
      throw new OversyncError(
        "invalid_request",
        `user must not start with ${JSON.stringify(WORKSPACE_SCOPE_PREFIX)}: such ids name workspaces' data; choose another user id`,
      );
    }
    noteRequestUser(user);
    const issued = await auth.issueToken(user, { workspaces: workspaces ?? [] });
    const body: DummySigninResponse = { token: issued.token, expires_in: issued.expiresIn, user };
    return jsonResponse(body);
  });
}
