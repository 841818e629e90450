/**
 * The test hooks of `oversync serve --test-hooks`: what the live conformance suite
 * (test/conformance) needs beyond the upstream helpers to play the Go end-to-end harness over HTTP.
 * Each is small and generic, and none exists unless the flag is given:
 *
 * - `POST /test/fail-requests`: the next `count` requests of one user to one sync endpoint are
 *   answered with a given status and body, or have their connection cut, either instead of being
 *   handled or after the server handled them (a commit that succeeded but whose answer was lost).
 * - `POST /test/initialization-lease`: moves the expiry of a user's scope-initialization lease, so
 *   an expired seed is a request away instead of a sleep.
 * - `POST /test/server-sql`: runs SQL statements as a server-originated write (one bundle), the
 *   way the host's own code would through `scopeManager.execWrite` or `withinSyncBundle`: deletes,
 *   multi-statement transactions and exact source tuples included.
 * - `GET /test/hooks`: names the hooks, so a suite can tell a server without them.
 *
 * Rules and writes are addressed by user id, so tests with fresh users never disturb each other on
 * a shared server. Like the other test helpers they take no user token and are admin routes: they
 * answer callers on the server's machine or with the admin token (reference-handler.ts).
 */
import { OversyncError, userIdProblem } from "@oversync/protocol";
import {
  type BundleTransaction,
  type FetchHandler,
  type AdminRoute,
  SYNC_ROUTES,
  ServerWriteError,
  type SqlPool,
  type SyncRuntime,
  errorResponse,
  jsonResponse,
  withClient,
} from "@oversync/server";
import type { JwtAuth } from "./jwt-auth.js";

/** The endpoints a fail-requests rule can name (the names of the upstream Go harness), by route. */
const FAULT_ENDPOINTS = {
  capabilities: ["GET", "/sync/capabilities"],
  connect: ["POST", "/sync/connect"],
  push_session_create: ["POST", "/sync/push-sessions"],
  push_session_chunk: ["POST", "/sync/push-sessions/:push_id/chunks"],
  push_session_commit: ["POST", "/sync/push-sessions/:push_id/commit"],
  push_session_delete: ["DELETE", "/sync/push-sessions/:push_id"],
  committed_bundle_rows: ["GET", "/sync/committed-bundles/:bundle_seq/rows"],
  pull: ["GET", "/sync/pull"],
  snapshot_create: ["POST", "/sync/snapshot-sessions"],
  snapshot_chunk: ["GET", "/sync/snapshot-sessions/:snapshot_id"],
  snapshot_delete: ["DELETE", "/sync/snapshot-sessions/:snapshot_id"],
  watch: ["GET", "/sync/watch"],
} as const satisfies Record<string, readonly [string, string]>;

/** A name of FAULT_ENDPOINTS. */
type FaultEndpoint = keyof typeof FAULT_ENDPOINTS;

/** Each endpoint's method and path matcher, checked against the server's own route table. */
const ENDPOINT_MATCHERS = Object.entries(FAULT_ENDPOINTS).map(([name, [method, path]]) => {
  // A renamed route must fail here, not leave a rule that silently never matches.
  if (!SYNC_ROUTES.some((route) => route.method === method && route.path === path)) {
    throw new Error(`test hooks: no sync route ${method} ${path} for endpoint ${name}`);
  }
  const pattern = new RegExp(`^${path.replace(/:[a-z_]+/g, "[^/]+")}$`);
  return { name: name as FaultEndpoint, method, pattern };
});

/** What a matched request gets. */
type FaultAnswer =
  | { readonly kind: "respond"; readonly status: number; readonly body: string; readonly contentType: string }
  | { readonly kind: "disconnect" };

interface FaultRule {
  readonly userId: string;
  readonly endpoint: FaultEndpoint;
  /** Matching requests still to let through before the rule applies. */
  skip: number;
  /** Matching requests still to answer with the fault. */
  remaining: number;
  /** "before": instead of handling; "after": the server handles the request, its answer is replaced. */
  readonly when: "before" | "after";
  readonly answer: FaultAnswer;
}

/** The body of a rule-made error when the test gives none. */
const DEFAULT_FAULT_BODY = JSON.stringify({
  error: "injected_failure",
  message: "answered by a fail-requests rule of oversync serve --test-hooks",
});

/**
 * The fail-requests rules of a server and the handler wrapper that applies them. Rules for the same
 * user and endpoint apply one after the other, oldest first; a used-up rule is dropped.
 */
export class RequestFaults {
  private rules: FaultRule[] = [];

  constructor(private readonly auth: JwtAuth) {}

