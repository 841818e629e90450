/**
 * `POST /dummy-signin`, the unauthenticated sign-in the upstream live suites use (protocol-latest
 * §5): any password is accepted and the token's subject is the user id. A user id outside the
 * identity rules (protocol identity.ts) is 400 invalid_request, so no token names a user the sync
 * routes would refuse or that PostgreSQL would store as another one. It exists for tests and demos;
 * a real deployment authenticates its users its own way.
 */
import { type DummySigninResponse, ENDPOINTS } from "@oversync/protocol";
import { type PublicRoute, endpointRoute, jsonResponse } from "@oversync/server";
import type { JwtAuth } from "./jwt-auth.js";
import { noteRequestUser } from "./request-log.js";

/** The sign-in route: `{user, password, device?}` -> 200 `{token, expires_in, user}`. */
export function signInRoute(auth: JwtAuth): PublicRoute {
  return endpointRoute(ENDPOINTS.dummySignin, async ({ bodyText }) => {
    const { user } = ENDPOINTS.dummySignin.request.decode(await bodyText());
    noteRequestUser(user);
    const issued = await auth.issueToken(user);
    const body: DummySigninResponse = { token: issued.token, expires_in: issued.expiresIn, user };
    return jsonResponse(body);
  });
}
