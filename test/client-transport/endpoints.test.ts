/**
 * Every endpoint end to end against the stateful fake backend: requests the server accepts,
 * answers decoded with their context (source, cursors, session), and error bodies as typed errors.
 */
import type { PushRowInput } from "../../packages/client/src/transport/sync-transport.js";
import {
  type BundleRow,
  type CommittedBundleIdentity,
  OversyncError,
  ProtocolViolationError,
  type PushConflict,
  type SnapshotSession,
  bundleHash,
  canonicalRequestHash,
  snapshotRowJson,
} from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { errorReply, jsonReply } from "../client-support/scripted-replies.js";
import { type TransportHarness, startTransportHarness } from "./transport-harness.js";

let harness: TransportHarness;
beforeEach(async () => {
  harness = await startTransportHarness({ basePath: "/api/v1/", sourceId: "source-a" });
});
afterEach(async () => {
  await harness.close();
});

const ROWS: PushRowInput[] = [
  {
    schema: "main",
    table: "users",
    key: { id: "u1" },
    op: "INSERT",
    base_row_version: 0,
    payload: { id: "u1", name: "Ada" },
  },
  {
    schema: "main",
    table: "users",
    key: { id: "u2" },
    op: "UPDATE",
    base_row_version: 3,
    payload: { id: "u2", name: "Grace \u{1F600}" },
  },
  { schema: "main", table: "users", key: { id: "u3" }, op: "DELETE", base_row_version: 4 },
];
const HASH = canonicalRequestHash(ROWS);

/** Pushes ROWS in chunks of two and commits; returns the commit answer. */
async function pushRows(sourceBundleId = 1) {
  const { transport } = harness;
  const created = await transport.createPushSession({
    sourceBundleId,
    plannedRowCount: ROWS.length,
    canonicalRequestHash: HASH,
  });
  if (created.status !== "staging") throw new Error("expected a staging session");
  const first = await transport.uploadPushChunk({
    pushId: created.push_id,
    startRowOrdinal: 0,
    rows: ROWS.slice(0, 2),
  });
  expect(first.next_expected_row_ordinal).toBe(2);
  await transport.uploadPushChunk({ pushId: created.push_id, startRowOrdinal: 2, rows: ROWS.slice(2) });
  return transport.commitPushSession({ pushId: created.push_id, sourceBundleId });
}

describe("push", () => {
  it("stages, uploads, commits and replays the committed rows page by page", async () => {
    const commit = await pushRows();
    expect(commit).toMatchObject({ bundle_seq: 1, source_id: "source-a", source_bundle_id: 1, row_count: 3 });
    expect(commit.canonical_request_hash).toBe(HASH);

    const committed: CommittedBundleIdentity = commit;
    const rows: BundleRow[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await harness.transport.fetchCommittedRows({
        committed,
        afterRowOrdinal: after,
        maxRows: 2,
      });
      rows.push(...page.rows);
      after = page.next_row_ordinal;
      if (!page.has_more) break;
    }
    expect(rows.map((row) => row.op)).toEqual(["INSERT", "UPDATE", "DELETE"]);
    expect(rows[2]).not.toHaveProperty("payload");
    expect(bundleHash(rows)).toBe(commit.bundle_hash);
    const queries = harness.server
      .requestsTo("committedRows")
      .filter((request) => request.params.bundle_seq === "1")
      .map((request) => request.query);
    expect(queries).toEqual([{ max_rows: "2" }, { after_row_ordinal: "1", max_rows: "2" }]);
  });

  it("sends DELETE rows without payload and commit without a body", async () => {
    await pushRows();
    const [, second] = harness.server.requestsTo("pushChunk");
    expect(second!.body).toEqual({
      start_row_ordinal: 2,
      rows: [{ schema: "main", table: "users", key: { id: "u3" }, op: "DELETE", base_row_version: 4 }],
    });
    const [commit] = harness.server.requestsTo("pushCommit");
    expect(commit!.bodyText).toBe("");
    expect(commit!.headers["content-type"]).toBeUndefined();
  });

  it("answers a repeated create of a committed bundle with already_committed", async () => {
    const commit = await pushRows();
    const again = await harness.transport.createPushSession({
      sourceBundleId: 1,
      plannedRowCount: 3,
      canonicalRequestHash: HASH,
    });
    expect(again).toMatchObject({
      status: "already_committed",
      bundle_seq: commit.bundle_seq,
      bundle_hash: commit.bundle_hash,
    });
  });

  it("refuses a staging answer whose request hash differs as a source sequence mismatch", async () => {
    harness.backend.override(
      "pushCreate",
      () => () =>
        jsonReply({
          status: "staging",
          push_id: crypto.randomUUID(),
          planned_row_count: 3,
          canonical_request_hash: "b".repeat(64),
        }),
    );
    const failure = await harness.transport
      .createPushSession({ sourceBundleId: 1, plannedRowCount: 3, canonicalRequestHash: HASH })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProtocolViolationError);
    expect(failure).toMatchObject({ code: "source_sequence_mismatch" });
  });

  it("refuses a commit answer naming another source", async () => {
    harness.backend.override("pushCommit", (next) => async (request, params) => {
      const reply = await next(request, params);
      return jsonReply({ ...(reply.json as object), source_id: "someone-else" });
    });
    await expect(pushRows()).rejects.toMatchObject({
      name: "ProtocolViolationError",
      code: "invalid_response",
    });
  });

  it("decodes a push_conflict with its conflict object", async () => {
    const conflict: PushConflict = {
      schema: "main",
      table: "users",
      key: { id: "u1" },
      op: "INSERT",
      base_row_version: 0,
      server_row_version: 7,
      server_row_deleted: false,
      server_row: { id: "u1", name: "Server" },
    };
    harness.backend.override("pushCommit", () => () => errorReply("push_conflict", "conflict", { conflict }));
    const failure = await pushRows().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OversyncError);
    expect(failure).toMatchObject({ code: "push_conflict", status: 409, extras: { conflict } });
  });

  it("deletes a push session with a bodiless DELETE", async () => {
    const created = await harness.transport.createPushSession({
      sourceBundleId: 1,
      plannedRowCount: 3,
      canonicalRequestHash: HASH,
    });
    if (created.status !== "staging") throw new Error("expected staging");
    await harness.transport.deletePushSession(created.push_id);
    expect(harness.backend.pushSessions.size).toBe(0);
    const request = harness.server.requests.at(-1)!;
    expect(request).toMatchObject({
      method: "DELETE",
      path: `/api/v1/sync/push-sessions/${created.push_id}`,
      bodyText: "",
    });
  });

  it("refuses to upload an INSERT without a payload", async () => {
    await expect(
      harness.transport.uploadPushChunk({
        pushId: crypto.randomUUID(),
        startRowOrdinal: 0,
        rows: [{ schema: "main", table: "users", key: { id: "u1" }, op: "INSERT", base_row_version: 0 }],
      }),
    ).rejects.toMatchObject({ code: "request_invalid" });
    expect(harness.server.requests).toHaveLength(0);
  });
});