  /** Wraps `handler`: a request matching a rule (by endpoint and authenticated user) gets its fault. */
  wrap(handler: FetchHandler): FetchHandler {
    return async (request, connection) => {
      const rule = this.rules.length === 0 ? undefined : await this.take(request);
      if (rule === undefined) return handler(request, connection);
      if (rule.when === "after") {
        const handled = await handler(request, connection);
        await handled.body?.cancel();
      } else if (!request.bodyUsed) {
        // Read the request as the server would have: a response sent while its body is still
        // arriving ends the connection (node-listener.ts), and a cut connection without a length
        // or chunked framing would then look to the client like a whole, empty body.
        await request.arrayBuffer();
      }
      return faultResponse(rule.answer);
    };
  }

  /** The rule that applies to `request`, consuming one use of it; undefined when none does. */
  private async take(request: Request): Promise<FaultRule | undefined> {
    const path = new URL(request.url).pathname;
    const endpoint = ENDPOINT_MATCHERS.find(
      (matcher) => matcher.method === request.method && matcher.pattern.test(path),
    )?.name;
    if (endpoint === undefined) return undefined;
    const user = await this.auth.authenticate(request);
    const rule = this.rules.find(
      (candidate) => candidate.endpoint === endpoint && candidate.userId === user?.userId,
    );
    if (rule === undefined) return undefined;
    if (rule.skip > 0) {
      rule.skip--;
      return undefined;
    }
    rule.remaining--;
    if (rule.remaining === 0) this.rules = this.rules.filter((candidate) => candidate !== rule);
    return rule;
  }

  /** `POST /test/fail-requests`. */
  route(): AdminRoute {
    return {
      method: "POST",
      path: "/test/fail-requests",
      auth: "admin",
      failureCode: "internal_error",
      handle: async ({ bodyText }) => {
        const rule = decodeFaultRule(await bodyText());
        this.rules.push(rule);
        return jsonResponse({
          status: "ok",
          user_id: rule.userId,
          endpoint: rule.endpoint,
          count: rule.remaining,
          skip: rule.skip,
          when: rule.when,
        });
      },
    };
  }
}

function faultResponse(answer: FaultAnswer): Response {
  if (answer.kind === "respond") {
    return new Response(answer.body, {
      status: answer.status,
      headers: {
        "content-type": answer.contentType,
        "content-length": String(Buffer.byteLength(answer.body)),
      },
    });
  }
  // A body that fails before its first byte: the status line has gone out, then the connection is
  // cut, which a client sees as a response that ended early (Go's "unexpected EOF").
  const cut = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new Error("connection cut by a fail-requests rule (oversync serve --test-hooks)"));
    },
  });
  return new Response(cut, { status: 200, headers: { "content-type": "application/json" } });
}

function decodeFaultRule(text: string): FaultRule {
  const body = jsonObject(text);
  const endpoint = body.endpoint;
  if (typeof endpoint !== "string" || !Object.hasOwn(FAULT_ENDPOINTS, endpoint)) {
    throw invalid(`endpoint must be one of ${Object.keys(FAULT_ENDPOINTS).join(", ")}`);
  }
  const when = body.when ?? "before";
  if (when !== "before" && when !== "after") throw invalid('when must be "before" or "after"');
  const disconnect = body.disconnect ?? false;
  if (typeof disconnect !== "boolean") throw invalid("disconnect must be a boolean");
  let answer: FaultAnswer;
  if (disconnect) {
    if (body.status !== undefined || body.body !== undefined) {
      throw invalid("a disconnect rule takes no status or body");
    }
    answer = { kind: "disconnect" };
  } else {
    const status = wholeNumber(body.status, "status", 200, 599);
    if (status === undefined) throw invalid("give a status (200-599) or disconnect: true");
    const contentType = body.content_type ?? "application/json";
    if (typeof contentType !== "string" || contentType === "") {
      throw invalid("content_type must be a non-empty string");
    }
    // A string is sent as it is (a malformed body); anything else as its JSON text.
    const text = body.body === undefined ? DEFAULT_FAULT_BODY : body.body;
    answer = {
      kind: "respond",
      status,
      body: typeof text === "string" ? text : JSON.stringify(text),
      contentType,
    };
  }
  return {
    userId: userId(body.user_id),
    endpoint: endpoint as FaultEndpoint,
    skip: wholeNumber(body.skip, "skip", 0, 1_000_000) ?? 0,
    remaining: wholeNumber(body.count, "count", 1, 1_000_000) ?? 1,
    when,
    answer,
  };
}

