/**
 * The engine's use of the transport's policies, with a fake retry clock: whole-operation retry of
 * transient failures (never of 4xx), Retry-After on snapshot capacity answers, resuming a prepared
 * outbox after a restart, exact typed values through push and pull, and automatic downloads.
 */
import { RetryExhaustedError, TRANSIENT_RETRY_POLICY } from "@oversync/client";
import { OversyncError } from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { fakeRetryClock } from "../client-support/fake-retry-clock.js";
import { errorReply, failFirst, statusReply } from "../client-support/scripted-replies.js";
import {
  type EngineHarness,
  SCHEMA_PRESETS,
  scalar,
  scalarText,
  startEngineHarness,
} from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function attachedWithRetry() {
  const clock = fakeRetryClock();
  harness = await startEngineHarness({
    client: { transientRetryPolicy: TRANSIENT_RETRY_POLICY, retryClock: clock },
  });
  await harness.client.open();
  await harness.client.attach("user-1");
  return { h: harness, clock };
}

const UNAVAILABLE = { error: "service_unavailable", message: "try again" };

describe("transient retry of whole operations", () => {
  it("reruns a pull after a 503 and succeeds", async () => {
    const { h, clock } = await attachedWithRetry();
    h.backend.override("pull", (next) => failFirst(1, statusReply(503, UNAVAILABLE), next));
    expect((await h.client.pullToStable()).outcome).toBe("already_at_target");
    expect(h.server.requestsTo("pull")).toHaveLength(2);
    expect(clock.sleeps).toEqual([150]);
  });

  it("gives up after three attempts with RetryExhaustedError", async () => {
    const { h, clock } = await attachedWithRetry();
    h.backend.override("pull", () => () => statusReply(503, UNAVAILABLE));
    const error = await h.client.pullToStable().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect(error).toMatchObject({ code: "transient_retry_exhausted", attempts: 3 });
    expect(clock.sleeps).toEqual([150, 300]);
  });

  it("never retries an authentication failure", async () => {
    const { h } = await attachedWithRetry();
    h.backend.override(
      "pull",
      () => () => statusReply(401, { error: "authentication_failed", message: "no" }),
    );
    const error = await h.client.pullToStable().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OversyncError);
    expect(error).toMatchObject({ status: 401 });
    expect(h.server.requestsTo("pull")).toHaveLength(1);
  });
});

describe("snapshot capacity", () => {
  it("waits Retry-After before creating the snapshot session again", async () => {
    const { h, clock } = await attachedWithRetry();
    h.backend.override("snapshotCreate", (next) =>
      failFirst(1, errorReply("snapshot_build_capacity", "busy", undefined, { "Retry-After": "2" }), next),
    );
    expect((await h.client.rebuild()).outcome).toBe("applied_snapshot");
    expect(h.server.requestsTo("snapshotCreate")).toHaveLength(2);
    expect(clock.sleeps).toEqual([2000]);
  });
});

describe("resuming a prepared outbox", () => {
  it("re-uploads the frozen bundle from row 0 in a new session after a restart", async () => {
    harness = await startEngineHarness({ client: { uploadLimit: 1 } });
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    await h.execute([
      "INSERT INTO users(id, name) VALUES('a', 'A')",
      "INSERT INTO users(id, name) VALUES('b', 'B')",
    ]);
    h.backend.override("pushCommit", (next) =>
      failFirst(1, statusReply(500, { error: "temporary", message: "x" }), next),
    );
    await expect(h.client.pushPending()).rejects.toMatchObject({ status: 500 });
    expect(await scalarText(h, "SELECT state FROM _sync_outbox_bundle")).toBe("prepared");
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(0);

    const client = await h.reopen();
    await client.open();
    await client.attach("user-1");
    expect((await client.pushPending()).outcome).toBe("committed");
    const creates = h.server.requestsTo("pushCreate");
    expect(creates.map((request) => request.body)).toEqual([creates[0]!.body, creates[0]!.body]);
    const chunks = h.server.requestsTo("pushChunk");
    expect(
      chunks.map((request) => (request.body as { start_row_ordinal: number }).start_row_ordinal),
    ).toEqual([0, 1, 0, 1]);
    expect(await scalar(h, "SELECT next_source_bundle_id FROM _sync_source_state")).toBe(2);
  });
});

describe("exact values", () => {
  it("pushes and pulls 64-bit integers, REAL, BLOB and booleans exactly", async () => {
    harness = await startEngineHarness({
      schema: SCHEMA_PRESETS["typed-rows"],
      config: { schema: "main", syncTables: [{ tableName: "typed_rows", syncKeyColumnName: "id" }] },
    });
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    await h.execute([
      "INSERT INTO typed_rows(id, name, note, count_value, enabled_flag, rating, data, created_at) " +
        "VALUES('t1', 'Typed', NULL, 9223372036854775807, 1, 0.1, x'cafebabe', NULL)",
    ]);
    expect((await h.client.pushPending()).outcome).toBe("committed");
    expect(h.backend.uploadedRows[0]?.payload).toEqual({
      id: "t1",
      name: "Typed",
      note: null,
      count_value: "9223372036854775807",
      enabled_flag: "1",
      rating: "0.1",
      data: "yv66vg==",
      created_at: null,
    });
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(0);

    h.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "typed_rows",
          key: { id: "t2" },
          op: "INSERT",
          payload: {
            id: "t2",
            name: "Remote",
            note: "9007199254740993",
            count_value: "-9223372036854775808",
            enabled_flag: true,
            rating: "5e-324",
            data: "",
            created_at: "2026-03-24T18:42:11+00:00",
          },
        },
      ],
    });
    await h.client.pullToStable();
    const rows = await h.driver.query(
      "SELECT note, count_value, enabled_flag, rating, data FROM typed_rows WHERE id = 't2'",
    );
    expect(rows).toEqual([
      {
        note: "9007199254740993",
        count_value: -9223372036854775808n,
        enabled_flag: 1n,
        rating: 5e-324,
        data: new Uint8Array(0),
      },
    ]);
  });
});

describe("automatic downloads", () => {
  async function eventually(check: () => Promise<boolean>): Promise<void> {
    for (let tries = 0; tries < 250; tries++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error("condition not met within 5 s");
  }

  it("polls with pullToStable when watch is off, and stops", async () => {
    harness = await startEngineHarness();
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    h.client.start({ watch: "off", intervalMillis: 20 });
    h.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "users",
          key: { id: "u1" },
          op: "INSERT",
          payload: { id: "u1", name: "Ada" },
        },
      ],
    });
    await eventually(async () => (await scalar(h, "SELECT count(*) FROM users")) === 1);
    await h.client.stop();
    const pulls = h.server.requestsTo("pull").length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(h.server.requestsTo("pull")).toHaveLength(pulls);
    expect(h.server.requestsTo("watch")).toHaveLength(0);
  });

  it("pulls on bundle-change events of a held watch stream and closes it on stop", async () => {
    harness = await startEngineHarness();
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    h.client.start({ watch: "auto", intervalMillis: 60_000, reconnectMinMillis: 20 });
    await eventually(async () => h.server.openStreams().length === 1);
    h.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "users",
          key: { id: "u1" },
          op: "INSERT",
          payload: { id: "u1", name: "Ada" },
        },
      ],
    });
    await eventually(async () => (await scalar(h, "SELECT count(*) FROM users")) === 1);
    await h.client.stop();
    await eventually(async () => h.server.openStreams().length === 0);
  });
});
