/**
 * Cross-origin access as the upstream example server grants it, so browser apps on any origin can
 * call the reference server: every response carries the CORS headers and every preflight (OPTIONS)
 * is answered 204 without reaching the routes.
 */
import type { FetchHandler } from "@oversync/server";

/** The headers added to every response. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "Authorization, Content-Type, Oversync-Source-ID",
  "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
  "access-control-max-age": "600",
};

/** Answers preflights and adds the CORS headers to whatever `handler` answers. */
export function withCors(handler: FetchHandler): FetchHandler {
  return async (request) => {
    if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS_HEADERS });
    const response = await handler(request);
    // A new Response, because the headers of some responses (e.g. fetched ones) are immutable.
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(CORS_HEADERS)) headers.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}
