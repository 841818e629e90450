/**
 * SyncClient flows against the scripted fake server over loopback: lifecycle gates, push/pull round
 * trips, table-change notifications, progress, contention, ownership and uninstall.
 */
import { isClientError } from "@oversync/client";
import { afterEach, describe, expect, it } from "vitest";
import { type EngineHarness, scalar, startEngineHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function attached(): Promise<EngineHarness> {
  harness = await startEngineHarness();
  await harness.client.open();
  const result = await harness.client.attach("user-1");
  expect(result).toMatchObject({ status: "connected", outcome: "started_empty" });
  return harness;
}

describe("lifecycle gates", () => {
  it("operations before open fail with open_required and send nothing", async () => {
    harness = await startEngineHarness();
    const error = await harness.client.attach("user-1").catch((caught: unknown) => caught);
    expect(isClientError(error, "open_required")).toBe(true);
    expect(harness.server.requests).toHaveLength(0);
  });

  it("sync operations before attach fail with attach_required and send nothing", async () => {
    harness = await startEngineHarness();
    await harness.client.open();
    for (const call of [
      () => harness!.client.pushPending(),
      () => harness!.client.pullToStable(),
      () => harness!.client.sync(),
      () => harness!.client.rebuild(),
      () => harness!.client.syncThenDetach(),
      () => harness!.client.lastBundleSeqSeen(),
      () => harness!.client.syncStatus(),
    ]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(isClientError(error, "attach_required")).toBe(true);
    }
    expect(harness.server.requests).toHaveLength(0);
  });
});

describe("push and pull", () => {
  it("pushes a local insert, replays it and advances the checkpoint", async () => {
    const h = await attached();
    await h.execute(["INSERT INTO users(id, name) VALUES('user-1', 'Ada')"]);
    const report = await h.client.pushPending();
    expect(report.outcome).toBe("committed");
    expect(report.syncStatus.lastBundleSeqSeen).toBe(1);
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(0);
    expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(0);
    expect(await scalar(h, "SELECT row_version FROM _sync_row_state")).toBe(1);
    expect(h.backend.uploadedRows).toEqual([
      {
        schema: "main",
        table: "users",
        key: { id: "user-1" },
        op: "INSERT",
        base_row_version: 0,
        payload: { id: "user-1", name: "Ada" },
      },
    ]);
    expect(await h.client.pushPending()).toMatchObject({ outcome: "no_change" });
  });

  it("pulls remote bundles and reports the changed tables once committed", async () => {
    const h = await attached();
    const changes: unknown[] = [];
    h.client.onTablesChanged((change) => changes.push({ ...change, tables: [...change.tables] }));
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
    const report = await h.client.pullToStable();
    expect(report.outcome).toBe("applied_incremental");
    expect(await h.client.lastBundleSeqSeen()).toBe(1);
    expect(await h.query("SELECT id, name FROM users")).toEqual([{ id: "u1", name: "Ada" }]);
    expect(changes).toEqual([{ tables: ["users"], origin: "sync" }]);
    expect((await h.client.pullToStable()).outcome).toBe("already_at_target");
  });

  it("a concurrent call fails fast with sync_operation_in_progress", async () => {
    const h = await attached();
    const first = h.client.pullToStable();
    const error = await h.client.sourceInfo().catch((caught: unknown) => caught);
    expect(isClientError(error, "sync_operation_in_progress")).toBe(true);
    await first;
  });
});
