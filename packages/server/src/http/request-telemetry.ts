/**
 * What the handler reports about each request it answers: a `request` span around it, the request
 * figures (a count by endpoint and status, the duration by endpoint), and the logger's request
 * lines (`debug` as it starts, `info` once it has its answer). A request ends, for all three, when
 * the handler has its Response: a watch stream's once it opens (the open streams have their own
 * figure), and the bytes of a body still being streamed are not waited for.
 */
import { OversyncError } from "@oversync/protocol";
import type { Actor } from "../service/sync-service.js";
import type { SyncLogger } from "../telemetry/sync-logger.js";
import { SYNC_METRICS } from "../telemetry/sync-metrics.js";
import { type TelemetryRecorder, traced } from "../telemetry/telemetry-recorder.js";
import type { SyncRoute } from "./routes.js";

/** What the handler learns about a request while it answers it. */
export interface RequestFacts {
  route?: SyncRoute;
  actor?: Actor;
  /** What an error answer was made from. */
  error?: unknown;
}

/** Where a request is reported, and the base path its routes' templates sit under. */
export interface RequestObserver {
  readonly basePath: string;
  readonly logger: SyncLogger;
  readonly telemetry: TelemetryRecorder;
}

/** The `endpoint` label of a request that matched no route. */
const UNMATCHED_ENDPOINT = "unmatched";

/** Runs `answer` as one observed request. */
export function observeRequest(
  request: Request,
  observer: RequestObserver,
  answer: (facts: RequestFacts) => Promise<Response>,
): Promise<Response> {
  const { logger, telemetry } = observer;
  const started = performance.now();
  const method = request.method;
  const path = new URL(request.url).pathname;
  logger.debug?.("request started", { method, path });
  const start = {
    kind: "request",
    name: method,
    attributes: { "http.request.method": method, "url.path": path },
    headers: request.headers,
  } as const;
  return traced(telemetry, start, async (span) => {
    const facts: RequestFacts = {};
    const response = await answer(facts);
    const seconds = (performance.now() - started) / 1000;
    const { route, actor, error } = facts;
    const endpoint = route === undefined ? UNMATCHED_ENDPOINT : (route.name ?? route.path);
    const status = response.status;
    telemetry.record(SYNC_METRICS.requests, 1, { endpoint, status: String(status) });
    telemetry.record(SYNC_METRICS.requestDuration, seconds, { endpoint });

    const code = answeredCode(error, status, route);
    const who =
      actor === undefined ? {} : { userId: actor.userId, scopeId: actor.scopeId, sourceId: actor.sourceId };
    if (route !== undefined) {
      const template = `${observer.basePath}${route.path}`;
      span.updateName(`${method} ${template}`);
      span.setAttributes({ "http.route": template });
    }
    span.setAttributes({
      "http.response.status_code": status,
      "oversync.endpoint": endpoint,
      ...(code === undefined ? {} : { "oversync.error_code": code }),
      ...(actor === undefined
        ? {}
        : {
            "oversync.user_id": actor.userId,
            "oversync.scope_id": actor.scopeId,
            "oversync.source_id": actor.sourceId,
          }),
    });
    if (status >= 500) span.fail(error ?? new Error(`answered ${status}`));
    logger.info?.("request finished", {
      method,
      path,
      endpoint,
      status,
      durationMs: Math.round(seconds * 100_000) / 100,
      ...(code === undefined ? {} : { code }),
      ...who,
    });
    return response;
  });
}

/**
 * The code of an error answer: the wire code it carried (`push_conflict`, `scope_forbidden`), or
 * for a fault, which is never sent, the route's generic 5xx code it was answered with.
 */
function answeredCode(error: unknown, status: number, route: SyncRoute | undefined): string | undefined {
  if (error === undefined) return undefined;
  if (error instanceof OversyncError) return error.code;
  if (status >= 500) return route?.failureCode ?? "internal_error";
  const { code } = error as { code?: unknown };
  return typeof code === "string" ? code : undefined;
}
