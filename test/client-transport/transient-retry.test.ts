/**
 * The transient and committed_bundle_not_found retry loops around real transport calls, with a
 * fake clock: which failures are retried, how often, and with which waits.
 */
import { RetryExhaustedError, TRANSIENT_RETRY_POLICY, TransportError } from "@oversync/client";
import {
  COMMITTED_BUNDLE_NOT_FOUND_RETRY_POLICY,
  backoffDelay,
  isTransientFailure,
  withCommittedBundleNotFoundRetry,
  withTransientRetry,
} from "../../packages/client/src/transport/retry-policy.js";
import {
  type CommittedBundleIdentity,
  HttpStatusError,
  OversyncError,
  ProtocolViolationError,
} from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeRetryClock } from "../client-support/fake-retry-clock.js";
import { errorReply, failFirst, statusReply } from "../client-support/scripted-replies.js";
import { type TransportHarness, closedPortUrl, startTransportHarness } from "./transport-harness.js";

let harness: TransportHarness;
beforeEach(async () => {
  harness = await startTransportHarness();
  harness.backend.appendBundle({
    rows: [{ schema: "main", table: "users", key: { id: "u1" }, op: "INSERT", payload: { id: "u1" } }],
  });
});
afterEach(async () => {
  await harness.close();
});

const UNAVAILABLE = errorReply("service_unavailable", "database restarting");
const pullOnce = () => harness.transport.pull({ afterBundleSeq: 0, maxBundles: 10 });
const pullRequests = () => harness.server.requestsTo("pull").length;

describe("backoffDelay", () => {
  it("doubles from the initial backoff up to the cap", () => {
    const delays = [1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(TRANSIENT_RETRY_POLICY, retry, 0));
    expect(delays).toEqual([150, 300, 600, 1200, 1500, 1500]);
  });

  it("adds at most 20 % of positive jitter, in whole milliseconds", () => {
    expect(backoffDelay(TRANSIENT_RETRY_POLICY, 1, 0.999999)).toBe(180);
    expect(backoffDelay(TRANSIENT_RETRY_POLICY, 2, 0.5)).toBe(330);
    expect(backoffDelay(TRANSIENT_RETRY_POLICY, 5, 0.999999)).toBe(1800);
  });

  it("committed_bundle_not_found waits 75 ms doubling to 600 ms without jitter", () => {
    const delays = [1, 2, 3, 4, 5].map((retry) =>
      backoffDelay(COMMITTED_BUNDLE_NOT_FOUND_RETRY_POLICY, retry, 0.9),
    );
    expect(delays).toEqual([75, 150, 300, 600, 600]);
  });
});

describe("isTransientFailure", () => {
  it("retries 5xx, network errors and timeouts only", () => {
    expect(isTransientFailure(new OversyncError("service_unavailable", "x"))).toBe(true);
    expect(isTransientFailure(new OversyncError("pull_failed", "x"))).toBe(true);
    expect(isTransientFailure(new HttpStatusError(502, undefined, "x"))).toBe(true);
    expect(isTransientFailure(new TransportError("network_error", "pull", "x"))).toBe(true);
    expect(isTransientFailure(new TransportError("timeout", "pull", "x"))).toBe(true);
    expect(isTransientFailure(new OversyncError("authentication_failed", "x"))).toBe(false);
    expect(isTransientFailure(new HttpStatusError(403, undefined, "x"))).toBe(false);
    expect(isTransientFailure(new OversyncError("history_pruned", "x"))).toBe(false);
    expect(isTransientFailure(new TransportError("body_too_large", "pull", "x"))).toBe(false);
    expect(isTransientFailure(new TransportError("invalid_content_type", "pull", "x"))).toBe(false);
    expect(isTransientFailure(new ProtocolViolationError("invalid_response", "x"))).toBe(false);
    expect(isTransientFailure(new DOMException("aborted", "AbortError"))).toBe(false);
  });
});

