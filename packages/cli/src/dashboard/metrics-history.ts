/**
 * The dashboard's live figures, computed from the Prometheus registry the server records into
 * (SYNC_METRICS): each data request reads the registry's counters and latency buckets, keeps the
 * reading (at most one a second, for the last five minutes), and answers rates and latency
 * quantiles from the differences between readings, as Prometheus' `rate()` and
 * `histogram_quantile()` would. Readings are taken only while someone polls, so an idle server
 * does no work for the dashboard; the history starts when the first dashboard opens.
 */
import { SYNC_METRICS } from "@oversync/server";
import type { Registry } from "prom-client";

/** The latency buckets' upper bounds, in seconds (the last bucket, `+Inf`, has none). */
const LATENCY_BOUNDS: readonly number[] = SYNC_METRICS.requestDuration.buckets;

/** The transfer operations of `oversync_transferred_rows_total`. */
/** What carried transferred rows: push chunks, pull pages or snapshot chunks. */
export type TransferOperation = "push" | "pull" | "snapshot";
const OPERATIONS: readonly TransferOperation[] = ["push", "pull", "snapshot"];

/** One endpoint's counts in a reading, all cumulative since the process started. */
interface EndpointReading {
  readonly requests: number;
  /** Answers with a 5xx status. */
  readonly failures: number;
  /** Requests at or below each bound of LATENCY_BOUNDS, then all of them (`+Inf`). */
  readonly buckets: readonly number[];
}

/** The registry's figures at one moment. */
interface Reading {
  readonly at: number;
  readonly endpoints: ReadonlyMap<string, EndpointReading>;
  readonly bundles: number;
  readonly rows: Readonly<Record<TransferOperation, number>>;
  readonly conflicts: number;
  readonly historyPruned: number;
  readonly snapshotSessions: number;
  readonly capacityWaits: number;
  readonly openWatchStreams: number;
}

/** One point of the charts: the rates between two readings, at the later one. */
export interface SeriesPoint {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly requests_per_second: number;
  readonly errors_per_second: number;
  /** Latency quantiles of the requests in between; null when there were none. */
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly bundles_per_second: number;
}

/** The figures of the last few seconds (`window_seconds`); rates are null until two readings exist. */
export interface CurrentFigures {
  readonly window_seconds: number | null;
  readonly requests_per_second: number | null;
  readonly errors_per_second: number | null;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly bundles_per_second: number | null;
  readonly rows_per_second: Readonly<Record<TransferOperation, number>> | null;
  readonly open_watch_streams: number;
}

/** Counts since the process started. */
export interface Totals {
  readonly requests: number;
  readonly errors: number;
  readonly bundles_committed: number;
  readonly rows: Readonly<Record<TransferOperation, number>>;
  readonly conflicts: number;
  readonly history_pruned: number;
  readonly snapshot_sessions_created: number;
  readonly snapshot_capacity_waits: number;
}

/** One endpoint's line of the table. */
export interface EndpointFigures {
  readonly endpoint: string;
  readonly requests: number;
  readonly errors: number;
  readonly requests_per_second: number | null;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
}

/** What the history answers a data request. */
export interface MetricsView {
  readonly current: CurrentFigures;
  readonly totals: Totals;
  /** The points after the request's `since`, oldest first. */
  readonly series: readonly SeriesPoint[];
  /** Every endpoint that was called, busiest first. */
  readonly endpoints: readonly EndpointFigures[];
}

export interface MetricsHistoryOptions {
  /** Endpoints left out of the totals, rates and charts (the dashboard's own polling). */
  readonly excludedEndpoints?: readonly string[];
  /** The span of the current figures, in ms. Default 10 s. */
  readonly windowMs?: number;
  /** How long readings are kept, in ms. Default 5 minutes. */
  readonly historyMs?: number;
  /** The least time between kept readings, in ms. Default 900 (one a second for a 1 s poll). */
  readonly spacingMs?: number;
}

/** The readings of one registry and the figures between them. */
export class MetricsHistory {
  readonly #registry: Registry;
  readonly #excluded: ReadonlySet<string>;
  readonly #windowMs: number;
  readonly #historyMs: number;
  readonly #spacingMs: number;
  /** Kept readings, oldest first. */
  #readings: Reading[] = [];

  constructor(registry: Registry, options: MetricsHistoryOptions = {}) {
    this.#registry = registry;
    this.#excluded = new Set(options.excludedEndpoints ?? []);
    this.#windowMs = options.windowMs ?? 10_000;
    this.#historyMs = options.historyMs ?? 300_000;
    this.#spacingMs = options.spacingMs ?? 900;
  }

