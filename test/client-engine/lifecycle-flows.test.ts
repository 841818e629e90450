/**
 * Lifecycle flows beyond the fixtures: one client per database, uninstall, detach and re-attach
 * as another user, remote-authoritative attach over anonymous rows, the seeding lease, statuses
 * and progress reporting.
 */
import { type SyncProgress, createSyncClient, isClientError } from "@oversync/client";
import { afterEach, describe, expect, it } from "vitest";
import { FAKE_INITIALIZATION_ID } from "../client-support/fake-sync-backend.js";
import { failFirst, statusReply } from "../client-support/scripted-replies.js";
import {
  type EngineHarness,
  USERS_CONFIG,
  scalar,
  scalarText,
  startEngineHarness,
} from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("ownership and uninstall", () => {
  it("allows one open client per database until it is closed", async () => {
    harness = await startEngineHarness();
    await harness.client.open();
    const second = createSyncClient({
      driver: harness.driver,
      config: USERS_CONFIG,
      baseUrl: harness.server.baseUrl,
      tokenProvider: () => "t",
    });
    const error = await second.open().catch((caught: unknown) => caught);
    expect(isClientError(error, "database_already_owned")).toBe(true);
    await harness.client.close();
    await second.open();
    await second.close();
  });

  it("uninstallSync removes triggers and runtime tables, keeps rows, and closes the client", async () => {
    harness = await startEngineHarness();
    const h = harness;
    await h.client.open();
    await h.client.attach("user-1");
    await h.execute(["INSERT INTO users(id, name) VALUES('user-1', 'Ada')"]);
    await h.client.pushPending();
    await h.client.uninstallSync();
    expect(await h.query("SELECT name FROM sqlite_master WHERE name LIKE '\\_sync\\_%' ESCAPE '\\'")).toEqual(
      [],
    );
    expect(await h.query("SELECT name FROM sqlite_master WHERE type = 'trigger'")).toEqual([]);
    expect(await h.query("SELECT id FROM users")).toEqual([{ id: "user-1" }]);
    const error = await h.client.sourceInfo().catch((caught: unknown) => caught);
    expect(isClientError(error, "client_closed")).toBe(true);
    // A new client reinstalls sync; rows that already existed are queued as new on first open.
    const client = await h.reopen();
    await client.open();
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(1);
  });
});