/** `POST /test/initialization-lease`: `{user_id, expires_in_seconds}` for a scope being initialized. */
export function initializationLeaseRoute(pool: SqlPool): AdminRoute {
  return {
    method: "POST",
    path: "/test/initialization-lease",
    auth: "admin",
    failureCode: "internal_error",
    async handle({ bodyText }) {
      const body = jsonObject(await bodyText());
      const user = userId(body.user_id);
      const seconds = wholeNumber(body.expires_in_seconds, "expires_in_seconds", 0, 86_400);
      if (seconds === undefined) throw invalid("expires_in_seconds is required (0 expires the lease now)");
      // The runtime expires a lapsed lease when it next loads the user, exactly as after a real wait.
      const result = await withClient(pool, (client) =>
        client.query<{ lease_expires_at: string }>(
          `UPDATE sync.user_state SET lease_expires_at = now() + make_interval(secs => $2)
         WHERE user_id = $1 AND scope_state = 'initializing'
         RETURNING to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lease_expires_at`,
          [user, seconds],
        ),
      );
      const updated = result.rows[0];
      if (updated === undefined) {
        return jsonResponse(
          {
            error: "scope_not_initializing",
            message: `user ${user} has no scope being initialized, so there is no lease to move`,
          },
          409,
        );
      }
      return jsonResponse({ status: "ok", user_id: user, lease_expires_at: updated.lease_expires_at });
    },
  };
}

/**
 * `POST /test/server-sql`: `{user_id, writer_id?, statements: [{sql, params}], source_bundle_id?}`.
 * Without `source_bundle_id` the statements run through `scopeManager.execWrite` (next tuple chosen,
 * an uninitialized scope initialized); with it, through `withinSyncBundle` at exactly that tuple.
 */
export function serverSqlRoute(service: SyncRuntime): AdminRoute {
  return {
    method: "POST",
    path: "/test/server-sql",
    auth: "admin",
    failureCode: "internal_error",
    async handle({ bodyText }) {
      const body = jsonObject(await bodyText());
      const user = userId(body.user_id);
      const writerId = body.writer_id ?? "server-writer";
      if (typeof writerId !== "string") throw invalid("writer_id must be a string");
      const statements = decodeStatements(body.statements);
      const sourceBundleId = wholeNumber(
        body.source_bundle_id,
        "source_bundle_id",
        1,
        Number.MAX_SAFE_INTEGER,
      );
      const run = async (tx: BundleTransaction) => {
        const results: { row_count: number; rows: unknown[] }[] = [];
        for (const statement of statements) {
          const result = await tx.query(statement.sql, statement.params);
          results.push({ row_count: result.rowCount ?? 0, rows: result.rows });
        }
        return results;
      };
      try {
        if (sourceBundleId === undefined) {
          const written = await service.scopeManager.execWrite(user, { writerId }, run);
          return jsonResponse({
            status: "ok",
            auto_initialized: written.autoInitialized,
            bundle: written.bundle,
            results: written.value,
          });
        }
        const written = await service.withinSyncBundle(
          { scopeId: user },
          { sourceId: writerId, sourceBundleId },
          run,
        );
        return jsonResponse({ status: "ok", bundle: written.bundle ?? null, results: written.value });
      } catch (error) {
        if (error instanceof OversyncError) return errorResponse(error);
        if (error instanceof ServerWriteError) {
          return jsonResponse({ error: error.code, message: error.message }, 422);
        }
        // A statement PostgreSQL refused: the whole write was rolled back, nothing was committed.
        return jsonResponse({ error: "server_write_failed", message: (error as Error).message }, 400);
      }
    },
  };
}

/** `GET /test/hooks`: the hooks this server serves. */
export function testHooksIndexRoute(): AdminRoute {
  return {
    method: "GET",
    path: "/test/hooks",
    auth: "admin",
    failureCode: "internal_error",
    handle: async () =>
      jsonResponse({
        hooks: ["fail-requests", "initialization-lease", "server-sql"],
        fault_endpoints: Object.keys(FAULT_ENDPOINTS),
      }),
  };
}

/** Every test-hook route, for a server started with `--test-hooks`. */
export function testHookRoutes(faults: RequestFaults, service: SyncRuntime, pool: SqlPool): AdminRoute[] {
  return [testHooksIndexRoute(), faults.route(), initializationLeaseRoute(pool), serverSqlRoute(service)];
}

function decodeStatements(value: unknown): { sql: string; params: unknown[] }[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid("statements must be a non-empty array of {sql, params}");
  }
  return value.map((statement, index) => {
    const sql = (statement as { sql?: unknown } | null)?.sql;
    const params = (statement as { params?: unknown } | null)?.params ?? [];
    if (typeof sql !== "string" || sql.trim() === "")
      throw invalid(`statements[${index}].sql must be SQL text`);
    if (!Array.isArray(params)) throw invalid(`statements[${index}].params must be an array`);
    return { sql, params };
  });
}

function jsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid("the body must be a JSON object");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function userId(value: unknown): string {
  if (typeof value !== "string") throw invalid("user_id must be a string");
  const problem = userIdProblem(value);
  if (problem !== undefined) throw invalid(`user_id ${problem}`);
  return value;
}

function wholeNumber(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function invalid(message: string): OversyncError {
  return new OversyncError("invalid_request", message);
}
