/**
 * Exact crash points on the server side of the wire. A trap names the request that marks a step
 * boundary (the push create right after the freeze, the 2nd chunk, the committed-rows fetch, …).
 * When that request arrives, the trap's `spring` runs (the test kills the client process and waits
 * for it to be gone) and only then does the server go on:
 * - `before`: the request is never handled — the client died having sent it, nothing more;
 * - `after`: the request is handled and committed, but its answer goes to a dead process.
 */
import type { FetchHandler } from "@oversync/server";

/** One crash point. */
export interface RequestTrap {
  readonly method: string;
  /** The path with ":name" wildcard segments, e.g. `/sync/push-sessions/:id/chunks`. */
  readonly path: string;
  /** Which matching request springs it, 1-based; default 1. */
  readonly nth?: number;
  readonly when: "before" | "after";
  /** Runs once when the trap springs. */
  readonly spring: () => Promise<void>;
}

/** A request as logged: method and path. */
export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
}

/** True when `path` matches `pattern` segment by segment (":x" matches any one segment). */
export function pathMatches(pattern: string, path: string): boolean {
  const want = pattern.split("/").filter((part) => part !== "");
  const got = path.split("/").filter((part) => part !== "");
  return (
    want.length === got.length && want.every((part, index) => part.startsWith(":") || part === got[index])
  );
}

/** Records every request and springs the armed trap. */
export class RequestLog {
  readonly requests: LoggedRequest[] = [];
  /** Traps that sprang, in order. */
  readonly sprung: RequestTrap[] = [];
  private trap: RequestTrap | undefined;
  /** Requests matching the armed trap since it was armed. */
  private trapMatches = 0;

  /** Arms `trap` (replacing an unsprung one); it counts matching requests from now on. */
  arm(trap: RequestTrap): void {
    this.trap = trap;
    this.trapMatches = 0;
  }

  /** Disarms the trap; true when one was still armed (it never sprang). */
  disarm(): boolean {
    const armed = this.trap !== undefined;
    this.trap = undefined;
    return armed;
  }

  /** The requests that matched `method path`, from request index `since` on. */
  count(method: string, pattern: string, since = 0): number {
    return this.requests
      .slice(since)
      .filter((request) => request.method === method && pathMatches(pattern, request.path)).length;
  }

  /** Wraps a Fetch handler so every request is logged and checked against the trap. */
  wrap(handler: FetchHandler): FetchHandler {
    return async (request, connection) => {
      const path = new URL(request.url).pathname;
      this.requests.push({ method: request.method, path });
      const trap = this.trap;
      if (trap === undefined || trap.method !== request.method || !pathMatches(trap.path, path)) {
        return handler(request, connection);
      }
      if (++this.trapMatches !== (trap.nth ?? 1)) return handler(request, connection);
      this.trap = undefined;
      this.sprung.push(trap);
      if (trap.when === "before") {
        await trap.spring();
        return Response.json(
          { error: "client_gone", message: "trap sprang before handling" },
          { status: 503 },
        );
      }
      const response = await handler(request, connection);
      await trap.spring();
      return response;
    };
  }
}
