/**
 * What the dashboard knows that no metric holds: which scopes, users and sources this process has
 * heard from lately, and its latest errors. It is fed by the server's loggers (`tap`), so it learns
 * what the logs carry and nothing more: the handler's `request finished` lines (the user, scope and
 * source of each authenticated request), the access log's 5xx answers, and every warning and error
 * line. Everything is bounded: the most recently active scopes (each with its latest users and
 * sources), the last errors. It is this process's view: behind a load balancer each process's
 * dashboard shows the callers that reached it.
 */
import type { JsonLogger } from "../json-log.js";

/** How much is kept; the dashboard shows a part of it. */
export interface ActivityLimits {
  /** Scopes remembered; beyond it the least recently active is forgotten. Default 1000. */
  readonly scopes: number;
  /** Sources remembered per scope, most recent first. Default 10. */
  readonly sourcesPerScope: number;
  /** User ids remembered per scope (several for a shared scope, a workspace). Default 10. */
  readonly usersPerScope: number;
  /** Error and warning lines remembered. Default 50. */
  readonly errors: number;
}

export const DEFAULT_ACTIVITY_LIMITS: ActivityLimits = {
  scopes: 1000,
  sourcesPerScope: 10,
  usersPerScope: 10,
  errors: 50,
};

/** A source (device) of a scope, as this process last heard from it. */
export interface SourceActivity {
  readonly sourceId: string;
  /** Epoch milliseconds of its latest request here. */
  readonly lastSeen: number;
  /** The endpoint of that request (`pull`, `pushCommit`, `watch`, …). */
  readonly lastEndpoint: string;
}

/** A scope and who used it, most recent first. */
export interface ScopeActivity {
  readonly scopeId: string;
  readonly lastSeen: number;
  readonly userIds: readonly string[];
  readonly sources: readonly SourceActivity[];
}

/** One remembered problem: a warning or error line, or a 5xx answer. */
export interface ErrorEntry {
  /** ISO time. */
  readonly time: string;
  readonly level: "error" | "warn";
  /** The log line's message, or `GET /sync/pull answered 500` for an answer. */
  readonly message: string;
  /** The error's own message (and code) when the line carried one. */
  readonly detail?: string;
  /** The request path, without its query string. */
  readonly path?: string;
  readonly status?: number;
  readonly code?: string;
  readonly userId?: string;
  readonly scopeId?: string;
}

interface ScopeRecord {
  lastSeen: number;
  readonly users: Map<string, number>;
  readonly sources: Map<string, { lastSeen: number; lastEndpoint: string }>;
}

/** The longest message and detail kept, in characters. */
const MAX_TEXT = 300;

/** The activity of one server process. */
export class ServerActivity {
  readonly limits: ActivityLimits;
  readonly #now: () => number;
  /** In order of last activity, oldest first (a touched entry is moved to the end). */
  readonly #scopes = new Map<string, ScopeRecord>();
  readonly #errors: ErrorEntry[] = [];

