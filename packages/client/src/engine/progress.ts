/**
 * Progress of long operations: which operation runs, which phase it is in, and how far the phase
 * has got in rows (and bytes where the protocol says): a restore counts staged rows against the
 * snapshot's `row_count` and `byte_count` and then applied rows, a push counts uploaded rows of the
 * frozen bundle, a pull counts applied bundles against the ceiling it pulls to and the rows they
 * held. Counts change often, so listeners hear them at most every PROGRESS_INTERVAL_MILLIS (the
 * last count of a phase and every phase change are always reported); `progress` is always current.
 */

/** A public operation that reports progress. */
export type SyncOperationName =
  | "attach"
  | "push_pending"
  | "pull_to_stable"
  | "sync"
  | "sync_then_detach"
  | "rebuild_keep_source"
  | "rebuild_rotate_source";

/** A phase of an operation. */
export type SyncPhase =
  | "attaching"
  | "seeding"
  | "pushing"
  | "pulling"
  | "staging_remote_state"
  | "applying_remote_state";

/** How much of a phase is done; `total` is absent when not known in advance. */
export interface ProgressCount {
  readonly done: number;
  readonly total?: number;
}

/**
 * The client's progress: idle, or an operation in one of its phases. Counts appear once the phase
 * knows them: `rows` (staged or applied snapshot rows, uploaded push rows, applied pull rows),
 * `bytes` (snapshot payload bytes, uploaded payload bytes) and `bundles` (pulled bundles).
 */
export type SyncProgress =
  | { readonly state: "idle" }
  | {
      readonly state: "active";
      readonly operation: SyncOperationName;
      readonly phase: SyncPhase;
      readonly rows?: ProgressCount;
      readonly bytes?: ProgressCount;
      readonly bundles?: ProgressCount;
    };

/** The counts of a phase. */
export type ProgressCounts = Pick<Extract<SyncProgress, { state: "active" }>, "rows" | "bytes" | "bundles">;

/** Receives progress changes; it must not throw (an exception is dropped). */
export type ProgressListener = (progress: SyncProgress) => void;

/** Count updates reach listeners at most this often (10 per second). */
export const PROGRESS_INTERVAL_MILLIS = 100;

/** Tracks the running operation and reports phase changes and counts. */
export class ProgressReporter {
  private operation: SyncOperationName | undefined;
  private current: SyncProgress = { state: "idle" };
  private readonly listeners = new Set<ProgressListener>();
  private lastReportAt = Number.NEGATIVE_INFINITY;
  /** A count update held back by the rate limit, reported when the interval has passed. */
  private heldBack: ReturnType<typeof setTimeout> | undefined;

  constructor(listener: ProgressListener | undefined) {
    if (listener !== undefined) this.listeners.add(listener);
  }

  /** The latest progress. */
  get progress(): SyncProgress {
    return this.current;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: ProgressListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs `work` as `operation`, reporting idle when it ends. A nested operation keeps the outer name. */
  async run<T>(operation: SyncOperationName, work: () => Promise<T>): Promise<T> {
    if (this.operation !== undefined) return work();
    this.operation = operation;
    try {
      return await work();
    } finally {
      this.operation = undefined;
      this.report({ state: "idle" });
    }
  }

  /** Enters `phase` of the running operation (ignored when none runs), with its first counts. */
  phase(phase: SyncPhase, counts: ProgressCounts = {}): void {
    if (this.operation === undefined) return;
    if (this.current.state === "active" && this.current.phase === phase) {
      if (Object.keys(counts).length > 0) this.count(counts);
      return;
    }
    this.report({ state: "active", operation: this.operation, phase, ...counts });
  }

  /**
   * Updates the counts of the current phase. Listeners hear it now when the interval has passed
   * since the last report or a count is complete, otherwise once the interval has passed (unless a
   * newer report came first).
   */
  count(counts: ProgressCounts): void {
    if (this.operation === undefined || this.current.state !== "active") return;
    const { rows, bytes, bundles, ...rest } = this.current;
    const next: SyncProgress = { ...rest, rows, bytes, bundles, ...counts };
    for (const key of ["rows", "bytes", "bundles"] as const) {
      if (next[key] === undefined) delete (next as { [k in typeof key]?: ProgressCount })[key];
    }
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    const complete = Object.values(counts).some(
      (count) => count.total !== undefined && count.done >= count.total,
    );
    const wait = this.lastReportAt + PROGRESS_INTERVAL_MILLIS - Date.now();
    if (complete || wait <= 0) {
      this.report(next);
      return;
    }
    this.heldBack ??= setTimeout(() => {
      this.heldBack = undefined;
      this.report(this.current);
    }, wait);
  }

  /** Changes the running operation's name, e.g. once a rebuild knows whether it rotates the source. */
  rename(operation: SyncOperationName): void {
    if (this.operation === undefined) return;
    this.operation = operation;
  }

  private report(progress: SyncProgress): void {
    if (this.heldBack !== undefined) {
      clearTimeout(this.heldBack);
      this.heldBack = undefined;
    }
    this.current = progress;
    this.lastReportAt = Date.now();
    for (const listener of [...this.listeners]) {
      try {
        listener(progress);
      } catch {
        // A progress listener's failure must not abort the operation it observes.
      }
    }
  }
}