describe("connect and capabilities", () => {
  it("decodes each connect resolution", async () => {
    for (const resolution of [
      "initialize_empty",
      "initialize_local",
      "remote_authoritative",
      "retry_later",
    ] as const) {
      harness.backend.connectResolution = resolution;
      expect((await harness.transport.connect({ hasLocalPendingRows: true })).resolution).toBe(resolution);
    }
  });

  it("keeps the base path when the base URL has no trailing slash", async () => {
    const transport = harness.transportWith({ baseUrl: `${harness.server.origin}/api/v1` });
    expect(transport.baseUrl.href).toBe(harness.server.baseUrl);
    await transport.capabilities();
    expect(harness.server.requests.at(-1)!.path).toBe("/api/v1/sync/capabilities");
  });

  it("reports a protocol version mismatch", async () => {
    harness.backend.protocolVersions = ["v1", "v0"];
    await harness.transport.capabilities();
    await expect(harness.transport.capabilities()).rejects.toMatchObject({
      code: "protocol_version_mismatch",
    });
  });
});

describe("pull", () => {
  beforeEach(() => {
    for (const id of ["u1", "u2", "u3"]) {
      harness.backend.appendBundle({
        rows: [{ schema: "main", table: "users", key: { id }, op: "INSERT", payload: { id, name: id } }],
      });
    }
  });

  it("pages up to the frozen stable seq", async () => {
    const first = await harness.transport.pull({ afterBundleSeq: 0, maxBundles: 2 });
    expect(first).toMatchObject({ stable_bundle_seq: 3, has_more: true });
    const second = await harness.transport.pull({ afterBundleSeq: 2, maxBundles: 2, targetBundleSeq: 3 });
    expect(second.bundles.map((bundle) => bundle.bundle_seq)).toEqual([3]);
    expect(second.has_more).toBe(false);
    expect(harness.server.requestsTo("pull").map((request) => request.query)).toEqual([
      { after_bundle_seq: "0", max_bundles: "2" },
      { after_bundle_seq: "2", max_bundles: "2", target_bundle_seq: "3" },
    ]);
  });

  it("omits a zero target", async () => {
    await harness.transport.pull({ afterBundleSeq: 0, maxBundles: 10, targetBundleSeq: 0 });
    expect(harness.server.requests.at(-1)!.query).toEqual({ after_bundle_seq: "0", max_bundles: "10" });
  });

  it("turns checkpoint_ahead into an OversyncError", async () => {
    await expect(harness.transport.pull({ afterBundleSeq: 99, maxBundles: 10 })).rejects.toMatchObject({
      name: "OversyncError",
      code: "checkpoint_ahead",
      status: 409,
    });
  });

  it("refuses a page that stops short of stable", async () => {
    harness.backend.override(
      "pull",
      () => () => jsonReply({ stable_bundle_seq: 3, bundles: [], has_more: false }),
    );
    await expect(harness.transport.pull({ afterBundleSeq: 0, maxBundles: 10 })).rejects.toBeInstanceOf(
      ProtocolViolationError,
    );
  });
});

