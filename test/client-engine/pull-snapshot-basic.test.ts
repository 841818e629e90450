/**
 * Runs `pull-snapshot/basic.json` through the engine (the protocol suite decodes the same bodies):
 * the fake server serves each case's pull page, history error, snapshot session and chunk, and the
 * client either reaches `expectedFinalState` or fails with the expected fragment while its state
 * stays as it was.
 *
 * - pull cases: an attached client (checkpoint at `afterBundleSeq`) runs pullToStable; a case with
 *   both a pull page and a snapshot is also restored by rebuild() on a fresh client;
 * - history_pruned / checkpoint_ahead: the pull answer switches to the snapshot;
 * - snapshot cases: rebuild() on an attached client;
 * - source replacement: the client enters source recovery from a `source_retired` push answer
 *   naming the replacement, then rebuild() must send the fixture's create request; an invalid
 *   replacement answer leaves the recovery in place.
 */
import { describe, expect } from "vitest";
import type { SyncClient } from "@oversync/client";
import { jsonReply, statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type EngineHarness, scalar, scalarText, startEngineHarness } from "./engine-harness.js";
import { outcomeOf } from "./fixture-support.js";

type Json = Record<string, unknown>;

interface PullSnapshotCase {
  name: string;
  afterBundleSeq?: number;
  pullResponse?: Json;
  snapshotSession?: Json;
  snapshotChunkResponse?: Json;
  snapshotSessionCreateRequest?: {
    source_replacement: { previous_source_id: string; new_source_id: string; reason: string };
  };
  historyPrunedResponse?: { status: number; body: Json };
  checkpointAheadResponse?: { status: number; body: Json };
  sourceReplacementInvalidResponse?: { status: number; body: Json };
  expectedFinalState?: {
    lastBundleSeqSeen?: number;
    usersRowCount?: number;
    rowStateDeleted?: number;
    dirtyRowCount?: number;
    rebuildRequired?: boolean;
    currentSourceId?: string;
    rebuildRejected?: boolean;
  };
  expectedPullErrorContains?: string;
  expectedSnapshotSessionErrorContains?: string;
  expectedSnapshotChunkErrorContains?: string;
}

const FILE = "pull-snapshot/basic.json";
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("pull and snapshot basic fixtures (engine)", () => {
  const cases = available ? readContract<{ cases: PullSnapshotCase[] }>(FILE).cases : [];
  for (const fixture of cases) tally.it(FILE, `${FILE} ${fixture.name}`, () => runCase(fixture));
});

async function runCase(fixture: PullSnapshotCase): Promise<void> {
  if (fixture.snapshotSessionCreateRequest || fixture.sourceReplacementInvalidResponse) {
    return runSourceReplacement(fixture);
  }
  if (fixture.pullResponse) {
    await withAttached(fixture, async (harness, client) => {
      const { error } = await outcomeOf(() => client.pullToStable());
      await expectOutcome(harness, fixture, error, fixture.expectedPullErrorContains);
    });
  }
  const snapshotError =
    fixture.expectedSnapshotSessionErrorContains ?? fixture.expectedSnapshotChunkErrorContains;
  if (fixture.snapshotSession && !fixture.historyPrunedResponse && !fixture.checkpointAheadResponse) {
    await withAttached(fixture, async (harness, client) => {
      const { error } = await outcomeOf(() => client.rebuild());
      await expectOutcome(harness, fixture, error, snapshotError);
    });
  }
  const fallback = fixture.historyPrunedResponse ?? fixture.checkpointAheadResponse;
  if (fallback) {
    await withAttached(fixture, async (harness, client) => {
      harness.backend.override("pull", () => (request) => {
        expect(request.query.after_bundle_seq).toBe(String(fixture.afterBundleSeq ?? 0));
        return statusReply(fallback.status, fallback.body);
      });
      const report = await client.pullToStable();
      expect(report.outcome).toBe("applied_snapshot");
      await expectOutcome(harness, fixture, undefined, undefined);
    });
  }
}

/** A client attached to a fresh account with the checkpoint at `afterBundleSeq`, the case's bodies served. */
async function withAttached(
  fixture: PullSnapshotCase,
  run: (harness: EngineHarness, client: SyncClient) => Promise<void>,
  options: { generateSourceId?: () => string } = {},
): Promise<void> {
  const harness = await startEngineHarness({ client: options });
  try {
    serveBodies(harness, fixture);
    await harness.client.open();
    await harness.client.attach("user-1");
    if (fixture.afterBundleSeq) {
      await harness.execute([
        `UPDATE _sync_attachment_state SET last_bundle_seq_seen = ${fixture.afterBundleSeq}`,
      ]);
    }
    await run(harness, harness.client);
  } finally {
    await harness.close();
  }
}

