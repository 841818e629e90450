/**
 * `@oversync/server/prometheus`: a TelemetryRecorder over prom-client, whose registry a host serves
 * as the Prometheus text exposition (the reference server does at `/metrics`). prom-client is an
 * optional peer dependency, imported by this entry alone: hosts that do not scrape install nothing,
 * and a host that does uses its own prom-client and registry, next to its other metrics. It records
 * figures only; traces go through the OpenTelemetry recorder.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { SYNC_METRICS, type SyncMetric } from "./sync-metrics.js";
import type { TelemetryRecorder } from "./telemetry-recorder.js";

type Write = (value: number, labels: Readonly<Record<string, string>>) => void;

/**
 * A recorder that registers every figure of SYNC_METRICS in `registry` (reusing one already there
 * under the same name, so a second recorder on the registry, say a second service, adds to the same
 * series) and records into it.
 */
export function prometheusRecorder(registry: Registry): TelemetryRecorder {
  const writes = new Map<string, Write>();
  for (const metric of Object.values(SYNC_METRICS) as SyncMetric[]) {
    writes.set(metric.name, instrument(registry, metric));
  }
  return { record: (metric, value, labels) => writes.get(metric.name)?.(value, labels) };
}

function instrument(registry: Registry, metric: SyncMetric): Write {
  const existing = registry.getSingleMetric(metric.name);
  const config = {
    name: metric.name,
    help: metric.help,
    labelNames: [...metric.labels],
    registers: [registry],
  };
  switch (metric.kind) {
    case "counter": {
      const counter = (existing as Counter | undefined) ?? new Counter(config);
      return (value, labels) => counter.inc(labels, value);
    }
    case "updown": {
      const gauge = (existing as Gauge | undefined) ?? new Gauge(config);
      return (value, labels) => gauge.inc(labels, value);
    }
    case "gauge": {
      const gauge = (existing as Gauge | undefined) ?? new Gauge(config);
      return (value, labels) => gauge.set(labels, value);
    }
    case "histogram": {
      const histogram =
        (existing as Histogram | undefined) ?? new Histogram({ ...config, buckets: [...metric.buckets] });
      return (value, labels) => histogram.observe(labels, value);
    }
  }
}
