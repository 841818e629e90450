/**
 * Who may call the admin routes: `/syncx/status` (table names and counters) and every route a host
 * declares `auth: "admin"` (the reference server's test helpers). By default only callers on this
 * machine (a loopback address) get in; an admin token lets callers in from anywhere.
 *
 * The address is the TCP peer's, as the runtime reports it (ConnectionInfo): `Forwarded` and
 * `X-Forwarded-For` are never read, since any caller can send them. Behind a reverse proxy every
 * request comes from the proxy's address, so a host there uses the token, and sets
 * `loopback: false` when the proxy runs on the same machine (every caller would look local).
 */
import { boundedMessage, jsonResponse } from "./responses.js";

/** What the runtime knows about the connection a request arrived on. */
export interface ConnectionInfo {
  /**
   * The peer's IP address (`socket.remoteAddress` on node:http, as toNodeListener passes it;
   * `info.remoteAddr.hostname` on Deno, `server.requestIP(request)?.address` on Bun). Absent when
   * unknown: such a caller is not on this machine.
   */
  readonly remoteAddress?: string;
}

/** Who may call the admin routes (createSyncHandler's `adminAccess`). */
export interface AdminAccess {
  /**
   * A secret that lets in callers from any address that send it as `Authorization: Bearer
   * <token>` (what a Prometheus scrape or a dashboard's fetch can send). Compared in constant time;
   * use a long random string.
   */
  readonly token?: string;
  /**
   * Whether callers on this machine get in without the token. Default true. Set false when a
   * reverse proxy on this machine forwards outside requests, which all arrive from loopback.
   */
  readonly loopback?: boolean;
}

/**
 * The handler's refusal of an admin route to a caller that is neither on this machine nor holds the
 * admin token: answered 403 `{"error":"admin_access_denied","message":…}`, before the route runs.
 * Like `scope_forbidden` it is this server's answer, not one of the protocol's codes: the upstream
 * live suites run on the server's machine and never meet it.
 */
export class AdminAccessError extends Error {
  override readonly name = "AdminAccessError";
  readonly code = "admin_access_denied";
  readonly status = 403;
}

/** The 403 answer of an AdminAccessError, in the protocol's `{error, message}` shape. */
export function adminAccessDeniedResponse(error: AdminAccessError): Response {
  return jsonResponse({ error: error.code, message: boundedMessage(error.message) }, error.status);
}

/**
 * Throws AdminAccessError unless `request` may call an admin route: it carries the admin token, or
 * it comes from this machine (and `access.loopback` is not false) and not from a browser page of
 * another site.
 */
export function checkAdminAccess(
  request: Request,
  connection: ConnectionInfo | undefined,
  access: AdminAccess | undefined,
): void {
  const token = access?.token;
  const presented = bearerToken(request);
  if (token !== undefined && presented !== undefined && constantTimeEqual(presented, token)) return;
  const path = new URL(request.url).pathname;
  const withToken = token === undefined ? "" : ", or send the admin token as Authorization: Bearer <token>";
  if (access?.loopback === false) {
    throw new AdminAccessError(
      `${path} is for admins: send the admin token as Authorization: Bearer <token>`,
    );
  }
  if (!isLoopbackAddress(connection?.remoteAddress)) {
    throw new AdminAccessError(
      `${path} answers only callers on the server's machine${withToken}; behind a proxy every caller has the proxy's address, so use the token there`,
    );
  }
  const browserProblem = crossSiteProblem(request);
  if (browserProblem !== undefined) throw new AdminAccessError(`${path} ${browserProblem}${withToken}`);
}

/**
 * Why a loopback request still does not count as the machine's own: a web page open in a browser on
 * this machine is a loopback caller too, and must not reach admin routes by posting to them (its
 * request carries another `Origin`, or `Sec-Fetch-Site`), nor through DNS rebinding (a hostile
 * name resolved to 127.0.0.1 makes the page same-origin, but then the Host is that name, not
 * `localhost` or an IP address).
 */
function crossSiteProblem(request: Request): string | undefined {
  const url = new URL(request.url);
  const origin = request.headers.get("origin");
  const site = request.headers.get("sec-fetch-site");
  // Hosts, not origins: the URL a Fetch adapter builds may say http where the browser said https.
  if (
    (origin !== null && hostOf(origin) !== url.host) ||
    (site !== null && site !== "same-origin" && site !== "none")
  ) {
    return "does not answer web pages of other origins through loopback access";
  }
  if (!isLocalHostName(url.hostname)) {
    return `answers loopback callers only at localhost or an IP address, not at host ${JSON.stringify(url.hostname)}`;
  }
  return undefined;
}

/** The host (name and port) of an `Origin` value; undefined for `null` or anything unparsable. */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** `localhost`, a name under `.localhost`, or an IP address literal (URL.hostname form). */
function isLocalHostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name.startsWith("[") && name.endsWith("]")) return true;
  return ipv4Octets(name) !== undefined;
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
function bearerToken(request: Request): string | undefined {
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(request.headers.get("authorization") ?? "");
  return match?.[1];
}

/** Equality whose time depends only on the lengths, so the token cannot be guessed byte by byte. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/**
 * True for an address of this machine's loopback interface: `127.0.0.0/8`, `::1`, and IPv4 loopback
 * mapped into IPv6 (`::ffff:127.0.0.1`, as a dual-stack socket reports it), in any valid spelling
 * and with or without a zone (`::1%lo`). Anything else, undefined included, is false.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/%.*$/, "")
    .toLowerCase();
  const v4 = ipv4Octets(bare);
  if (v4 !== undefined) return v4[0] === 127;
  const groups = ipv6Groups(bare);
  if (groups === undefined) return false;
  if (groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1) return true;
  // ::ffff:a.b.c.d, an IPv4 address mapped into IPv6.
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff && groups[6]! >> 8 === 127;
}

/** The four octets of a dotted-quad IPv4 address, or undefined. */
function ipv4Octets(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^[0-9]{1,3}$/.test(part))) return undefined;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : undefined;
}

/** The eight 16-bit groups of an IPv6 address (`::` and a dotted IPv4 tail allowed), or undefined. */
function ipv6Groups(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (half: string): number[] | undefined => {
    if (half === "") return [];
    const groups: number[] = [];
    const parts = half.split(":");
    for (const [index, part] of parts.entries()) {
      if (index === parts.length - 1 && part.includes(".")) {
        const v4 = ipv4Octets(part);
        if (v4 === undefined) return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-f]{1,4}$/.test(part)) {
        groups.push(Number.parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : undefined;
}
