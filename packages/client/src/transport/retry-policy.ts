/**
 * The client's three retry loops (protocol-latest §0 "How clients react to status codes", §1.7):
 * transient failures of whole push/pull/connect operations, a committed bundle not yet visible,
 * and the snapshot capacity 429s. The delays are pure functions; the loops take an injectable
 * clock so tests run them without waiting.
 */
import { HttpStatusError, OversyncError, nextCapacityRetryDelay } from "@oversync/protocol";
import { wireReaction } from "../engine/wire-reactions.js";
import { RetryExhaustedError, SnapshotCapacityError, TransportError } from "./transport-errors.js";

/** Time and randomness for the retry loops. */
export interface RetryClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Resolves after `millis`; rejects with the signal's reason when it aborts first. */
  sleep(millis: number, signal?: AbortSignal): Promise<void>;
  /** A number in [0, 1). */
  random(): number;
}

/** The real clock: performance.now, setTimeout and Math.random. */
export const systemRetryClock: RetryClock = {
  now: () => performance.now(),
  random: () => Math.random(),
  sleep: (millis, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, millis);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** Attempts and exponential backoff with positive jitter. */
export interface BackoffPolicy {
  /** Calls in total, the first included. */
  readonly maxAttempts: number;
  readonly initialBackoffMillis: number;
  readonly maxBackoffMillis: number;
  /** Up to this fraction of the backoff is added at random (0 = none). */
  readonly jitterRatio: number;
}

/** KMP's transient policy: 3 attempts, 150 ms doubling to 1500 ms, up to 20 % added. */
export const TRANSIENT_RETRY_POLICY: BackoffPolicy = {
  maxAttempts: 3,
  initialBackoffMillis: 150,
  maxBackoffMillis: 1500,
  jitterRatio: 0.2,
};

/** Both clients' committed_bundle_not_found policy: 6 attempts, 75 ms doubling to 600 ms, no jitter. */
export const COMMITTED_BUNDLE_NOT_FOUND_RETRY_POLICY: BackoffPolicy = {
  maxAttempts: 6,
  initialBackoffMillis: 75,
  maxBackoffMillis: 600,
  jitterRatio: 0,
};

/**
 * The wait before retry number `retry` (1 = after the first failure): the initial backoff doubled
 * `retry - 1` times and capped, plus a whole number of milliseconds in [0, ⌊backoff × ratio⌋]
 * chosen by `random` ∈ [0, 1).
 */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: number): number {
  let backoff = policy.initialBackoffMillis;
  for (let step = 1; step < retry; step++) backoff = Math.min(backoff * 2, policy.maxBackoffMillis);
  const span = Math.floor(backoff * policy.jitterRatio);
  return backoff + Math.floor(random * (span + 1));
}

/**
 * True for what the transient policy retries: a 5xx answer, an I/O failure or a timeout. Never a
 * 4xx (401/403 included), a protocol violation, or a cancellation.
 */
export function isTransientFailure(error: unknown): boolean {
  if (error instanceof TransportError) return error.code === "network_error" || error.code === "timeout";
  if (error instanceof OversyncError || error instanceof HttpStatusError) {
    return error.status >= 500 && error.status <= 599;
  }
  return false;
}

/** True for a 404 committed_bundle_not_found (the bundle is committed but not yet readable). */
export function isCommittedBundleNotFound(error: unknown): error is OversyncError {
  return error instanceof OversyncError && wireReaction(error.code, "committed_rows") === "refetch";
}

/** True for a 429 snapshot_build_capacity / snapshot_chunk_capacity answer. */
export function isSnapshotCapacityError(error: unknown): error is SnapshotCapacityError {
  return error instanceof SnapshotCapacityError;
}

/** Options shared by the retry loops. */
export interface RetryOptions {
  /** Names the operation in RetryExhaustedError. */
  readonly operation: string;
  readonly clock?: RetryClock;
  /** Stops the loop: no further attempt, and a pending wait rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called before each wait, after attempt number `attempt` failed with `error`. */
  readonly onRetry?: (notice: { attempt: number; delayMillis: number; error: unknown }) => void;
}

/** What to do after a failed attempt: wait this many milliseconds, or throw `error`. */
type Decision = number | { readonly error: unknown };

async function retryLoop<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
  decide: (error: unknown, attempt: number, elapsedMillis: number, clock: RetryClock) => Decision,
): Promise<T> {
  const clock = options.clock ?? systemRetryClock;
  const started = clock.now();
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw options.signal.reason;
    try {
      return await operation(attempt);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      const decision = decide(error, attempt, clock.now() - started, clock);
      if (typeof decision !== "number") throw decision.error;
      options.onRetry?.({ attempt, delayMillis: decision, error });
      await clock.sleep(decision, options.signal);
    }
  }
}

/**
 * Runs a whole push, pull, connect or committed-rows operation, rerunning it after a transient
 * failure (see isTransientFailure) with `policy` (default TRANSIENT_RETRY_POLICY). Other failures
 * are thrown at once; when the attempts run out, RetryExhaustedError(transient_retry_exhausted)
 * with the last failure as its cause. Not for capabilities or snapshot calls (§0).
 */
export function withTransientRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions & { readonly policy?: BackoffPolicy },
): Promise<T> {
  const policy = options.policy ?? TRANSIENT_RETRY_POLICY;
  const maxAttempts = Math.max(1, policy.maxAttempts);
  return retryLoop(operation, options, (error, attempt, elapsedMillis, clock) => {
    if (!isTransientFailure(error)) return { error };
    if (attempt >= maxAttempts) {
      return {
        error: new RetryExhaustedError("transient_retry_exhausted", {
          operation: options.operation,
          attempts: attempt,
          elapsedMillis,
          cause: error,
        }),
      };
    }
    return backoffDelay(policy, attempt, clock.random());
  });
}

/**
 * Runs one committed-rows page fetch, repeating it while the server answers 404
 * committed_bundle_not_found (default COMMITTED_BUNDLE_NOT_FOUND_RETRY_POLICY). After the last
 * attempt that error itself is thrown, as both clients do.
 */
export function withCommittedBundleNotFoundRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions & { readonly policy?: BackoffPolicy },
): Promise<T> {
  const policy = options.policy ?? COMMITTED_BUNDLE_NOT_FOUND_RETRY_POLICY;
  const maxAttempts = Math.max(1, policy.maxAttempts);
  return retryLoop(operation, options, (error, attempt, _elapsed, clock) => {
    if (!isCommittedBundleNotFound(error) || attempt >= maxAttempts) return { error };
    return backoffDelay(policy, attempt, clock.random());
  });
}

/**
 * Runs a snapshot create or chunk call, repeating it after a 429 capacity answer: the wait is
 * Retry-After (or 1 s) plus up to 100 % jitter, and the loop gives up with
 * RetryExhaustedError(snapshot_capacity_retry_exhausted) once 30 s have passed or the next wait
 * would pass them (`nextCapacityRetryDelay`).
 */
export function withSnapshotCapacityRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  return retryLoop(operation, options, (error, attempt, elapsedMillis, clock) => {
    if (!isSnapshotCapacityError(error)) return { error };
    const delay = nextCapacityRetryDelay({
      retryAfterMillis: error.retryAfterMillis,
      elapsedMillis,
      random: () => clock.random(),
    });
    if (delay !== null) return delay;
    return {
      error: new RetryExhaustedError("snapshot_capacity_retry_exhausted", {
        operation: options.operation,
        attempts: attempt,
        elapsedMillis,
        cause: error,
      }),
    };
  });
}