function serveBodies(harness: EngineHarness, fixture: PullSnapshotCase): void {
  const { backend } = harness;
  if (fixture.pullResponse) {
    const page = fixture.pullResponse;
    backend.override("pull", () => () => jsonReply(page));
  }
  if (fixture.snapshotSession) {
    const session = fixture.snapshotSession;
    backend.override("snapshotCreate", () => () => jsonReply(session));
  }
  const chunk = fixture.snapshotChunkResponse;
  backend.override(
    "snapshotChunk",
    () => () =>
      chunk
        ? jsonReply(chunk)
        : statusReply(404, { error: "snapshot_session_not_found", message: "no chunk" }),
  );
}

/** Either the final state, or the error fragment with the client's state unchanged. */
async function expectOutcome(
  harness: EngineHarness,
  fixture: PullSnapshotCase,
  error: unknown,
  errorFragment: string | undefined,
): Promise<void> {
  if (errorFragment !== undefined) {
    expect(error, fixture.name).toBeInstanceOf(Error);
    expect((error as Error).message, fixture.name).toContain(errorFragment);
    expect(await scalar(harness, "SELECT last_bundle_seq_seen FROM _sync_attachment_state")).toBe(
      fixture.afterBundleSeq ?? 0,
    );
    expect(await scalar(harness, "SELECT count(*) FROM users")).toBe(0);
    expect(await scalar(harness, "SELECT count(*) FROM _sync_row_state")).toBe(0);
    return;
  }
  expect(error, fixture.name).toBeUndefined();
  const expected = fixture.expectedFinalState ?? {};
  const actual: Record<string, unknown> = {};
  if (expected.lastBundleSeqSeen !== undefined) {
    actual.lastBundleSeqSeen = await scalar(
      harness,
      "SELECT last_bundle_seq_seen FROM _sync_attachment_state",
    );
  }
  if (expected.usersRowCount !== undefined)
    actual.usersRowCount = await scalar(harness, "SELECT count(*) FROM users");
  if (expected.rowStateDeleted !== undefined) {
    actual.rowStateDeleted = await scalar(harness, "SELECT deleted FROM _sync_row_state");
  }
  if (expected.dirtyRowCount !== undefined) {
    actual.dirtyRowCount = await scalar(harness, "SELECT count(*) FROM _sync_dirty_rows");
  }
  if (expected.rebuildRequired !== undefined) {
    actual.rebuildRequired =
      (await scalar(harness, "SELECT rebuild_required FROM _sync_attachment_state")) === 1;
  }
  if (expected.currentSourceId !== undefined) {
    actual.currentSourceId = await scalarText(
      harness,
      "SELECT current_source_id FROM _sync_attachment_state",
    );
  }
  expect(actual, fixture.name).toEqual(expected);
}

/** Enters source recovery through a `source_retired` push answer, then rebuilds. */
async function runSourceReplacement(fixture: PullSnapshotCase): Promise<void> {
  const replacement = fixture.snapshotSessionCreateRequest?.source_replacement;
  await withAttached(
    fixture,
    async (harness, client) => {
      harness.backend.override(
        "pushCreate",
        () => (request) =>
          statusReply(409, {
            error: "source_retired",
            message: "source retired",
            source_id: request.sourceId,
            ...(replacement ? { replaced_by_source_id: replacement.new_source_id } : {}),
          }),
      );
      if (fixture.sourceReplacementInvalidResponse) {
        const { status, body } = fixture.sourceReplacementInvalidResponse;
        harness.backend.override("snapshotCreate", () => () => statusReply(status, body));
      }
      await harness.execute(["INSERT INTO users(id, name) VALUES('local-1', 'Local')"]);
      await expect(client.pushPending()).rejects.toMatchObject({
        code: "source_recovery_required",
        reason: "source_retired",
      });
      const { error } = await outcomeOf(() => client.rebuild());
      const create = harness.server.requestsTo("snapshotCreate")[0];
      if (replacement)
        expect(create?.body, "snapshot create request").toEqual(fixture.snapshotSessionCreateRequest);
      if (fixture.expectedFinalState?.rebuildRejected) {
        expect(error).toMatchObject({
          code: "source_replacement_refused",
          cause: { code: "source_replacement_invalid" },
        });
        expect(await scalarText(harness, "SELECT kind FROM _sync_operation_state")).toBe("source_recovery");
        expect(await scalar(harness, "SELECT rebuild_required FROM _sync_attachment_state")).toBe(1);
        expect(await scalar(harness, "SELECT count(*) FROM _sync_outbox_rows")).toBe(1);
        return;
      }
      await expectOutcome(harness, fixture, error, undefined);
    },
    { generateSourceId: sourceIds(replacement?.previous_source_id ?? "retired-source") },
  );
}

/** `first`, then distinct fresh ids (a reserved replacement must differ from the current source). */
function sourceIds(first: string): () => string {
  let calls = 0;
  return () => (calls++ === 0 ? first : `fresh-replacement-${calls}`);
}