  constructor(options: { readonly limits?: Partial<ActivityLimits>; readonly now?: () => number } = {}) {
    this.limits = { ...DEFAULT_ACTIVITY_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
  }

  /**
   * `logger`, also feeding this activity: every line is passed on unchanged. Give the same tap's
   * result (or taps of the same activity) to the service, the handler, the node listener and the
   * access log.
   */
  tap(logger: JsonLogger): JsonLogger {
    return {
      info: (message, details) => {
        this.#noteInfo(message, details ?? {});
        logger.info(message, details);
      },
      warn: (message, details) => {
        this.#noteProblem("warn", message, details ?? {});
        logger.warn(message, details);
      },
      error: (message, details) => {
        this.#noteProblem("error", message, details ?? {});
        logger.error(message, details);
      },
    };
  }

  /** Records a request of `sourceId` of `scopeId`, made by `userId`, to `endpoint`. */
  noteRequest(scopeId: string, userId: string, sourceId: string, endpoint: string): void {
    const now = this.#now();
    let scope = this.#scopes.get(scopeId);
    if (scope === undefined) {
      scope = { lastSeen: now, users: new Map(), sources: new Map() };
    } else {
      this.#scopes.delete(scopeId);
    }
    this.#scopes.set(scopeId, scope);
    scope.lastSeen = now;
    touch(scope.users, userId, now, this.limits.usersPerScope);
    touch(scope.sources, sourceId, { lastSeen: now, lastEndpoint: endpoint }, this.limits.sourcesPerScope);
    if (this.#scopes.size > this.limits.scopes) this.#scopes.delete(this.#scopes.keys().next().value!);
  }

  /** The `limit` most recently active scopes, most recent first. */
  recentScopes(limit: number): ScopeActivity[] {
    const recent: ScopeActivity[] = [];
    for (const [scopeId, scope] of [...this.#scopes].reverse()) {
      if (recent.length === limit) break;
      recent.push({
        scopeId,
        lastSeen: scope.lastSeen,
        userIds: [...scope.users.keys()].reverse(),
        sources: [...scope.sources].reverse().map(([sourceId, source]) => ({
          sourceId,
          lastSeen: source.lastSeen,
          lastEndpoint: source.lastEndpoint,
        })),
      });
    }
    return recent;
  }

  /** Every remembered scope id, most recent first (the watch table checks them all). */
  scopeIds(): string[] {
    return [...this.#scopes.keys()].reverse();
  }

  /** How many scopes are remembered. */
  get scopeCount(): number {
    return this.#scopes.size;
  }

  /** The remembered errors, newest first. */
  latestErrors(): ErrorEntry[] {
    return [...this.#errors].reverse();
  }

  #noteInfo(message: string, details: Readonly<Record<string, unknown>>): void {
    if (message === "request finished") {
      const { scopeId, userId, sourceId, endpoint } = details;
      if (typeof scopeId === "string" && typeof userId === "string" && typeof sourceId === "string") {
        this.noteRequest(scopeId, userId, sourceId, typeof endpoint === "string" ? endpoint : "");
      }
    } else if (message === "request" && typeof details.status === "number" && details.status >= 500) {
      // The access log (request-log.ts) has every answer, those of test-hook faults and demo files too.
      const path = pathOf(details.path);
      this.#remember({
        level: "error",
        message: `${String(details.method)} ${path ?? "?"} answered ${details.status}`,
        status: details.status,
        ...(path === undefined ? {} : { path }),
        ...(typeof details.user_id === "string" ? { userId: details.user_id } : {}),
        ...(typeof details.scope_id === "string" ? { scopeId: details.scope_id } : {}),
      });
    }
  }

  #noteProblem(level: "error" | "warn", message: string, details: Readonly<Record<string, unknown>>): void {
    const detail = describe(details.error);
    const path = pathOf(details.path ?? details.url);
    this.#remember({
      level,
      message: bounded(message),
      ...(detail === undefined ? {} : { detail }),
      ...(path === undefined ? {} : { path }),
      ...(typeof details.code === "string" ? { code: details.code } : {}),
      ...(typeof details.userId === "string" ? { userId: details.userId } : {}),
      ...(typeof details.scopeId === "string" ? { scopeId: details.scopeId } : {}),
    });
  }

  #remember(entry: Omit<ErrorEntry, "time">): void {
    this.#errors.push({ time: new Date(this.#now()).toISOString(), ...entry });
    if (this.#errors.length > this.limits.errors) this.#errors.shift();
  }
}

/** Sets `key` in `map` as its newest entry, dropping the oldest beyond `limit`. */
function touch<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value!);
}

/** An error's message and code, as the log line holds it; a string as it is. */
function describe(error: unknown): string | undefined {
  if (typeof error === "string") return bounded(error);
  if (error instanceof Error) {
    const { code } = error as { code?: unknown };
    return bounded(`${error.name}: ${error.message}${typeof code === "string" ? ` [${code}]` : ""}`);
  }
  return undefined;
}

/** The path of a URL or path, without a query string; undefined when it is not a string. */
function pathOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(value);
  const path = absolute === null ? value.split(/[?#]/)[0]! : absolute[1]!;
  return bounded(path === "" ? "/" : path);
}

function bounded(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}
