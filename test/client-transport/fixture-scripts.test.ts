/**
 * The fake server's fixture scripts: every `serverScript` in the client behaviour fixtures is
 * accepted, and each kind behaves, seen through the real transport, as the fixtures need.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { SyncTransport } from "../../packages/client/src/transport/sync-transport.js";
import { withCommittedBundleNotFoundRetry } from "../../packages/client/src/transport/retry-policy.js";
import {
  type CommittedBundleIdentity,
  HttpStatusError,
  OversyncError,
  ProtocolViolationError,
  type SnapshotChunk,
  type SnapshotSession,
  bundleHash,
  canonicalRequestHash,
  supportsBundleChangeWatch,
} from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { fakeRetryClock } from "../client-support/fake-retry-clock.js";
import { type ServerScript, applyServerScript } from "../client-support/fixture-scripts.js";
import { contractsDir, fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type TransportHarness, startTransportHarness } from "./transport-harness.js";

interface ScriptedCase {
  readonly name: string;
  readonly serverScript?: ServerScript;
}

const BEHAVIOUR_DIRS = ["push/behavior", "lifecycle/behavior", "pull-snapshot/behavior", "watch/behavior"];
const available = requireContracts();

/** Every fixture case that carries a serverScript, with the file it comes from. */
function scriptedCases(): { file: string; fixture: ScriptedCase }[] {
  if (!available) return [];
  const files = [
    ...BEHAVIOUR_DIRS.flatMap((dir) =>
      readdirSync(join(contractsDir, dir))
        .filter((name) => name.endsWith(".json"))
        .map((name) => `${dir}/${name}`),
    ),
    "runtime-state/transitions/basic.json",
  ];
  return files.flatMap((file) =>
    readContract<{ cases: ScriptedCase[] }>(file)
      .cases.filter((fixture) => fixture.serverScript !== undefined)
      .map((fixture) => ({ file, fixture })),
  );
}

const cases = scriptedCases();
const byKind = (kind: string) => cases.filter(({ fixture }) => fixture.serverScript!.kind === kind);
const scriptOf = (kind: string, name?: string): ServerScript =>
  (name ? cases.find(({ fixture }) => fixture.name === name) : byKind(kind)[0])!.fixture.serverScript!;

const tally = fixtureTally();

let harness: TransportHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(script: ServerScript, onPull?: (index: number) => void) {
  harness = await startTransportHarness({ sourceId: "source-fixture" });
  const controls = applyServerScript(harness.backend, script, onPull ? { onPull } : {});
  return { ...harness, controls };
}

const USERS = [
  {
    schema: "main",
    table: "users",
    key: { id: "user-1" },
    op: "INSERT",
    base_row_version: 0,
    payload: { id: "user-1", name: "Ada" },
  },
  {
    schema: "main",
    table: "users",
    key: { id: "user-2" },
    op: "INSERT",
    base_row_version: 0,
    payload: { id: "user-2", name: "Grace" },
  },
] as const;

/** Creates a session for `rows`, uploads them in one chunk, and returns what commit needs. */
async function stage(
  transport: SyncTransport,
  rows: readonly (typeof USERS)[number][] = USERS,
  sourceBundleId = 1,
) {
  const hash = canonicalRequestHash(rows);
  const created = await transport.createPushSession({
    sourceBundleId,
    plannedRowCount: rows.length,
    canonicalRequestHash: hash,
  });
  if (created.status !== "staging") throw new Error(`expected staging, got ${created.status}`);
  await transport.uploadPushChunk({ pushId: created.push_id, startRowOrdinal: 0, rows });
  return { pushId: created.push_id, hash };
}

async function pushAndCommit(
  transport: SyncTransport,
  rows: readonly (typeof USERS)[number][] = USERS,
  sourceBundleId = 1,
) {
  const { pushId } = await stage(transport, rows, sourceBundleId);
  return transport.commitPushSession({ pushId, sourceBundleId });
}

async function allRows(transport: SyncTransport, committed: CommittedBundleIdentity) {
  return (await transport.fetchCommittedRows({ committed, maxRows: 100 })).rows;
}

/** Fetches a session's chunks until has_more is false. */
async function allChunks(transport: SyncTransport, session: SnapshotSession): Promise<SnapshotChunk[]> {
  const chunks: SnapshotChunk[] = [];
  let afterRowOrdinal = 0;
  let bytesBefore = 0;
  for (;;) {
    const chunk = await transport.fetchSnapshotChunk({
      session,
      afterRowOrdinal,
      bytesBefore,
      maxRows: 1000,
      maxBytes: 1 << 22,
    });
    chunks.push(chunk);
    afterRowOrdinal = chunk.next_row_ordinal;
    bytesBefore += chunk.byte_count;
    if (!chunk.has_more) return chunks;
  }
}

