/**
 * Source recovery end to end: the server refuses the source, the gate survives a restart and fails
 * closed without requests, app writes are blocked, and rebuild() rotates to the reserved source,
 * keeps the frozen change (and a write that slipped in before the refusal) and pushes it as bundle
 * 1 of the new source.
 */
import { SqliteError } from "@oversync/client";
import { afterEach, describe, expect, it } from "vitest";
import { failFirst, statusReply } from "../client-support/scripted-replies.js";
import { type EngineHarness, scalar, scalarText, startEngineHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("source recovery", () => {
  it("persists, fails closed, blocks writes, and rotates on rebuild keeping the frozen change", async () => {
    harness = await startEngineHarness();
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    const oldSource = await scalarText(h, "SELECT current_source_id FROM _sync_attachment_state");
    await h.execute(["INSERT INTO users(id, name) VALUES('local-1', 'Local')"]);
    h.backend.override("pushCreate", (next) =>
      failFirst(1, statusReply(409, { error: "source_sequence_out_of_order", message: "gap" }), next),
    );
    await expect(h.client.pushPending()).rejects.toMatchObject({
      code: "source_recovery_required",
      reason: "source_sequence_out_of_order",
    });

    const client = await h.reopen();
    await client.open();
    expect(await client.sourceInfo()).toEqual({
      currentSourceId: oldSource,
      rebuildRequired: true,
      sourceRecoveryRequired: true,
      sourceRecoveryReason: "source_sequence_out_of_order",
    });
    const requestsBefore = h.server.requests.length;
    expect(await client.attach("user-1")).toMatchObject({ outcome: "resumed_attached_state" });
    for (const call of [() => client.pushPending(), () => client.pullToStable(), () => client.sync()]) {
      await expect(call()).rejects.toMatchObject({ code: "source_recovery_required" });
    }
    expect(h.server.requests.length).toBe(requestsBefore);
    const blocked = await h
      .execute(["INSERT INTO users(id, name) VALUES('blocked', 'No')"])
      .catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(SqliteError);
    expect((blocked as Error).message).toBe("SYNC_TRANSITION_PENDING");

    const replacement = await scalarText(h, "SELECT replacement_source_id FROM _sync_operation_state");
    const report = await client.rebuild();
    expect(report.outcome).toBe("applied_snapshot");
    const create = h.server.requestsTo("snapshotCreate").at(-1)!;
    expect(create.body).toEqual({
      source_replacement: {
        previous_source_id: oldSource,
        new_source_id: replacement,
        reason: "source_sequence_out_of_order",
      },
    });
    expect(await client.sourceInfo()).toEqual({
      currentSourceId: replacement,
      rebuildRequired: false,
      sourceRecoveryRequired: false,
    });
    expect(await h.query("SELECT id FROM users")).toEqual([{ id: "local-1" }]);
    expect(await h.query("SELECT state, source_id, source_bundle_id FROM _sync_outbox_bundle")).toEqual([
      { state: "prepared", source_id: replacement, source_bundle_id: 1n },
    ]);
    expect(
      await scalarText(
        h,
        `SELECT replaced_by_source_id FROM _sync_source_state WHERE source_id = '${oldSource}'`,
      ),
    ).toBe(replacement);

    expect((await client.pushPending()).outcome).toBe("committed");
    const lastCreate = h.server.requestsTo("pushCreate").at(-1)!;
    expect(lastCreate.sourceId).toBe(replacement);
    expect((lastCreate.body as { source_bundle_id: number }).source_bundle_id).toBe(1);
    expect(
      await scalar(
        h,
        `SELECT next_source_bundle_id FROM _sync_source_state WHERE source_id = '${replacement}'`,
      ),
    ).toBe(2);
    expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(0);
  });

  it("a write captured between freeze and refusal is re-applied and stays queued after rotation", async () => {
    harness = await startEngineHarness();
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    await h.execute(["INSERT INTO users(id, name) VALUES('frozen', 'Frozen')"]);
    h.backend.override("pushCreate", (next) =>
      failFirst(
        1,
        async (request) => {
          // The app writes while the create request is in flight, after the freeze.
          await h.execute(["INSERT INTO users(id, name) VALUES('late', 'Late')"]);
          return statusReply(409, {
            error: "source_retired",
            message: "retired",
            source_id: request.sourceId,
            replaced_by_source_id: "server-named-replacement",
          });
        },
        next,
      ),
    );
    await expect(h.client.pushPending()).rejects.toMatchObject({ code: "source_recovery_required" });
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(1);
    await h.client.rebuild();
    expect(await scalarText(h, "SELECT current_source_id FROM _sync_attachment_state")).toBe(
      "server-named-replacement",
    );
    expect(await h.query("SELECT id FROM users ORDER BY id")).toEqual([{ id: "frozen" }, { id: "late" }]);
    expect(await h.query("SELECT key_json, op FROM _sync_dirty_rows")).toEqual([
      { key_json: '{"id":"late"}', op: "INSERT" },
    ]);
    expect((await h.client.pushPending()).outcome).toBe("committed");
    expect((await h.client.pushPending()).outcome).toBe("committed");
    expect(
      h.server
        .requestsTo("pushCreate")
        .slice(-2)
        .map((request) => (request.body as { source_bundle_id: number }).source_bundle_id),
    ).toEqual([1, 2]);
  });
});
