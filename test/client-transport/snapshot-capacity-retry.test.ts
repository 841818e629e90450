/**
 * snapshot-capacity/retry.json through the transport and withSnapshotCapacityRetry: each
 * Retry-After wire value arrives on a real 429 and sets the first wait (fake clock, no jitter);
 * both capacity codes are retried on their endpoints; the 30 s budget ends the loop.
 */
import { RetryExhaustedError, SnapshotCapacityError } from "@oversync/client";
import type { SyncTransport } from "../../packages/client/src/transport/sync-transport.js";
import { withSnapshotCapacityRetry } from "../../packages/client/src/transport/retry-policy.js";
import { HttpStatusError, SNAPSHOT_CAPACITY_RETRY, type SnapshotSession } from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeRetryClock } from "../client-support/fake-retry-clock.js";
import type { FakeReply } from "../client-support/fake-sync-server.js";
import { failFirst, statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type TransportHarness, startTransportHarness } from "./transport-harness.js";

const FILE = "snapshot-capacity/retry.json";

interface Fixture {
  defaults: { max_wait_millis: number; fallback_delay_millis: number; positive_jitter_ratio: number };
  retry_after_cases: { wire: string; expected_millis: number | null }[];
  capacity_error_codes: ("snapshot_build_capacity" | "snapshot_chunk_capacity")[];
}

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) =>
  tally.it(`${FILE} through the retry policy`, name, check);

let harness: TransportHarness;
beforeEach(async () => {
  harness = await startTransportHarness();
  harness.backend.appendBundle({
    rows: [
      { schema: "main", table: "users", key: { id: "u1" }, op: "INSERT", payload: { id: "u1", name: "Ada" } },
    ],
  });
});
afterEach(async () => {
  await harness.close();
});

function capacityReply(code: string, retryAfter?: string): FakeReply {
  return statusReply(
    429,
    { error: code, message: "snapshot capacity is busy" },
    retryAfter === undefined ? undefined : { "retry-after": retryAfter },
  );
}

const createSession = (transport: SyncTransport) => () => transport.createSnapshotSession();

function fetchFirstChunk(transport: SyncTransport, session: SnapshotSession) {
  return () =>
    transport.fetchSnapshotChunk({
      session,
      afterRowOrdinal: 0,
      bytesBefore: 0,
      maxRows: 100,
      maxBytes: 1 << 20,
    });
}

describe.skipIf(!available)(FILE, () => {
  contractCase("defaults are the policy's", async () => {
    expect(fixture!.defaults).toMatchObject({
      max_wait_millis: SNAPSHOT_CAPACITY_RETRY.maxWaitMillis,
      fallback_delay_millis: SNAPSHOT_CAPACITY_RETRY.fallbackDelayMillis,
      positive_jitter_ratio: SNAPSHOT_CAPACITY_RETRY.positiveJitterRatio,
    });
    // With the fallback and the largest jitter draw the wait stays within fallback × (1 + ratio).
    harness.backend.override("snapshotCreate", (next) =>
      failFirst(1, capacityReply("snapshot_build_capacity"), next),
    );
    const clock = fakeRetryClock({ randoms: [0.999999] });
    await withSnapshotCapacityRetry(createSession(harness.transport), {
      operation: "snapshot create",
      clock,
    });
    const ceiling = fixture!.defaults.fallback_delay_millis * (1 + fixture!.defaults.positive_jitter_ratio);
    expect(clock.sleeps).toEqual([ceiling]);
  });

  describe("retry_after_cases", () => {
    for (const retry of fixture?.retry_after_cases ?? []) {
      contractCase(`Retry-After ${JSON.stringify(retry.wire)}`, async () => {
        harness.backend.override("snapshotCreate", (next) =>
          failFirst(1, capacityReply("snapshot_build_capacity", retry.wire), next),
        );
        const clock = fakeRetryClock({ randoms: [0] });
        const seen: unknown[] = [];
        const session = await withSnapshotCapacityRetry(createSession(harness.transport), {
          operation: "snapshot create",
          clock,
          onRetry: ({ error }) => seen.push(error),
        });
        expect(session.row_count).toBe(1);
        expect(seen).toHaveLength(1);
        expect(seen[0]).toBeInstanceOf(SnapshotCapacityError);
        expect((seen[0] as SnapshotCapacityError).retryAfterMillis).toBe(retry.expected_millis);
        expect(clock.sleeps).toEqual([retry.expected_millis ?? fixture!.defaults.fallback_delay_millis]);
        expect(harness.server.requestsTo("snapshotCreate")).toHaveLength(2);
      });
    }
  });

  describe("capacity_error_codes", () => {
    for (const code of fixture?.capacity_error_codes ?? []) {
      contractCase(`${code} is retried`, async () => {
        const clock = fakeRetryClock();
        if (code === "snapshot_build_capacity") {
          harness.backend.override("snapshotCreate", (next) => failFirst(2, capacityReply(code, "2"), next));
          await withSnapshotCapacityRetry(createSession(harness.transport), { operation: code, clock });
        } else {
          const session = await harness.transport.createSnapshotSession();
          harness.backend.override("snapshotChunk", (next) => failFirst(2, capacityReply(code, "2"), next));
          const chunk = await withSnapshotCapacityRetry(fetchFirstChunk(harness.transport, session), {
            operation: code,
            clock,
          });
          expect(chunk.rows).toHaveLength(1);
        }
        expect(clock.sleeps).toEqual([2000, 2000]);
      });
    }
  });
});

