/**
 * What client calls throw belongs to the error family (`SyncClientError`) even for answers the
 * decoders let through: a string with a lone surrogate escape, which canonical JSON cannot write,
 * and a non-2xx without a known code.
 */
import { isSyncClientError } from "@oversync/client";
import { HttpStatusError, ProtocolViolationError } from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { errorReply, failFirst, jsonReply, statusReply } from "../client-support/scripted-replies.js";
import { type EngineHarness, scalar, startAttachedHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function attached(): Promise<EngineHarness> {
  harness = await startAttachedHarness();
  return harness;
}

const LONE_SURROGATE = "\ud800";

describe("errors of client calls", () => {
  it("a snapshot row with a lone surrogate is an invalid_snapshot_row violation", async () => {
    const h = await attached();
    const row = {
      schema: "main",
      table: "users",
      key: { id: "remote" },
      row_version: 1,
      payload: { id: "remote", name: LONE_SURROGATE },
    };
    // JSON.stringify writes the surrogate as an escape; the row object's bytes as received.
    const byteCount = Buffer.byteLength(JSON.stringify(row));
    const session = {
      snapshot_id: "snapshot-1",
      snapshot_bundle_seq: 1,
      row_count: 1,
      byte_count: byteCount,
    };
    h.backend.override(
      "snapshotCreate",
      () => () => jsonReply({ ...session, expires_at: "2099-01-01T00:00:00Z" }),
    );
    h.backend.override(
      "snapshotChunk",
      () => () =>
        jsonReply({
          snapshot_id: session.snapshot_id,
          snapshot_bundle_seq: 1,
          rows: [row],
          next_row_ordinal: 1,
          has_more: false,
          byte_count: byteCount,
        }),
    );
    const error = await h.client.rebuild().catch((caught: unknown) => caught);
    expect(isSyncClientError(error)).toBe(true);
    expect(error).toBeInstanceOf(ProtocolViolationError);
    expect(error).toMatchObject({ code: "invalid_snapshot_row" });
    expect(await scalar(h, "SELECT count(*) FROM users")).toBe(0);
  });

  it("a push_conflict whose key has a lone surrogate is an invalid_response violation", async () => {
    const h = await attached();
    await h.execute(["INSERT INTO users(id, name) VALUES('local', 'L')"]);
    const conflict = {
      schema: "main",
      table: "users",
      key: { id: LONE_SURROGATE },
      op: "INSERT",
      base_row_version: 0,
      server_row_version: 1,
      server_row_deleted: false,
    } as const;
    h.backend.override("pushCommit", (next) =>
      failFirst(1, errorReply("push_conflict", "conflict", { conflict }), next),
    );
    const error = await h.client.pushPending().catch((caught: unknown) => caught);
    expect(isSyncClientError(error)).toBe(true);
    expect(error).toMatchObject({ name: "ProtocolViolationError", code: "invalid_response" });
    expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(1);
  });

  it("a non-2xx without a known code is an HttpStatusError with code http_status", async () => {
    const h = await attached();
    h.backend.override("pull", () => () => statusReply(418, { error: "teapot", message: "short and stout" }));
    const error = await h.client.pullToStable().catch((caught: unknown) => caught);
    expect(isSyncClientError(error)).toBe(true);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ code: "http_status", status: 418, bodyCode: "teapot" });
  });
});