  /** How long readings are kept, in seconds. */
  get historySeconds(): number {
    return this.#historyMs / 1000;
  }

  /** Reads the registry at `now` and answers the figures, with the chart points after `since`. */
  async view(now: number, since = 0): Promise<MetricsView> {
    const latest = await this.#read(now);
    const last = this.#readings.at(-1);
    if (last === undefined || latest.at - last.at >= this.#spacingMs) this.#readings.push(latest);
    this.#readings = this.#readings.filter((reading) => reading.at >= now - this.#historyMs);
    const base = this.#windowBase(latest);
    const series: SeriesPoint[] = [];
    for (let index = 1; index < this.#readings.length; index++) {
      const later = this.#readings[index]!;
      if (later.at > since) series.push(this.#point(this.#readings[index - 1]!, later));
    }
    return {
      current: this.#current(base, latest),
      totals: this.#totals(latest),
      series,
      endpoints: this.#endpoints(base, latest),
    };
  }

  /** The reading the current figures are measured from: the newest one a window old, else the oldest. */
  #windowBase(latest: Reading): Reading | undefined {
    let base: Reading | undefined;
    for (const reading of this.#readings) {
      if (reading.at >= latest.at) break;
      if (base === undefined || reading.at <= latest.at - this.#windowMs) base = reading;
    }
    return base;
  }

  #point(earlier: Reading, later: Reading): SeriesPoint {
    const seconds = (later.at - earlier.at) / 1000;
    const traffic = this.#traffic(earlier, later);
    return {
      t: later.at,
      requests_per_second: round(traffic.requests / seconds),
      errors_per_second: round(traffic.failures / seconds),
      p50_ms: milliseconds(histogramQuantile(0.5, LATENCY_BOUNDS, traffic.buckets)),
      p95_ms: milliseconds(histogramQuantile(0.95, LATENCY_BOUNDS, traffic.buckets)),
      bundles_per_second: round(Math.max(0, later.bundles - earlier.bundles) / seconds),
    };
  }

  #current(base: Reading | undefined, latest: Reading): CurrentFigures {
    if (base === undefined) {
      return {
        window_seconds: null,
        requests_per_second: null,
        errors_per_second: null,
        p50_ms: null,
        p95_ms: null,
        bundles_per_second: null,
        rows_per_second: null,
        open_watch_streams: latest.openWatchStreams,
      };
    }
    const point = this.#point(base, latest);
    const seconds = (latest.at - base.at) / 1000;
    const rows = Object.fromEntries(
      OPERATIONS.map((operation) => [
        operation,
        round(Math.max(0, latest.rows[operation] - base.rows[operation]) / seconds),
      ]),
    ) as Record<TransferOperation, number>;
    return {
      window_seconds: round(seconds),
      requests_per_second: point.requests_per_second,
      errors_per_second: point.errors_per_second,
      p50_ms: point.p50_ms,
      p95_ms: point.p95_ms,
      bundles_per_second: point.bundles_per_second,
      rows_per_second: rows,
      open_watch_streams: latest.openWatchStreams,
    };
  }

  #totals(latest: Reading): Totals {
    let requests = 0;
    let errors = 0;
    for (const [endpoint, reading] of latest.endpoints) {
      if (this.#excluded.has(endpoint)) continue;
      requests += reading.requests;
      errors += reading.failures;
    }
    return {
      requests,
      errors,
      bundles_committed: latest.bundles,
      rows: latest.rows,
      conflicts: latest.conflicts,
      history_pruned: latest.historyPruned,
      snapshot_sessions_created: latest.snapshotSessions,
      snapshot_capacity_waits: latest.capacityWaits,
    };
  }

