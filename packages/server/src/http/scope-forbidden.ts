/**
 * The host's refusal of a user it has authenticated but does not let into the scope a request
 * names, such as a workspace they are not a member of. `authenticate` throws it; the handler
 * answers 403 before the request reaches the service.
 */
import { boundedMessage, jsonResponse } from "./responses.js";

/**
 * Thrown by a host's `authenticate` to refuse the request's scope to its user: answered 403
 * `{"error":"scope_forbidden","message":…}` on every route that authenticates. `scope_forbidden`
 * is the host's answer, not one of the protocol's codes (ERROR_STATUS): clients act on the 403
 * alone, as an authentication failure they do not retry (protocol-latest §0); @oversync/client
 * reports it as an HttpStatusError with status 403 and `bodyCode` "scope_forbidden".
 */
export class ScopeForbiddenError extends Error {
  override readonly name = "ScopeForbiddenError";
  readonly code = "scope_forbidden";
  readonly status = 403;
}

/** The 403 answer of a ScopeForbiddenError, in the protocol's `{error, message}` shape. */
export function scopeForbiddenResponse(error: ScopeForbiddenError): Response {
  return jsonResponse({ error: error.code, message: boundedMessage(error.message) }, error.status);
}