describe("snapshot capacity budget", () => {
  it("gives up when the next wait would pass 30 s", async () => {
    harness.backend.override("snapshotCreate", () => () => capacityReply("snapshot_build_capacity", "20"));
    const clock = fakeRetryClock();
    const failure = await withSnapshotCapacityRetry(createSession(harness.transport), {
      operation: "snapshot create",
      clock,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RetryExhaustedError);
    expect(failure).toMatchObject({
      code: "snapshot_capacity_retry_exhausted",
      attempts: 2,
      elapsedMillis: 20_000,
    });
    expect((failure as Error).cause).toBeInstanceOf(SnapshotCapacityError);
    expect(clock.sleeps).toEqual([20_000]);
  });

  it("gives up at once when the first wait alone passes the budget", async () => {
    harness.backend.override("snapshotCreate", () => () => capacityReply("snapshot_build_capacity", "31"));
    const clock = fakeRetryClock();
    await expect(
      withSnapshotCapacityRetry(createSession(harness.transport), { operation: "snapshot create", clock }),
    ).rejects.toMatchObject({ code: "snapshot_capacity_retry_exhausted", attempts: 1 });
    expect(clock.sleeps).toEqual([]);
  });

  it("jitter that pushes a wait past the budget ends the loop", async () => {
    harness.backend.override("snapshotCreate", () => () => capacityReply("snapshot_build_capacity", "30"));
    const clock = fakeRetryClock({ randoms: [0.01] });
    await expect(
      withSnapshotCapacityRetry(createSession(harness.transport), { operation: "snapshot create", clock }),
    ).rejects.toMatchObject({ code: "snapshot_capacity_retry_exhausted", attempts: 1 });
  });

  it("a 429 with another code is not a capacity answer and is not retried", async () => {
    harness.backend.override("snapshotCreate", () => () => capacityReply("rate_limited", "1"));
    const failure = await withSnapshotCapacityRetry(createSession(harness.transport), {
      operation: "snapshot create",
      clock: fakeRetryClock(),
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HttpStatusError);
    expect(failure).toMatchObject({ status: 429, code: "http_status", bodyCode: "rate_limited" });
    expect(harness.server.requestsTo("snapshotCreate")).toHaveLength(1);
  });

  it("a capacity code with the wrong status is not retried", async () => {
    harness.backend.override(
      "snapshotCreate",
      () => () => statusReply(503, { error: "snapshot_build_capacity", message: "busy" }),
    );
    await expect(
      withSnapshotCapacityRetry(createSession(harness.transport), {
        operation: "snapshot create",
        clock: fakeRetryClock(),
      }),
    ).rejects.toBeInstanceOf(HttpStatusError);
    expect(harness.server.requestsTo("snapshotCreate")).toHaveLength(1);
  });
});