describe("withTransientRetry", () => {
  it("reruns a pull that fails twice with 503 and returns the third answer", async () => {
    harness.backend.override("pull", (next) => failFirst(2, UNAVAILABLE, next));
    const clock = fakeRetryClock();
    const attempts: number[] = [];
    const page = await withTransientRetry(
      (attempt) => {
        attempts.push(attempt);
        return pullOnce();
      },
      { operation: "pull", clock },
    );
    expect(page.stable_bundle_seq).toBe(1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(pullRequests()).toBe(3);
    expect(clock.sleeps).toEqual([150, 300]);
  });

  it("adds the jitter the clock's random draws", async () => {
    harness.backend.override("pull", (next) => failFirst(2, UNAVAILABLE, next));
    const clock = fakeRetryClock({ randoms: [0.999999, 0.5] });
    await withTransientRetry(pullOnce, { operation: "pull", clock });
    expect(clock.sleeps).toEqual([180, 330]);
  });

  it("gives up after 3 attempts with the last failure as the cause", async () => {
    harness.backend.override("pull", () => () => UNAVAILABLE);
    const clock = fakeRetryClock();
    const failure = await withTransientRetry(pullOnce, { operation: "pull", clock }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RetryExhaustedError);
    expect(failure).toMatchObject({ code: "transient_retry_exhausted", operation: "pull", attempts: 3 });
    expect((failure as Error).cause).toMatchObject({ code: "service_unavailable", status: 503 });
    expect(pullRequests()).toBe(3);
    expect(clock.sleeps).toEqual([150, 300]);
  });

  it("does not retry 401", async () => {
    harness.backend.override("pull", () => () => errorReply("authentication_failed", "token expired"));
    const clock = fakeRetryClock();
    await expect(withTransientRetry(pullOnce, { operation: "pull", clock })).rejects.toMatchObject({
      name: "OversyncError",
      code: "authentication_failed",
      status: 401,
    });
    expect(pullRequests()).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it("does not retry 403 or a protocol error code", async () => {
    for (const reply of [
      statusReply(403, { error: "forbidden", message: "no" }),
      errorReply("history_pruned", "x"),
    ]) {
      const before = pullRequests();
      harness.backend.override("pull", () => () => reply);
      await expect(
        withTransientRetry(pullOnce, { operation: "pull", clock: fakeRetryClock() }),
      ).rejects.toHaveProperty("status", reply.status);
      expect(pullRequests() - before).toBe(1);
    }
  });

  it("retries network errors", async () => {
    const transport = harness.transportWith({ baseUrl: await closedPortUrl() });
    const failure = await withTransientRetry(() => transport.connect({ hasLocalPendingRows: false }), {
      operation: "connect",
      clock: fakeRetryClock(),
    }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "transient_retry_exhausted", attempts: 3 });
    expect((failure as Error).cause).toMatchObject({ code: "network_error" });
  });

  it("retries a timed-out call, then succeeds", async () => {
    const transport = harness.transportWith({ timeouts: { requestMillis: 50 } });
    harness.backend.override("pull", (next) => failFirst(1, () => new Promise(() => undefined), next));
    const page = await withTransientRetry(() => transport.pull({ afterBundleSeq: 0, maxBundles: 10 }), {
      operation: "pull",
      clock: fakeRetryClock(),
    });
    expect(page.bundles).toHaveLength(1);
    expect(pullRequests()).toBe(2);
  });

  it("stops when the signal aborts: no further attempt", async () => {
    harness.backend.override("pull", () => () => UNAVAILABLE);
    const controller = new AbortController();
    const reason = new Error("detached");
    const clock = fakeRetryClock();
    const sleep = clock.sleep;
    clock.sleep = async (millis, signal) => {
      controller.abort(reason);
      return sleep(millis, signal);
    };
    await expect(
      withTransientRetry(pullOnce, { operation: "pull", clock, signal: controller.signal }),
    ).rejects.toBe(reason);
    expect(pullRequests()).toBe(1);
  });

  it("reports each retry before waiting", async () => {
    harness.backend.override("pull", (next) => failFirst(1, UNAVAILABLE, next));
    const notices: { attempt: number; delayMillis: number }[] = [];
    await withTransientRetry(pullOnce, {
      operation: "pull",
      clock: fakeRetryClock(),
      onRetry: ({ attempt, delayMillis }) => notices.push({ attempt, delayMillis }),
    });
    expect(notices).toEqual([{ attempt: 1, delayMillis: 150 }]);
  });
});

describe("withCommittedBundleNotFoundRetry", () => {
  const committed = (): CommittedBundleIdentity => {
    const bundle = harness.backend.bundles[0]!;
    return { ...bundle, row_count: bundle.rows.length };
  };
  const fetchRows = () => harness.transport.fetchCommittedRows({ committed: committed(), maxRows: 100 });
  const NOT_FOUND = errorReply("committed_bundle_not_found", "committed bundle not visible yet");

  it("repeats the fetch while the bundle is not yet visible", async () => {
    harness.backend.override("committedRows", (next) => failFirst(2, NOT_FOUND, next));
    const clock = fakeRetryClock({ randoms: [0.9] });
    const page = await withCommittedBundleNotFoundRetry(fetchRows, { operation: "committed rows", clock });
    expect(page.rows).toHaveLength(1);
    expect(harness.server.requestsTo("committedRows")).toHaveLength(3);
    expect(clock.sleeps).toEqual([75, 150]);
  });

  it("throws committed_bundle_not_found itself after 6 attempts", async () => {
    harness.backend.override("committedRows", () => () => NOT_FOUND);
    const clock = fakeRetryClock();
    await expect(
      withCommittedBundleNotFoundRetry(fetchRows, { operation: "committed rows", clock }),
    ).rejects.toMatchObject({ name: "OversyncError", code: "committed_bundle_not_found", status: 404 });
    expect(harness.server.requestsTo("committedRows")).toHaveLength(6);
    expect(clock.sleeps).toEqual([75, 150, 300, 600, 600]);
  });

  it("does not repeat other failures", async () => {
    harness.backend.override("committedRows", () => () => errorReply("history_pruned", "pruned"));
    await expect(
      withCommittedBundleNotFoundRetry(fetchRows, { operation: "committed rows", clock: fakeRetryClock() }),
    ).rejects.toMatchObject({ code: "history_pruned" });
    expect(harness.server.requestsTo("committedRows")).toHaveLength(1);
  });
});