  #endpoints(base: Reading | undefined, latest: Reading): EndpointFigures[] {
    const figures = [...latest.endpoints].map(([endpoint, reading]): EndpointFigures => {
      const before = base?.endpoints.get(endpoint);
      const buckets = difference(reading.buckets, before?.buckets);
      const seconds = base === undefined ? 0 : (latest.at - base.at) / 1000;
      return {
        endpoint,
        requests: reading.requests,
        errors: reading.failures,
        requests_per_second:
          base === undefined
            ? null
            : round(Math.max(0, reading.requests - (before?.requests ?? 0)) / seconds),
        p50_ms: base === undefined ? null : milliseconds(histogramQuantile(0.5, LATENCY_BOUNDS, buckets)),
        p95_ms: base === undefined ? null : milliseconds(histogramQuantile(0.95, LATENCY_BOUNDS, buckets)),
      };
    });
    return figures.sort(
      (a, b) =>
        (b.requests_per_second ?? 0) - (a.requests_per_second ?? 0) ||
        b.requests - a.requests ||
        a.endpoint.localeCompare(b.endpoint),
    );
  }

  /** The requests, failures and latency buckets between two readings, excluded endpoints left out. */
  #traffic(earlier: Reading, later: Reading) {
    let requests = 0;
    let failures = 0;
    const buckets = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
    for (const [endpoint, reading] of later.endpoints) {
      if (this.#excluded.has(endpoint)) continue;
      const before = earlier.endpoints.get(endpoint);
      requests += Math.max(0, reading.requests - (before?.requests ?? 0));
      failures += Math.max(0, reading.failures - (before?.failures ?? 0));
      difference(reading.buckets, before?.buckets).forEach((count, index) => {
        buckets[index]! += count;
      });
    }
    return { requests, failures, buckets };
  }

  async #read(at: number): Promise<Reading> {
    const values = async (name: string) => (await this.#registry.getSingleMetric(name)?.get())?.values ?? [];
    const sum = async (name: string, labels: Readonly<Record<string, string>> = {}) =>
      (await values(name))
        .filter((value) => Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted))
        .reduce((total, value) => total + value.value, 0);

    const endpoints = new Map<string, { requests: number; failures: number; buckets: number[] }>();
    const endpointOf = (name: string) => {
      let entry = endpoints.get(name);
      if (entry === undefined) {
        entry = { requests: 0, failures: 0, buckets: new Array<number>(LATENCY_BOUNDS.length + 1).fill(0) };
        endpoints.set(name, entry);
      }
      return entry;
    };
    for (const value of await values(SYNC_METRICS.requests.name)) {
      const entry = endpointOf(String(value.labels.endpoint));
      entry.requests += value.value;
      if (Number(value.labels.status) >= 500) entry.failures += value.value;
    }
    for (const value of await values(SYNC_METRICS.requestDuration.name)) {
      // A histogram's values are its buckets, then its `_sum` and `_count`.
      const { metricName } = value as { metricName?: string };
      if (metricName !== `${SYNC_METRICS.requestDuration.name}_bucket`) continue;
      const { le } = value.labels;
      const index = le === "+Inf" ? LATENCY_BOUNDS.length : LATENCY_BOUNDS.indexOf(Number(le));
      if (index >= 0) endpointOf(String(value.labels.endpoint)).buckets[index] = value.value;
    }
    const rows = {} as Record<TransferOperation, number>;
    for (const operation of OPERATIONS) {
      rows[operation] = await sum(SYNC_METRICS.transferredRows.name, { operation });
    }
    return {
      at,
      endpoints,
      bundles: await sum(SYNC_METRICS.bundlesCommitted.name),
      rows,
      conflicts: await sum(SYNC_METRICS.pushConflicts.name),
      historyPruned: await sum(SYNC_METRICS.historyPruned.name),
      snapshotSessions: await sum(SYNC_METRICS.snapshotSessions.name),
      capacityWaits: await sum(SYNC_METRICS.snapshotCapacityWaits.name),
      openWatchStreams: await sum(SYNC_METRICS.openWatchStreams.name),
    };
  }
}

/**
 * The `q` quantile of the observations counted in cumulative `buckets` (one per bound, then the
 * `+Inf` total), interpolated linearly inside its bucket as Prometheus' `histogram_quantile` does;
 * in the `+Inf` bucket it is the highest bound. Null when nothing was observed.
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  buckets: readonly number[],
): number | null {
  const total = buckets.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  const index = buckets.findIndex((count) => count >= rank);
  if (index >= bounds.length) return bounds.at(-1) ?? null;
  const lower = index === 0 ? 0 : bounds[index - 1]!;
  const below = index === 0 ? 0 : buckets[index - 1]!;
  const inside = buckets[index]! - below;
  if (inside <= 0) return bounds[index]!;
  return lower + (bounds[index]! - lower) * ((rank - below) / inside);
}

/** `later - earlier` bucket by bucket, never negative; `later` itself without `earlier`. */
function difference(later: readonly number[], earlier: readonly number[] | undefined): number[] {
  return later.map((count, index) => Math.max(0, count - (earlier?.[index] ?? 0)));
}

function milliseconds(seconds: number | null): number | null {
  return seconds === null ? null : round(seconds * 1000);
}

/** Three decimals are plenty for a chart, and keep the JSON short. */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
