import { SYNC_METRICS } from "@oversync/server";
import { prometheusRecorder } from "@oversync/server/prometheus";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { MetricsHistory, histogramQuantile } from "./metrics-history.js";

describe("histogramQuantile", () => {
  const bounds = [0.1, 0.5, 1];

  it("interpolates inside the bucket holding the rank, as Prometheus does", () => {
    // 10 observations: 4 at or below 0.1, 8 at or below 0.5, 10 at or below 1.
    const buckets = [4, 8, 10, 10];
    expect(histogramQuantile(0.5, bounds, buckets)).toBeCloseTo(0.1 + 0.4 * (1 / 4));
    expect(histogramQuantile(0.2, bounds, buckets)).toBeCloseTo(0.05);
    expect(histogramQuantile(0.95, bounds, buckets)).toBeCloseTo(0.5 + 0.5 * (1.5 / 2));
  });

  it("answers the highest bound in the +Inf bucket and null without observations", () => {
    expect(histogramQuantile(0.95, bounds, [0, 0, 1, 10])).toBe(1);
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNull();
  });
});

describe("MetricsHistory", () => {
  it("measures rates and quantiles between readings, leaving out excluded endpoints", async () => {
    const registry = new Registry();
    const telemetry = prometheusRecorder(registry);
    const history = new MetricsHistory(registry, { excludedEndpoints: ["dashboardData"] });
    const first = await history.view(10_000);
    expect(first.current.requests_per_second).toBeNull();
    expect(first.series).toStrictEqual([]);

    for (let index = 0; index < 4; index++) {
      telemetry.record(SYNC_METRICS.requests, 1, { endpoint: "pull", status: "200" });
      telemetry.record(SYNC_METRICS.requestDuration, 0.02, { endpoint: "pull" });
    }
    telemetry.record(SYNC_METRICS.requests, 1, { endpoint: "pull", status: "503" });
    telemetry.record(SYNC_METRICS.requestDuration, 3, { endpoint: "pull" });
    telemetry.record(SYNC_METRICS.requests, 1, { endpoint: "dashboardData", status: "200" });
    telemetry.record(SYNC_METRICS.requestDuration, 9, { endpoint: "dashboardData" });
    telemetry.record(SYNC_METRICS.bundlesCommitted, 3, { origin: "push" });
    telemetry.record(SYNC_METRICS.bundlesCommitted, 1, { origin: "server" });
    telemetry.record(SYNC_METRICS.transferredRows, 20, { operation: "push" });
    telemetry.record(SYNC_METRICS.openWatchStreams, 2, {});

    const second = await history.view(12_000);
    expect(second.current).toStrictEqual({
      window_seconds: 2,
      requests_per_second: 2.5,
      errors_per_second: 0.5,
      // 5 pull requests: four in (0.01, 0.025], one in (2.5, 5]; rank 2.5 and rank 4.75.
      p50_ms: 19.375,
      p95_ms: 4375,
      bundles_per_second: 2,
      rows_per_second: { push: 10, pull: 0, snapshot: 0 },
      open_watch_streams: 2,
    });
    expect(second.totals).toMatchObject({ requests: 5, errors: 1, bundles_committed: 4, rows: { push: 20 } });
    expect(second.series).toStrictEqual([
      {
        t: 12_000,
        requests_per_second: 2.5,
        errors_per_second: 0.5,
        p50_ms: 19.375,
        p95_ms: 4375,
        bundles_per_second: 2,
      },
    ]);
    expect(second.endpoints.map((entry) => [entry.endpoint, entry.requests, entry.errors])).toStrictEqual([
      ["pull", 5, 1],
      ["dashboardData", 1, 0],
    ]);

    // A reading within the spacing is answered but not kept; `since` filters the points.
    const third = await history.view(12_500, 12_000);
    expect(third.series).toStrictEqual([]);
    const fourth = await history.view(13_000, 0);
    expect(fourth.series.map((point) => point.t)).toStrictEqual([12_000, 13_000]);
    expect(fourth.series[1]).toMatchObject({ requests_per_second: 0, p50_ms: null, bundles_per_second: 0 });
  });

  it("measures the current figures over the window and forgets readings past the history", async () => {
    const registry = new Registry();
    const telemetry = prometheusRecorder(registry);
    const history = new MetricsHistory(registry, { windowMs: 10_000, historyMs: 60_000 });
    for (let second = 0; second <= 70; second++) {
      if (second >= 60) telemetry.record(SYNC_METRICS.bundlesCommitted, 1, { origin: "push" });
      await history.view(second * 1000);
    }
    const view = await history.view(71_000);
    // From the reading at 61 s (two bundles) to the one at 71 s (eleven): nine in ten seconds.
    expect(view.current).toMatchObject({ window_seconds: 10, bundles_per_second: 0.9 });
    expect(view.series[0]!.t).toBe(12_000);
    expect(view.series.at(-1)!.t).toBe(71_000);
  });
});
