/**
 * `GET /metrics`: the reference server's Prometheus text exposition. One prom-client registry holds
 * the sync runtime's figures (SYNC_METRICS, recorded through `@oversync/server/prometheus` by both
 * the service and the handler) and prom-client's default process and Node.js metrics. It is an
 * admin route like `/syncx/status`, whose counters it discloses too: callers on this machine, or a
 * scraper sending the admin token as `Authorization: Bearer <token>`.
 */
import type { AdminRoute, TelemetryRecorder } from "@oversync/server";
import { prometheusRecorder } from "@oversync/server/prometheus";
import { Registry, collectDefaultMetrics } from "prom-client";

/** Where the exposition is served. */
export const METRICS_PATH = "/metrics";

/** The registry a server records into, and the recorder over it for its service and handler. */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly telemetry: TelemetryRecorder;
}

/** A fresh registry with the default process metrics and the sync runtime's figures. */
export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { registry, telemetry: prometheusRecorder(registry) };
}

/** The `/metrics` route over `registry`. */
export function metricsRoute(registry: Registry): AdminRoute {
  return {
    method: "GET",
    path: METRICS_PATH,
    auth: "admin",
    failureCode: "internal_error",
    name: "metrics",
    async handle({ service }) {
      // The retained-floor figures come from the status counters, which a status read keeps at most
      // ten seconds old (refreshed in the background); a scrape must still answer while the
      // database is down, when the other figures matter most.
      await service.status("recent").catch(() => undefined);
      return new Response(await registry.metrics(), {
        status: 200,
        headers: { "content-type": registry.contentType },
      });
    },
  };
}
