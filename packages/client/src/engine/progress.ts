/** Progress of long operations: which operation runs and which phase it is in. */

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

/** The client's progress: idle, or an operation in one of its phases. */
export type SyncProgress =
  | { readonly state: "idle" }
  | { readonly state: "active"; readonly operation: SyncOperationName; readonly phase: SyncPhase };

/** Receives progress changes; it must not throw (an exception is dropped). */
export type ProgressListener = (progress: SyncProgress) => void;

/** Tracks the running operation and reports phase changes. */
export class ProgressReporter {
  private operation: SyncOperationName | undefined;
  private current: SyncProgress = { state: "idle" };

  constructor(private readonly listener: ProgressListener | undefined) {}

  /** The latest progress. */
  get progress(): SyncProgress {
    return this.current;
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

  /** Enters `phase` of the running operation (ignored when none runs). */
  phase(phase: SyncPhase): void {
    if (this.operation === undefined) return;
    if (this.current.state === "active" && this.current.phase === phase) return;
    this.report({ state: "active", operation: this.operation, phase });
  }

  /** Changes the running operation's name, e.g. once a rebuild knows whether it rotates the source. */
  rename(operation: SyncOperationName): void {
    if (this.operation === undefined) return;
    this.operation = operation;
  }

  private report(progress: SyncProgress): void {
    this.current = progress;
    try {
      this.listener?.(progress);
    } catch {
      // A progress listener's failure must not abort the operation it observes.
    }
  }
}
