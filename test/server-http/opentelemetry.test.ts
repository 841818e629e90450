/**
 * `@oversync/server/opentelemetry` under real requests, with the OpenTelemetry SDK in memory as a
 * host would install it (a MeterProvider with a reader, a tracer provider with an in-memory
 * exporter, async context and W3C trace context): a server span per request named by its route, a
 * commit span inside the commit request's span, the caller's `traceparent` continued, failures
 * marked only for faults and 5xx answers, and metric points under the instrument names and units
 * derived from SYNC_METRICS. Without an SDK the recorder must do nothing and break nothing.
 */
import { randomUUID } from "node:crypto";
import { type Attributes, SpanKind, SpanStatusCode, context, propagation } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  type MetricDefinition,
  type PublicRoute,
  SYNC_METRICS,
  type SyncRuntime,
  createSyncHandler,
  createSyncService,
} from "@oversync/server";
import { openTelemetryName, openTelemetryRecorder } from "@oversync/server/opentelemetry";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "../server/business-schema.js";
import { userRow } from "../server/service-harness.js";
import { type LoopbackServer, call, serveOnLoopback, syncHeaders, testAuthenticate } from "./http-support.js";
import { httpDevice } from "./telemetry-support.js";

const BASE = "/api/v1";

/** A reader the test collects from on demand. */
class CollectingReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const failingRoute: PublicRoute = {
  method: "GET",
  path: "/host/failing",
  auth: "none",
  failureCode: "internal_error",
  handle: async () => {
    throw new Error("the host route broke");
  },
};

let db: TestDatabase;
let service: SyncRuntime;
let server: LoopbackServer;
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const reader = new CollectingReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const telemetry = openTelemetryRecorder({
    meter: meterProvider.getMeter("test"),
    tracer: tracerProvider.getTracer("test"),
  });
  db = await createTestDatabase("oversync_otel");
  await createBusinessSchema(db.pool);
  service = createSyncService({
    pool: db.pool,
    appName: "otel",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { error: () => undefined },
    telemetry,
  });
  await service.bootstrap();
  server = await serveOnLoopback(
    createSyncHandler({
      service,
      authenticate: testAuthenticate,
      basePath: BASE,
      logger: { error: () => undefined },
      telemetry,
      routes: [failingRoute],
    }),
  );
});

afterAll(async () => {
  await server?.close();
  await service?.close();
  await db?.drop();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  context.disable();
  propagation.disable();
});

beforeEach(() => spans.reset());

async function freshDevice(name: string) {
  const device = httpDevice(
    `${server.origin}${BASE}`,
    `${name}-${randomUUID().slice(0, 8)}`,
    `${name}-phone`,
  );
  expect((await device.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
  return device;
}

const finished = (): ReadableSpan[] => spans.getFinishedSpans();
const named = (name: string): ReadableSpan[] => finished().filter((span) => span.name === name);

describe("spans", () => {
  it("one server span per request, named by its route, and a commit span inside the commit's request span", async () => {
    const device = await freshDevice("traced");
    spans.reset();
    const { commit } = await device.push(1, [userRow(randomUUID(), "Ada"), userRow(randomUUID(), "Bob")]);
    expect(commit.status).toBe(200);
    const requests = finished().filter((span) => span.kind === SpanKind.SERVER);
    expect(requests.map((span) => span.name)).toStrictEqual([
      `POST ${BASE}/sync/push-sessions`,
      `POST ${BASE}/sync/push-sessions/:push_id/chunks`,
      `POST ${BASE}/sync/push-sessions/:push_id/commit`,
    ]);
    const commitRequest = requests[2]!;
    expect(commitRequest.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": `${BASE}/sync/push-sessions/:push_id/commit`,
      "http.response.status_code": 200,
      "oversync.endpoint": "pushCommit",
      "oversync.user_id": device.userId,
      "oversync.scope_id": device.userId,
      "oversync.source_id": device.sourceId,
    });
    expect(commitRequest.status.code).toBe(SpanStatusCode.UNSET);

    const [commitSpan] = named("oversync commit");
    expect(commitSpan).toBeDefined();
    expect(commitSpan!.kind).toBe(SpanKind.INTERNAL);
    expect(commitSpan!.spanContext().traceId).toBe(commitRequest.spanContext().traceId);
    expect(commitSpan!.parentSpanContext?.spanId).toBe(commitRequest.spanContext().spanId);
    expect(commitSpan!.attributes).toStrictEqual({
      "oversync.origin": "push",
      "oversync.scope_id": device.userId,
      "oversync.source_id": device.sourceId,
      "oversync.bundle_seq": (commit.body as { bundle_seq: number }).bundle_seq,
      "oversync.source_bundle_id": 1,
      "oversync.row_count": 2,
    } satisfies Attributes);
  });

  it("continues the caller's trace from traceparent", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const reply = await call(server.origin, `${BASE}/syncx/health`, {
      headers: { traceparent: `00-${traceId}-${parentId}-01` },
    });
    expect(reply.status).toBe(200);
    const [span] = named(`GET ${BASE}/syncx/health`);
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.parentSpanContext?.spanId).toBe(parentId);
  });

  it("a conflict leaves its spans unfailed and names the code; a fault fails the request span", async () => {
    const phone = await freshDevice("otel-conflict");
    const id = randomUUID();
    await phone.push(1, [userRow(id, "Ada")]);
    const laptop = httpDevice(`${server.origin}${BASE}`, phone.userId, "otel-laptop");
    spans.reset();
    const { commit } = await laptop.push(1, [userRow(id, "Ada L", { op: "UPDATE", base: 0 })]);
    expect(commit.status).toBe(409);
    const [commitSpan] = named("oversync commit");
    expect(commitSpan!.attributes["oversync.error_code"]).toBe("push_conflict");
    expect(commitSpan!.status.code).toBe(SpanStatusCode.UNSET);
    const [request] = named(`POST ${BASE}/sync/push-sessions/:push_id/commit`);
    expect(request!.attributes).toMatchObject({
      "http.response.status_code": 409,
      "oversync.error_code": "push_conflict",
    });
    expect(request!.status.code).toBe(SpanStatusCode.UNSET);

    expect((await call(server.origin, `${BASE}/host/failing`)).status).toBe(500);
    const [failed] = named(`GET ${BASE}/host/failing`);
    expect(failed!.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed!.events.map((event) => event.name)).toStrictEqual(["exception"]);
    expect(failed!.attributes["oversync.error_code"]).toBe("internal_error");
  });
});