describe.skipIf(!available)("every fixture serverScript is accepted", () => {
  for (const { file, fixture } of cases) {
    tally.it("fixture serverScripts", `${file} ${fixture.name} (${fixture.serverScript!.kind})`, () =>
      start(fixture.serverScript!),
    );
  }
});

describe.skipIf(!available)("push scripts", () => {
  it("echo_committed_rows: the commit's rows come back with the bundle hash", async () => {
    const { transport } = await start(scriptOf("echo_committed_rows"));
    const commit = await pushAndCommit(transport);
    const rows = await allRows(transport, commit);
    expect(rows.map((row) => row.key.id)).toEqual(["user-1", "user-2"]);
    expect(bundleHash(rows)).toBe(commit.bundle_hash);
  });

  it("committed_bundle_seq_gap: the bundle gets the scripted seq", async () => {
    const script = scriptOf("committed_bundle_seq_gap");
    const { transport } = await start(script);
    expect((await pushAndCommit(transport)).bundle_seq).toBe(script.bundleSeq);
  });

  it("committed_replay_first_fetch_http_error: the first committed-rows fetch fails with 500", async () => {
    const { transport } = await start(scriptOf("committed_replay_first_fetch_http_error"));
    const commit = await pushAndCommit(transport);
    await expect(allRows(transport, commit)).rejects.toMatchObject({ name: "HttpStatusError", status: 500 });
    expect(await allRows(transport, commit)).toHaveLength(2);
  });

  it("committed_replay_pruned: the first committed-rows fetch is history_pruned", async () => {
    const { transport } = await start(scriptOf("committed_replay_pruned"));
    const commit = await pushAndCommit(transport);
    await expect(allRows(transport, commit)).rejects.toMatchObject({ code: "history_pruned", status: 409 });
  });

  it("committed_replay_bad_bundle_hash: the served hash does not match the rows", async () => {
    const { transport } = await start(scriptOf("committed_replay_bad_bundle_hash"));
    const commit = await pushAndCommit(transport);
    expect(commit.bundle_hash).toBe("bad-hash");
    expect(bundleHash(await allRows(transport, commit))).not.toBe(commit.bundle_hash);
  });

  it("committed_bundle_not_found_then_success: 404s first, then the rows", async () => {
    const script = scriptOf("committed_bundle_not_found_then_success");
    const { transport, server } = await start(script);
    const commit = await pushAndCommit(transport);
    const clock = fakeRetryClock();
    const rows = await withCommittedBundleNotFoundRetry(() => allRows(transport, commit), {
      operation: "replay",
      clock,
    });
    expect(rows).toHaveLength(2);
    expect(server.requestsTo("committedRows")).toHaveLength((script.notFoundCount as number) + 1);
  });

  it("precommit_retry: the first commit fails with 500 and the session stays committable", async () => {
    const { transport } = await start(scriptOf("precommit_retry"));
    const { pushId } = await stage(transport);
    await expect(transport.commitPushSession({ pushId, sourceBundleId: 1 })).rejects.toBeInstanceOf(
      HttpStatusError,
    );
    expect((await transport.commitPushSession({ pushId, sourceBundleId: 1 })).row_count).toBe(2);
  });

  it("conflict_once: one push_conflict carrying the scripted conflict, then commits succeed", async () => {
    const script = scriptOf("conflict_once", "deleted-authoritative-invalid-resolver-restores-dirty-rows");
    const { transport } = await start(script);
    const failure = await pushAndCommit(transport).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OversyncError);
    expect(failure).toMatchObject({ code: "push_conflict", extras: { conflict: script.conflict } });
    expect((await pushAndCommit(transport)).row_count).toBe(2);
  });

  it("conflict_once: a conflict that breaks the protocol is sent as written", async () => {
    const { transport } = await start(scriptOf("conflict_once", "hidden-scope-conflict-row-is-rejected"));
    await expect(pushAndCommit(transport)).rejects.toBeInstanceOf(ProtocolViolationError);
  });

  it("conflict_once_on_row_count: only a bundle of the scripted size conflicts", async () => {
    const script = scriptOf("conflict_once_on_row_count");
    expect(script.rowCount).toBe(2);
    const { transport } = await start(script);
    expect((await pushAndCommit(transport, USERS.slice(0, 1))).row_count).toBe(1);
    await expect(pushAndCommit(transport, USERS, 2)).rejects.toMatchObject({ code: "push_conflict" });
  });

  it("already_committed_rows: the create answers already_committed with the scripted rows", async () => {
    const script = scriptOf("already_committed_rows", "committed-replay-applies-real-value");
    const { transport } = await start(script);
    const created = await transport.createPushSession({
      sourceBundleId: 1,
      plannedRowCount: 1,
      canonicalRequestHash: "c".repeat(64),
    });
    expect(created).toMatchObject({
      status: "already_committed",
      bundle_seq: 1,
      source_id: "source-fixture",
    });
    if (created.status !== "already_committed") return;
    const rows = await allRows(transport, created);
    expect(rows).toEqual(script.committedRows);
    expect(bundleHash(rows)).toBe(created.bundle_hash);
  });

  it("already_committed_request_hash_mismatch: the stored request hash differs", async () => {
    const { transport } = await start(scriptOf("already_committed_request_hash_mismatch"));
    await expect(
      transport.createPushSession({
        sourceBundleId: 1,
        plannedRowCount: 1,
        canonicalRequestHash: "c".repeat(64),
      }),
    ).rejects.toMatchObject({ code: "source_sequence_mismatch" });
  });

  it("committed_remote_request_hash_mismatch: the commit matches, the committed rows do not", async () => {
    const { transport } = await start(scriptOf("committed_remote_request_hash_mismatch"));
    const { pushId, hash } = await stage(transport);
    const commit = await transport.commitPushSession({ pushId, sourceBundleId: 1 });
    expect(commit.canonical_request_hash).toBe(hash);
    await expect(allRows(transport, commit)).rejects.toMatchObject({ code: "source_sequence_mismatch" });
  });

  it("source_retired_on_push_create: the create is refused naming the replacement", async () => {
    const script = scriptOf("source_retired_on_push_create");
    const { transport } = await start(script);
    await expect(
      transport.createPushSession({
        sourceBundleId: 1,
        plannedRowCount: 1,
        canonicalRequestHash: "c".repeat(64),
      }),
    ).rejects.toMatchObject({
      code: "source_retired",
      extras: { source_id: "source-fixture", replaced_by_source_id: script.replacementSourceId },
    });
  });
});

