/**
 * Push conflicts end to end: the resolver's view of the conflict, client-wins and merge retries on
 * the same source bundle id, the retry budget, and invalid resolutions that keep the intent queued.
 */
import {
  type ConflictContext,
  type ConflictResolver,
  type SyncClient,
  clientWins,
  isClientError,
  mergeRows,
  serverWins,
} from "@oversync/client";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeHandler } from "../client-support/fake-sync-server.js";
import { statusReply } from "../client-support/scripted-replies.js";
import { type EngineHarness, scalar, startEngineHarness } from "./engine-harness.js";
import { pushCreateRequests } from "./fixture-support.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const SERVER_ROW = { id: "user-1", name: "Server" };

/** An attached client whose user-1 row is synced at version 1 and then edited locally to "Local". */
async function conflicted(
  resolver: ConflictResolver,
  conflicts = 1,
): Promise<{ h: EngineHarness; client: SyncClient }> {
  harness = await startEngineHarness({ client: { resolver } });
  const h = harness;
  await h.client.open();
  await h.client.attach("user-1");
  h.backend.appendBundle({
    rows: [
      {
        schema: "main",
        table: "users",
        key: { id: "user-1" },
        op: "INSERT",
        payload: { id: "user-1", name: "Ada" },
      },
    ],
  });
  await h.client.pullToStable();
  await h.execute(["UPDATE users SET name = 'Local' WHERE id = 'user-1'"]);
  let delivered = 0;
  h.backend.override(
    "pushCommit",
    (next): FakeHandler =>
      (request, params) => {
        if (delivered >= conflicts) return next(request, params);
        delivered++;
        const serverVersion = 1 + delivered;
        return statusReply(409, {
          error: "push_conflict",
          message: "stale base",
          conflict: {
            schema: "main",
            table: "users",
            key: { id: "user-1" },
            op: "UPDATE",
            base_row_version: 1,
            server_row_version: serverVersion,
            server_row_deleted: false,
            server_row: SERVER_ROW,
          },
        });
      },
  );
  return { h, client: h.client };
}

describe("push conflicts", () => {
  it("hands the resolver both sides as exact values and applies server wins", async () => {
    const seen: ConflictContext[] = [];
    const { h, client } = await conflicted((conflict) => {
      seen.push(conflict);
      return serverWins(conflict);
    });
    expect((await client.pushPending()).outcome).toBe("no_change");
    expect(seen).toEqual([
      {
        schema: "main",
        table: "users",
        key: { id: "user-1" },
        localOp: "UPDATE",
        localRow: { id: "user-1", name: "Local" },
        baseRowVersion: 1n,
        serverRowVersion: 2n,
        serverRowDeleted: false,
        serverRow: SERVER_ROW,
      },
    ]);
    expect(await h.query("SELECT name FROM users")).toEqual([{ name: "Server" }]);
    expect(await scalar(h, "SELECT row_version FROM _sync_row_state")).toBe(2);
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(0);
  });

  it("client wins pushes the local row again on the server's version, same source bundle id", async () => {
    const { h, client } = await conflicted(clientWins);
    expect((await client.pushPending()).outcome).toBe("committed");
    expect(pushCreateRequests(h.server).map((request) => request.source_bundle_id)).toEqual([1, 1]);
    expect(h.backend.uploadedRows.at(-1)).toMatchObject({
      op: "UPDATE",
      base_row_version: 2,
      payload: { name: "Local" },
    });
    expect(await h.query("SELECT name FROM users")).toEqual([{ name: "Local" }]);
    expect(await scalar(h, "SELECT next_source_bundle_id FROM _sync_source_state")).toBe(2);
    expect(await scalar(h, "SELECT count(*) FROM _sync_dirty_rows")).toBe(0);
  });

  it("a merge resolver stores and pushes the merged row", async () => {
    const { h, client } = await conflicted(
      mergeRows((conflict) => ({
        id: "user-1",
        name: `${conflict.serverRow?.name}+${conflict.localRow?.name}`,
      })),
    );
    expect((await client.pushPending()).outcome).toBe("committed");
    expect(h.backend.uploadedRows.at(-1)).toMatchObject({
      base_row_version: 2,
      payload: { name: "Server+Local" },
    });
    expect(await h.query("SELECT name FROM users")).toEqual([{ name: "Server+Local" }]);
  });

  it("gives up after one retry per bundle row plus two and keeps the intent in dirty rows", async () => {
    // The server's row changes again before every retry of this one-row bundle.
    const { h, client } = await conflicted(clientWins, 4);
    const error = await client.pushPending().catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: "push_conflict_retry_exhausted",
      retryCount: 3,
      remainingDirtyRowCount: 1n,
    });
    expect(h.server.requestsTo("pushCommit")).toHaveLength(4);
    expect(await h.query("SELECT op, base_row_version FROM _sync_dirty_rows")).toEqual([
      { op: "UPDATE", base_row_version: 5n },
    ]);
    expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(0);
    expect(await scalar(h, "SELECT next_source_bundle_id FROM _sync_source_state")).toBe(1);
  });

  it("a merged row without every column is invalid and the bundle goes back to dirty rows", async () => {
    const { h, client } = await conflicted(() => ({ kind: "keep_merged", row: { id: "user-1" } }));
    const error = await client.pushPending().catch((caught: unknown) => caught);
    expect(isClientError(error, "invalid_conflict_resolution")).toBe(true);
    expect(error).toMatchObject({ resolution: { kind: "keep_merged" }, conflict: { serverRowVersion: 2n } });
    expect(await h.query("SELECT op, base_row_version, payload FROM _sync_dirty_rows")).toEqual([
      { op: "UPDATE", base_row_version: 1n, payload: '{"id":"user-1","name":"Local"}' },
    ]);
    expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(0);
    expect(await h.query("SELECT name FROM users")).toEqual([{ name: "Local" }]);
  });
});