describe("metric points", () => {
  /** Every metric the reader holds, by instrument name. */
  async function collect(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toStrictEqual([]);
    return new Map(
      resourceMetrics.scopeMetrics.flatMap((scope) =>
        scope.metrics.map((metric) => [metric.descriptor.name, metric]),
      ),
    );
  }

  function point<T>(metric: MetricData | undefined, attributes: Attributes): DataPoint<T> | undefined {
    return (metric?.dataPoints as DataPoint<T>[] | undefined)?.find((candidate) =>
      Object.entries(attributes).every(([name, value]) => candidate.attributes[name] === value),
    );
  }

  it("requests, durations, rows and bytes, bundles, pool waits and the status figures, under their OpenTelemetry names", async () => {
    const device = await freshDevice("metered");
    const before = await collect();
    const commitsBefore = point<number>(before.get("oversync.requests"), {
      endpoint: "pushCommit",
      status: "200",
    });
    await device.push(1, [userRow(randomUUID(), "Ada")]);
    await service.status("current");
    const after = await collect();

    const commits = point<number>(after.get("oversync.requests"), { endpoint: "pushCommit", status: "200" });
    expect(commits!.value - (commitsBefore?.value ?? 0)).toBe(1);
    const duration = after.get("oversync.request_duration")!;
    expect(duration.descriptor.unit).toBe("s");
    expect(point<Histogram>(duration, { endpoint: "pushCommit" })!.value.count).toBeGreaterThanOrEqual(1);
    expect(
      point<number>(after.get("oversync.transferred_rows"), { operation: "push" })!.value,
    ).toBeGreaterThanOrEqual(1);
    const bytes = after.get("oversync.transferred")!;
    expect(bytes.descriptor.unit).toBe("By");
    expect(point<number>(bytes, { operation: "push" })!.value).toBeGreaterThan(0);
    expect(
      point<number>(after.get("oversync.bundles_committed"), { origin: "push" })!.value,
    ).toBeGreaterThanOrEqual(1);
    expect(point<Histogram>(after.get("oversync.pool_wait"), {})!.value.count).toBeGreaterThan(0);
    const status = await service.status("recent");
    expect(point<number>(after.get("oversync.retained_floor_lag_bundles"), { aggregate: "max" })!.value).toBe(
      status.retained_bundle_window_max,
    );
  });

  it("each instrument name is one an OpenTelemetry Prometheus exporter turns back into the Prometheus name", () => {
    const exported = (metric: MetricDefinition) => {
      const base = openTelemetryName(metric).replaceAll(".", "_");
      const unit = metric.unit === undefined ? "" : `_${metric.unit}`;
      return `${base}${unit}${metric.kind === "counter" ? "_total" : ""}`;
    };
    const metrics: MetricDefinition[] = Object.values(SYNC_METRICS);
    expect(metrics.map(exported)).toStrictEqual(metrics.map((metric) => metric.name));
    expect(metrics.map(openTelemetryName).every((name) => name.startsWith("oversync."))).toBe(true);
  });
});

describe("without an SDK", () => {
  it("records and traces nothing, and the traced work still runs", async () => {
    const recorder = openTelemetryRecorder();
    for (const metric of Object.values(SYNC_METRICS) as MetricDefinition[]) {
      const labels = Object.fromEntries(metric.labels.map((label) => [label, "x"]));
      recorder.record(metric as never, 1, labels as never);
    }
    const headers = new Headers(syncHeaders("nobody", "nowhere"));
    const spansBefore = finished().length;
    await expect(
      recorder.trace!({ kind: "request", name: "GET", attributes: {}, headers }, async () => "ran"),
    ).resolves.toBe("ran");
    expect(finished().length).toBe(spansBefore);
  });
});