describe.skipIf(!available)("pull and snapshot scripts", () => {
  it("pull_sequence: pages are served in order", async () => {
    const script = scriptOf("pull_sequence");
    const { transport } = await start(script);
    const first = await transport.pull({ afterBundleSeq: 0, maxBundles: 1000 });
    expect(first).toEqual((script.responses as unknown[])[0]);
    // The second page changes stable under a frozen target: the decoder refuses it, as the fixture expects.
    await expect(
      transport.pull({ afterBundleSeq: 1, maxBundles: 1000, targetBundleSeq: first.stable_bundle_seq }),
    ).rejects.toBeInstanceOf(ProtocolViolationError);
  });

  it("pull_incremental_*: the scripted page is served", async () => {
    for (const kind of ["pull_incremental_bundles", "pull_incremental_users"]) {
      const script = scriptOf(kind);
      const { transport } = await start(script);
      expect(await transport.pull({ afterBundleSeq: 0, maxBundles: 1000 })).toEqual(script.response);
      await harness!.close();
      harness = undefined;
    }
  });

  for (const { fixture } of available ? byKind("snapshot_sequence") : []) {
    it(`snapshot_sequence ${fixture.name}: bodies served verbatim keep their byte counts`, async () => {
      const script = fixture.serverScript!;
      const { transport } = await start(script);
      const sessions = script.sessions as SnapshotSession[];
      const chunks = script.chunks as Record<string, Record<string, { status?: number; rows?: unknown[] }>>;
      for (const expected of sessions) {
        const session = await transport.createSnapshotSession();
        expect(session).toEqual(expected);
        const scripted = Object.values(chunks[session.snapshot_id]!);
        const failure = scripted.find((chunk) => chunk.status !== undefined);
        const scriptedRows = scripted.reduce((sum, chunk) => sum + (chunk.rows?.length ?? 0), 0);
        const fetched = allChunks(transport, session);
        if (failure) await expect(fetched).rejects.toMatchObject({ status: failure.status });
        // The transport serves what the server sent; comparing the row total with the session's
        // row_count is the engine's job (test/client-engine pull-snapshot runners check it).
        else expect((await fetched).flatMap((chunk) => chunk.rows)).toHaveLength(scriptedRows);
      }
    });
  }

  it("snapshot_rebuild: scripted rows are chunked with exact byte counts", async () => {
    const script = scriptOf("snapshot_rebuild", "rebuild-required-restart-keep-source");
    const { transport } = await start(script);
    const session = await transport.createSnapshotSession();
    expect(session).toMatchObject({
      snapshot_id: "snapshot-generic-rebuild",
      snapshot_bundle_seq: 7,
      row_count: 1,
    });
    const [chunk] = await allChunks(transport, session);
    expect(chunk!.rows).toEqual([
      {
        schema: "main",
        table: "users",
        key: { id: "user-1" },
        row_version: 3,
        payload: { id: "user-1", name: "Generic Rebuild" },
      },
    ]);
  });

  it("snapshot_rebuild: snapshot create errors name the requesting source", async () => {
    const { transport } = await start(
      scriptOf("snapshot_rebuild", "source-recovery-divergent-remote-replacement-fails-closed"),
    );
    await expect(transport.createSnapshotSession()).rejects.toMatchObject({
      code: "source_retired",
      extras: { source_id: "source-fixture", replaced_by_source_id: "replacement-b" },
    });
  });

  it("remote_authoritative_partial_snapshot: one row per chunk, a failure after the first, then the next session", async () => {
    const script = scriptOf(
      "remote_authoritative_partial_snapshot",
      "remote-authoritative-partial-replace-restart-restages",
    );
    const { transport } = await start(script);
    expect((await transport.connect({ hasLocalPendingRows: false })).resolution).toBe("remote_authoritative");
    const first = await transport.createSnapshotSession();
    expect(first.snapshot_id).toBe("snapshot-a");
    await expect(allChunks(transport, first)).rejects.toMatchObject({ status: 500 });
    const chunk = await transport.fetchSnapshotChunk({
      session: first,
      afterRowOrdinal: 0,
      bytesBefore: 0,
      maxRows: 1000,
      maxBytes: 1 << 22,
    });
    expect(chunk.rows).toHaveLength(1);
    const second = await transport.createSnapshotSession();
    expect(second.snapshot_id).toBe("snapshot-b");
    expect((await allChunks(transport, second)).flatMap((each) => each.rows)).toHaveLength(1);
  });

  it("protocol-gates: capabilities answer with the scripted versions in turn", async () => {
    const { transport } = await start(
      scriptOf("chunked_sync", "sync-then-detach-protocol-mismatch-preserves-dirty-state"),
    );
    await transport.capabilities();
    await expect(transport.capabilities()).rejects.toMatchObject({ code: "protocol_version_mismatch" });
  });

  it("chunked_sync: the runner's hook runs before each pull", async () => {
    const pulls: number[] = [];
    const { transport } = await start(
      scriptOf("chunked_sync", "sync-then-detach-late-write-second-round"),
      (index) => {
        pulls.push(index);
      },
    );
    await transport.pull({ afterBundleSeq: 0, maxBundles: 1000 });
    await transport.pull({ afterBundleSeq: 0, maxBundles: 1000 });
    expect(pulls).toEqual([0, 1]);
  });
});