describe("snapshots", () => {
  const rows = ["Ada", "Gr\u00e2ce \u{1F600}", "Linus"].map((name, index) => ({
    schema: "main",
    table: "users",
    key: { id: `u${index}` },
    row_version: 5,
    payload: { id: `u${index}`, name },
  }));

  it("fetches a session chunk by chunk with byte counts measured as received", async () => {
    harness.backend.enqueueSnapshot({ id: "snap/1 x", bundleSeq: 5, rows });
    const session = await harness.transport.createSnapshotSession();
    expect(session).toMatchObject({ snapshot_id: "snap/1 x", snapshot_bundle_seq: 5, row_count: 3 });
    expect(session.byte_count).toBe(rows.reduce((sum, row) => sum + snapshotRowJson(row).byteLength, 0));

    let afterRowOrdinal = 0;
    let bytesBefore = 0;
    const received: string[] = [];
    for (;;) {
      const chunk = await harness.transport.fetchSnapshotChunk({
        session,
        afterRowOrdinal,
        bytesBefore,
        maxRows: 2,
        maxBytes: 1 << 20,
      });
      received.push(...chunk.rows.map((row) => String(row.payload.name)));
      expect(chunk.rowByteLengths).toEqual(chunk.rows.map((row) => snapshotRowJson(row).byteLength));
      afterRowOrdinal = chunk.next_row_ordinal;
      bytesBefore += chunk.byte_count;
      if (!chunk.has_more) break;
    }
    expect(received).toEqual(rows.map((row) => row.payload.name));
    expect(bytesBefore).toBe(session.byte_count);
    const chunkRequests = harness.server.requestsTo("snapshotChunk");
    expect(chunkRequests.map((request) => request.path)).toEqual([
      "/api/v1/sync/snapshot-sessions/snap%2F1%20x",
      "/api/v1/sync/snapshot-sessions/snap%2F1%20x",
    ]);
    expect(chunkRequests[1]!.query).toEqual({ after_row_ordinal: "2", max_rows: "2", max_bytes: "1048576" });

    await harness.transport.deleteSnapshotSession(session.snapshot_id);
    expect(harness.backend.snapshotSessions.has("snap/1 x")).toBe(false);
  });

  it("refuses a chunk whose byte_count disagrees with the rows as received", async () => {
    harness.backend.enqueueSnapshot({ id: "snap-2", bundleSeq: 5, rows });
    const session = await harness.transport.createSnapshotSession();
    // Whitespace inside a row object changes its bytes, so the server's byte_count no longer fits.
    harness.backend.override("snapshotChunk", (next) => async (request, params) => {
      const reply = await next(request, params);
      return { ...reply, body: String(reply.body).replace('{"schema":', '{ "schema":') };
    });
    await expect(
      harness.transport.fetchSnapshotChunk({
        session,
        afterRowOrdinal: 0,
        bytesBefore: 0,
        maxRows: 10,
        maxBytes: 1 << 20,
      }),
    ).rejects.toMatchObject({ code: "invalid_snapshot_chunk" });
  });

  it("decodes snapshot_chunk_too_small with its required byte count", async () => {
    harness.backend.enqueueSnapshot({ id: "snap-3", bundleSeq: 5, rows });
    const session = await harness.transport.createSnapshotSession();
    const failure = await harness.transport
      .fetchSnapshotChunk({ session, afterRowOrdinal: 0, bytesBefore: 0, maxRows: 10, maxBytes: 20 })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: "snapshot_chunk_too_small",
      extras: { required_byte_count: snapshotRowJson(rows[0]!).byteLength },
    });
  });

  it("sends a source replacement and serves the live rows of the log", async () => {
    harness.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "users",
          key: { id: "u9" },
          op: "INSERT",
          payload: { id: "u9", name: "Live" },
        },
      ],
    });
    const session: SnapshotSession = await harness.transport.createSnapshotSession({
      sourceReplacement: { previousSourceId: "source-a", newSourceId: "source-b", reason: "history_pruned" },
    });
    expect(session).toMatchObject({ snapshot_bundle_seq: 1, row_count: 1 });
    expect(harness.server.requests.at(-1)!.body).toEqual({
      source_replacement: {
        previous_source_id: "source-a",
        new_source_id: "source-b",
        reason: "history_pruned",
      },
    });
  });

  it("refuses a session whose byte_count is missing", async () => {
    harness.backend.override(
      "snapshotCreate",
      () => () =>
        jsonReply({
          snapshot_id: "s",
          snapshot_bundle_seq: 1,
          row_count: 1,
          expires_at: "2099-01-01T00:00:00Z",
        }),
    );
    await expect(harness.transport.createSnapshotSession()).rejects.toMatchObject({
      code: "invalid_snapshot_session",
    });
  });
});
