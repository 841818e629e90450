/**
 * `@oversync/server/opentelemetry`: a TelemetryRecorder over `@opentelemetry/api`, recording every
 * figure of SYNC_METRICS as an instrument and each request and bundle commit as a span. Like any
 * instrumented library it only talks to the API: without an SDK installed by the host, every call
 * is a no-op. `@opentelemetry/api` is an optional peer dependency, imported by this entry alone.
 */
import {
  type Attributes,
  type Meter,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  context,
  metrics,
  propagation,
  trace,
} from "@opentelemetry/api";
import type { MetricDefinition, SyncMetric } from "./sync-metrics.js";
import type { TelemetryRecorder, TelemetrySpan } from "./telemetry-recorder.js";

/** The instrumentation scope the meter and tracer are named after. */
export const OPENTELEMETRY_SCOPE = "@oversync/server";

/** Options of openTelemetryRecorder. */
export interface OpenTelemetryRecorderOptions {
  /** Default: the global MeterProvider's meter for OPENTELEMETRY_SCOPE, taken at the first recording. */
  readonly meter?: Meter;
  /** Default: the global TracerProvider's tracer for OPENTELEMETRY_SCOPE. */
  readonly tracer?: Tracer;
}

/**
 * The OpenTelemetry instrument name of a figure: its Prometheus name without the `_total` of a
 * counter and the unit suffix (the unit is instrument metadata), with `oversync.` as the namespace.
 * An OpenTelemetry Prometheus exporter turns it back into the Prometheus name.
 */
export function openTelemetryName(metric: MetricDefinition): string {
  let name = metric.name;
  if (metric.kind === "counter") name = name.replace(/_total$/, "");
  if (metric.unit !== undefined) name = name.replace(new RegExp(`_${metric.unit}$`), "");
  return name.replace(/^oversync_/, "oversync.");
}

/** The UCUM unit of a figure's base unit. */
const UNITS = { seconds: "s", bytes: "By" } as const;

type Write = (value: number, attributes: Attributes) => void;

/** A recorder over the OpenTelemetry API: metrics, and spans for requests and commits. */
export function openTelemetryRecorder(options: OpenTelemetryRecorderOptions = {}): TelemetryRecorder {
  // Instruments are made at their first recording, so a host that starts its SDK after building the
  // recorder (but before serving) still gets them from its provider.
  let meter: Meter | undefined;
  const writes = new Map<string, Write>();
  const tracer = options.tracer ?? trace.getTracer(OPENTELEMETRY_SCOPE);
  return {
    record(metric, value, labels) {
      let write = writes.get(metric.name);
      if (write === undefined) {
        meter ??= options.meter ?? metrics.getMeter(OPENTELEMETRY_SCOPE);
        write = instrument(meter, metric);
        writes.set(metric.name, write);
      }
      write(value, labels);
    },
    trace(start, work) {
      // A host that instruments HTTP itself has a server span active already; otherwise the
      // caller's `traceparent` (if any) is the parent.
      const active = context.active();
      const parent =
        start.headers !== undefined && trace.getSpan(active) === undefined
          ? propagation.extract(active, start.headers, HEADERS_GETTER)
          : active;
      const kind = start.kind === "request" ? SpanKind.SERVER : SpanKind.INTERNAL;
      return tracer.startActiveSpan(
        start.name,
        { kind, attributes: start.attributes },
        parent,
        async (span) => {
          const handle: TelemetrySpan = {
            setAttributes: (attributes) => span.setAttributes(attributes),
            updateName: (name) => span.updateName(name),
            fail: (error) => {
              span.recordException(error instanceof Error ? error : String(error));
              span.setStatus({
                code: SpanStatusCode.ERROR,
                message: error instanceof Error ? error.message : String(error),
              });
            },
          };
          try {
            return await work(handle);
          } catch (error) {
            handle.fail(error);
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
  };
}

function instrument(meter: Meter, metric: SyncMetric): Write {
  const name = openTelemetryName(metric);
  const { unit: baseUnit }: MetricDefinition = metric;
  const unit = baseUnit === undefined ? {} : { unit: UNITS[baseUnit] };
  const options = { description: metric.help, ...unit };
  switch (metric.kind) {
    case "counter": {
      const counter = meter.createCounter(name, options);
      return (value, attributes) => counter.add(value, attributes);
    }
    case "updown": {
      const counter = meter.createUpDownCounter(name, options);
      return (value, attributes) => counter.add(value, attributes);
    }
    case "gauge": {
      const gauge = meter.createGauge(name, options);
      return (value, attributes) => gauge.record(value, attributes);
    }
    case "histogram": {
      const histogram = meter.createHistogram(name, {
        ...options,
        advice: { explicitBucketBoundaries: [...metric.buckets] },
      });
      return (value, attributes) => histogram.record(value, attributes);
    }
  }
}

/** Reads a trace context from Fetch-API headers. */
const HEADERS_GETTER: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};