describe("attach and detach", () => {
  it("detach is blocked by unsynced attached changes, then wipes and rotates the source", async () => {
    harness = await startEngineHarness();
    const h = harness;
    const changes: string[] = [];
    h.client.onTablesChanged((change) => {
      if (change.origin === "sync") changes.push(...change.tables);
    });
    await h.client.open();
    await h.client.attach("user-1");
    await h.execute(["INSERT INTO users(id, name) VALUES('user-1', 'Ada')"]);
    expect(await h.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: true,
      pendingRowCount: 1,
      rejectedRowCount: 0,
      blocksDetach: true,
    });
    expect(await h.client.detach()).toEqual({ outcome: "blocked_unsynced_data", pendingRowCount: 1 });
    expect(await scalarText(h, "SELECT binding_state FROM _sync_attachment_state")).toBe("attached");

    await h.client.pushPending();
    const before = await scalarText(h, "SELECT current_source_id FROM _sync_attachment_state");
    changes.length = 0;
    expect(await h.client.detach()).toEqual({ outcome: "detached", pendingRowCount: 0 });
    expect(changes).toEqual(["users"]);
    const after = await scalarText(h, "SELECT current_source_id FROM _sync_attachment_state");
    expect(after).not.toBe(before);
    expect(
      await scalarText(
        h,
        `SELECT replaced_by_source_id FROM _sync_source_state WHERE source_id = '${before}'`,
      ),
    ).toBe(after);
    expect(await scalar(h, "SELECT count(*) FROM users")).toBe(0);
    const error = await h.client.pushPending().catch((caught: unknown) => caught);
    expect(isClientError(error, "attach_required")).toBe(true);

    h.backend.connectResolution = "initialize_empty";
    expect(await h.client.attach("user-2")).toMatchObject({ status: "connected", outcome: "started_empty" });
    expect(await scalarText(h, "SELECT attached_user_id FROM _sync_attachment_state")).toBe("user-2");
  });

  it("attach to another user while attached is a binding conflict", async () => {
    harness = await startEngineHarness();
    await harness.client.open();
    await harness.client.attach("user-1");
    const error = await harness.client.attach("user-2").catch((caught: unknown) => caught);
    expect(isClientError(error, "attach_binding_conflict")).toBe(true);
  });

  it("remote-authoritative attach replaces anonymous local rows with the account's snapshot", async () => {
    const progress: SyncProgress[] = [];
    harness = await startEngineHarness({
      backend: { connectResolution: "remote_authoritative" },
      client: { onProgress: (event) => progress.push(event) },
    });
    const h = harness;
    h.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "users",
          key: { id: "remote" },
          op: "INSERT",
          payload: { id: "remote", name: "R" },
        },
      ],
    });
    await h.client.open();
    await h.execute(["INSERT INTO users(id, name) VALUES('local', 'L')"]);
    const result = await h.client.attach("user-1");
    expect(result).toMatchObject({
      status: "connected",
      outcome: "used_remote_state",
      restore: { bundleSeq: 1, rowCount: 1 },
      syncStatus: { authority: "authoritative_materialized", lastBundleSeqSeen: 1 },
    });
    expect(await h.query("SELECT id FROM users")).toEqual([{ id: "remote" }]);
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(0);
    const phases = progress.map((entry) => (entry.state === "active" ? entry.phase : "idle"));
    expect(phases.filter((phase, index) => phase !== phases[index - 1])).toEqual([
      "attaching",
      "staging_remote_state",
      "applying_remote_state",
      "idle",
    ]);
    expect(progress).toContainEqual({
      state: "active",
      operation: "attach",
      phase: "staging_remote_state",
      rows: { done: 1, total: 1 },
      bytes: { done: expect.any(Number), total: expect.any(Number) },
    });
    expect(progress).toContainEqual({
      state: "active",
      operation: "attach",
      phase: "applying_remote_state",
      rows: { done: 1, total: 1 },
    });
  });

  it("an expired seeding lease drops the binding but keeps the frozen seed for the next attach", async () => {
    harness = await startEngineHarness({ backend: { connectResolution: "initialize_local" } });
    const h = harness;
    await h.client.open();
    await h.execute(["INSERT INTO users(id, name) VALUES('seed', 'Seed')"]);
    expect(await h.client.attach("user-1")).toMatchObject({
      outcome: "seeded_from_local",
      syncStatus: { authority: "pending_local_seed" },
    });
    h.backend.override("pushCreate", (next) =>
      failFirst(1, statusReply(410, { error: "initialization_expired", message: "lease expired" }), next),
    );
    const error = await h.client.pushPending().catch((caught: unknown) => caught);
    expect(isClientError(error, "initialization_lease_invalid")).toBe(true);
    expect(h.server.requestsTo("pushCreate")[0]!.body).toMatchObject({
      initialization_id: FAKE_INITIALIZATION_ID,
    });
    expect(
      await h.query("SELECT binding_state, pending_initialization_id FROM _sync_attachment_state"),
    ).toEqual([{ binding_state: "anonymous", pending_initialization_id: "" }]);
    expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(1);

    h.backend.connectResolution = "initialize_empty";
    await h.client.attach("user-1");
    expect((await h.client.pushPending()).outcome).toBe("committed");
    expect(h.server.requestsTo("pushCreate")[1]!.body).not.toHaveProperty("initialization_id");
    expect((await h.client.syncStatus()).authority).toBe("authoritative_materialized");
  });
});
