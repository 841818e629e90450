/**
 * The seam between the runtime and a host's metrics and traces: a recorder the host passes to
 * createSyncService and createSyncHandler (`telemetry`). It has no dependency of its own; the
 * adapters for prom-client (`@oversync/server/prometheus`) and OpenTelemetry
 * (`@oversync/server/opentelemetry`) live behind their own entry points, so the main entry imports
 * neither. Without one, nothing is recorded.
 */
import type { SyncLogger } from "./sync-logger.js";
import type { MetricLabels, SyncMetric } from "./sync-metrics.js";

/** Attributes of a span. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** A traced unit of work as it starts. */
export interface SpanStart {
  /**
   * `request`: one HTTP request the handler answers (a server span). `commit`: one bundle commit,
   * a push commit or a server-originated write (a child of the request's span when it runs in one).
   */
  readonly kind: "request" | "commit";
  readonly name: string;
  readonly attributes: SpanAttributes;
  /** A request's headers, which may carry the caller's trace context (`traceparent`). */
  readonly headers?: Headers;
}

/** The span a unit runs in, for what is learned while it runs. */
export interface TelemetrySpan {
  setAttributes(attributes: SpanAttributes): void;
  /** A request's span is named once its route is known (`POST /sync/push-sessions/:push_id/commit`). */
  updateName(name: string): void;
  /** Marks the unit failed: a fault, or a 5xx answer. Expected answers (a conflict, a 4xx) are not failures. */
  fail(error: unknown): void;
}

/** Where the runtime records its figures (SYNC_METRICS) and, optionally, traces its units of work. */
export interface TelemetryRecorder {
  /**
   * Records `value` for `metric` with its labels: added to a counter or up-down counter, set on a
   * gauge, observed by a histogram (`metric.kind` says which).
   */
  record<M extends SyncMetric>(metric: M, value: number, labels: MetricLabels<M>): void;
  /** Runs `work` in a span and ends the span when it settles; without it, `work` just runs. */
  trace?<T>(start: SpanStart, work: (span: TelemetrySpan) => Promise<T>): Promise<T>;
}

/** The default: records nothing. */
export const NO_TELEMETRY: TelemetryRecorder = { record: () => undefined };

const NO_SPAN: TelemetrySpan = {
  setAttributes: () => undefined,
  updateName: () => undefined,
  fail: () => undefined,
};

/** Runs `work` in a span of `recorder`, or as is when it traces nothing. */
export function traced<T>(
  recorder: TelemetryRecorder,
  start: SpanStart,
  work: (span: TelemetrySpan) => Promise<T>,
): Promise<T> {
  return recorder.trace === undefined ? work(NO_SPAN) : recorder.trace(start, work);
}

/**
 * `recorder` with its `record` guarded: a metrics backend that throws is logged (once per figure)
 * and otherwise ignored, since a figure is never worth failing the sync call it describes.
 */
export function guardRecorder(recorder: TelemetryRecorder, logger: SyncLogger): TelemetryRecorder {
  if (recorder === NO_TELEMETRY) return recorder;
  const reported = new Set<string>();
  return {
    record(metric, value, labels) {
      try {
        recorder.record(metric, value, labels);
      } catch (error) {
        if (reported.has(metric.name)) return;
        reported.add(metric.name);
        logger.warn?.("the telemetry recorder failed to record a figure", { metric: metric.name, error });
      }
    },
    ...(recorder.trace === undefined ? {} : { trace: recorder.trace.bind(recorder) }),
  };
}