describe.skipIf(!available)("watch scripts", () => {
  it("non_ok_watch_response: the watch setup fails with the scripted status", async () => {
    const { transport } = await start(scriptOf("non_ok_watch_response"));
    await expect(transport.watch({ afterBundleSeq: 0 })).rejects.toMatchObject({
      code: "bundle_change_watch_disabled",
      status: 503,
    });
    expect((await transport.pull({ afterBundleSeq: 0, maxBundles: 10 })).bundles).toHaveLength(1);
  });

  it("watch_lines: the lines are streamed and the stream ends; the next watch is live", async () => {
    const { transport, backend } = await start(
      scriptOf("watch_lines", "reconnect-uses-durable-last-bundle-seq"),
    );
    const events = [];
    for await (const event of await transport.watch({ afterBundleSeq: 0 })) events.push(event);
    expect(events).toEqual([{ bundle_seq: 1, source_id: "remote-source", source_bundle_id: 1 }]);
    const live = await transport.watch({ afterBundleSeq: 1 });
    const iterator = live[Symbol.asyncIterator]();
    backend.appendBundle({ rows: [] });
    expect((await iterator.next()).value).toMatchObject({ bundle_seq: 2 });
    live.close();
  });

  it("hold_watch_open with wakeBundles: delivering them wakes the open stream", async () => {
    const { transport, server, controls } = await start(
      scriptOf("hold_watch_open", "server-originated-write-wakeup-pulls-authoritatively"),
    );
    const stream = await transport.watch({ afterBundleSeq: 0 });
    expect(server.openStreams()).toHaveLength(1);
    const iterator = stream[Symbol.asyncIterator]();
    const [bundle] = controls.deliverWakeBundles();
    expect((await iterator.next()).value).toEqual({
      bundle_seq: bundle!.bundle_seq,
      source_id: "remote-source",
      source_bundle_id: 1,
    });
    stream.close();
    const page = await transport.pull({ afterBundleSeq: 0, maxBundles: 10 });
    expect(page.bundles[0]!.rows[0]).toMatchObject({ key: { id: "u1" }, payload: { id: "u1", name: "Ada" } });
  });

  it("unsupported_capability: the server does not advertise the watch", async () => {
    const { transport } = await start(scriptOf("unsupported_capability"));
    expect(supportsBundleChangeWatch(await transport.capabilities())).toBe(false);
  });
});
