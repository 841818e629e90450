/**
 * Every figure the runtime records, each named once: its Prometheus name (the OpenTelemetry
 * instrument name is derived from it, opentelemetry-recorder.ts), kind, labels and help text. The
 * adapters build their instruments from this table and the docs list it, so a name is never typed
 * twice.
 */

/**
 * How a figure moves: a counter only grows, an up-down counter goes both ways by the amounts
 * recorded (open streams), a gauge is set to the value recorded, a histogram counts observations
 * into buckets.
 */
export type MetricKind = "counter" | "updown" | "gauge" | "histogram";

/** One figure. */
export interface MetricDefinition {
  /** In Prometheus conventions: `oversync_` prefix, base unit suffix, `_total` on counters. */
  readonly name: string;
  readonly kind: MetricKind;
  readonly help: string;
  /** The label names every recording of it carries, always the same set. */
  readonly labels: readonly string[];
  /** The base unit the name ends with, if any (the OpenTelemetry unit is derived from it). */
  readonly unit?: "seconds" | "bytes";
  /** Upper bounds of a histogram's buckets. */
  readonly buckets?: readonly number[];
}

/** Latency buckets, in seconds: Prometheus' defaults, from 5 ms to 10 s. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A pool checkout is usually far below a millisecond; a wait of seconds means the pool is too small. */
const POOL_WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** The figures, by the name the runtime records them under. */
export const SYNC_METRICS = {
  requests: {
    name: "oversync_requests_total",
    kind: "counter",
    help: "Requests the sync handler answered, by endpoint (the protocol's endpoint name, a host route's name or path, or unmatched) and HTTP status.",
    labels: ["endpoint", "status"],
  },
  requestDuration: {
    name: "oversync_request_duration_seconds",
    kind: "histogram",
    help: "Time from taking a request to having its answer (a watch stream's until it opens), by endpoint.",
    labels: ["endpoint"],
    unit: "seconds",
    buckets: LATENCY_BUCKETS,
  },
  transferredRows: {
    name: "oversync_transferred_rows_total",
    kind: "counter",
    help: "Rows carried by push chunk uploads (operation push), pull pages (pull) and snapshot chunks (snapshot).",
    labels: ["operation"],
  },
  transferredBytes: {
    name: "oversync_transferred_bytes_total",
    kind: "counter",
    help: "Body bytes of push chunk uploads (operation push), pull pages (pull) and snapshot chunks (snapshot).",
    labels: ["operation"],
    unit: "bytes",
  },
  bundlesCommitted: {
    name: "oversync_bundles_committed_total",
    kind: "counter",
    help: "Bundles committed, by origin: push (a client's push commit) or server (a server-originated write).",
    labels: ["origin"],
  },
  pushConflicts: {
    name: "oversync_push_conflicts_total",
    kind: "counter",
    help: "Push commits answered push_conflict (a row changed on the server since the client's base version).",
    labels: [],
  },
  historyPruned: {
    name: "oversync_history_pruned_total",
    kind: "counter",
    help: "Calls answered history_pruned: the client is below the retained floor and must rebuild from a snapshot.",
    labels: [],
  },
  openWatchStreams: {
    name: "oversync_open_watch_streams",
    kind: "updown",
    help: "Open /sync/watch streams in this process.",
    labels: [],
  },
  snapshotSessions: {
    name: "oversync_snapshot_sessions_created_total",
    kind: "counter",
    help: "Snapshot sessions created (devices that attach, rebuild or fell below the retained floor).",
    labels: [],
  },
  snapshotCapacityWaits: {
    name: "oversync_snapshot_capacity_waits_total",
    kind: "counter",
    help: "Snapshot calls answered 429 because every slot was taken, by slot (build or chunk); clients retry after Retry-After.",
    labels: ["slot"],
  },
  poolWait: {
    name: "oversync_pool_wait_seconds",
    kind: "histogram",
    help: "Time to check out a database session from the pool.",
    labels: [],
    unit: "seconds",
    buckets: POOL_WAIT_BUCKETS,
  },
  retainedFloorLag: {
    name: "oversync_retained_floor_lag_bundles",
    kind: "gauge",
    help: "Bundles between a scope's latest bundle and its retained floor, the smallest and largest over all scopes (aggregate min or max), as of the last status counters read.",
    labels: ["aggregate"],
  },
  retainedFloorAhead: {
    name: "oversync_retained_floor_ahead_scopes",
    kind: "gauge",
    help: "Scopes whose retained floor is ahead of their latest bundle (0 when healthy), as of the last status counters read.",
    labels: [],
  },
} as const satisfies Readonly<Record<string, MetricDefinition>>;

/** One of the runtime's figures. */
export type SyncMetric = (typeof SYNC_METRICS)[keyof typeof SYNC_METRICS];

/** The labels a recording of `M` carries: exactly its label names, each with a value. */
export type MetricLabels<M extends MetricDefinition> = { readonly [Name in M["labels"][number]]: string };
