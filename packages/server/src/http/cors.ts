/**
 * Cross-origin access for browser apps served from another origin (createSyncHandler's `cors`).
 * A request from an allowed origin gets `Access-Control-Allow-Origin` on every answer (errors and
 * watch streams included) and its preflight (`OPTIONS`) is answered 204 with the methods of the
 * path and the headers the clients send; a request from any other origin gets no CORS header, so
 * the browser keeps the answer from the page.
 */
import { SOURCE_ID_HEADER } from "@oversync/protocol";

/** createSyncHandler's `cors`. */
export interface CorsOptions {
  /**
   * The origins whose pages may call: `"*"` for any, a list of exact origins
   * (`"https://app.example.com"`: scheme, host and port, no path), or a function deciding per
   * request `Origin`.
   */
  readonly origin: "*" | readonly string[] | ((origin: string) => boolean);
  /**
   * Let pages send cookies or HTTP authentication (`fetch(…, {credentials: "include"})`):
   * `Access-Control-Allow-Credentials: true`, and the caller's origin in place of `*`. Default
   * false; bearer tokens in `Authorization` do not need it.
   */
  readonly credentials?: boolean;
  /** Request headers pages may send, beyond CORS_ALLOWED_HEADERS. */
  readonly allowHeaders?: readonly string[];
  /** Response headers pages may read, beyond CORS_EXPOSED_HEADERS. */
  readonly exposeHeaders?: readonly string[];
  /** How long a browser may cache a preflight answer, in seconds. Default 600. */
  readonly maxAgeSeconds?: number;
}

/** The request headers the sync clients send that a preflight must allow. */
export const CORS_ALLOWED_HEADERS: readonly string[] = ["Authorization", "Content-Type", SOURCE_ID_HEADER];

/** The response headers the clients read that browsers hide unless exposed (§0: 429 back-off). */
export const CORS_EXPOSED_HEADERS: readonly string[] = ["Retry-After"];

/** The default preflight cache lifetime, in seconds. */
export const DEFAULT_CORS_MAX_AGE_SECONDS = 600;

/** CorsOptions resolved once, when the handler is built. */
export interface CorsPolicy {
  /** The `Access-Control-Allow-Origin` value for `request`, or undefined when it gets no CORS. */
  allowOrigin(request: Request): string | undefined;
  /** The 204 answer to a preflight on a path that takes `methods`. */
  preflight(request: Request, methods: readonly string[]): Response;
  /** `response` with the CORS headers `request` gets (the same response when it gets none). */
  apply(request: Request, response: Response): Response;
}

/** Checks `options` and builds the policy; a bad option throws TypeError. */
export function corsPolicy(options: CorsOptions): CorsPolicy {
  const allowed = originMatcher(options.origin);
  const credentials = options.credentials === true;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_CORS_MAX_AGE_SECONDS;
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new TypeError(`cors.maxAgeSeconds must be a whole number of seconds, not ${String(maxAge)}`);
  }
  const allowHeaders = headerList([...CORS_ALLOWED_HEADERS, ...(options.allowHeaders ?? [])]);
  const exposeHeaders = headerList([...CORS_EXPOSED_HEADERS, ...(options.exposeHeaders ?? [])]);
  // "*" answers every origin alike, unless credentials make the browser demand the origin itself.
  const echoesOrigin = options.origin !== "*" || credentials;

  const allowOrigin = (request: Request) => {
    const origin = request.headers.get("origin");
    if (origin === null || !allowed(origin)) return undefined;
    return echoesOrigin ? origin : "*";
  };
  const common = (origin: string | undefined): Headers => {
    const headers = new Headers();
    // A shared cache must not hand one origin's answer to another.
    if (echoesOrigin) headers.set("vary", "Origin");
    if (origin === undefined) return headers;
    headers.set("access-control-allow-origin", origin);
    if (credentials) headers.set("access-control-allow-credentials", "true");
    return headers;
  };

  return {
    allowOrigin,
    preflight(request, methods) {
      const origin = allowOrigin(request);
      const headers = common(origin);
      headers.set("allow", [...methods, "OPTIONS"].join(", "));
      if (origin !== undefined) {
        headers.set("access-control-allow-methods", [...methods, "OPTIONS"].join(", "));
        headers.set("access-control-allow-headers", allowHeaders);
        headers.set("access-control-max-age", String(maxAge));
      }
      return new Response(null, { status: 204, headers });
    },
    apply(request, response) {
      const origin = allowOrigin(request);
      if (origin === undefined && !echoesOrigin) return response;
      const headers = new Headers(response.headers);
      for (const [name, value] of common(origin)) {
        if (name === "vary") headers.set(name, mergeVary(headers.get(name), value));
        else headers.set(name, value);
      }
      if (origin !== undefined) headers.set("access-control-expose-headers", exposeHeaders);
      // A new Response, because a response's headers may be immutable (one from fetch()); the body
      // stream passes through untouched, so watch streams keep flowing.
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    },
  };
}

function originMatcher(origin: CorsOptions["origin"]): (origin: string) => boolean {
  if (origin === "*") return () => true;
  if (typeof origin === "function") return origin;
  if (!Array.isArray(origin)) {
    throw new TypeError('cors.origin must be "*", a list of origins or a function of the Origin header');
  }
  const origins = new Set<string>();
  for (const entry of origin as readonly unknown[]) {
    const parsed = typeof entry === "string" ? parseOrigin(entry) : undefined;
    if (parsed === undefined) {
      throw new TypeError(
        `cors.origin ${JSON.stringify(entry)} is not an origin: give scheme, host and port only, such as "https://app.example.com"`,
      );
    }
    origins.add(parsed);
  }
  return (candidate) => origins.has(candidate) || origins.has(parseOrigin(candidate) ?? "");
}

/** The serialized origin of `text` when it is exactly an origin (no path, query or credentials). */
function parseOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.origin === "null" || url.username !== "" || url.password !== "") return undefined;
  return text.replace(/\/$/, "").toLowerCase() === url.origin.toLowerCase() ? url.origin : undefined;
}

function headerList(names: readonly string[]): string {
  const seen = new Map<string, string>();
  for (const name of names) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new TypeError(`cors header name ${JSON.stringify(name)} is not a valid HTTP header name`);
    }
    if (!seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
  }
  return [...seen.values()].join(", ");
}

function mergeVary(existing: string | null, value: string): string {
  if (existing === null || existing === "") return value;
  const names = existing.split(",").map((name) => name.trim().toLowerCase());
  return names.includes(value.toLowerCase()) || names.includes("*") ? existing : `${existing}, ${value}`;
}
