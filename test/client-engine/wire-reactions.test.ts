/**
 * The wire-reaction switch against the engine: for representative codes, the real client meets the
 * code on the request it answers and does what `wireReaction` says. push_conflict (resolve_conflict)
 * is covered by conflicts.test.ts, source_replacement_invalid (keep_recovery) by the
 * pull-snapshot fixtures and bundle_change_watch_forbidden (poll) by automatic-downloads.test.ts.
 */
import { SourceRecoveryRequiredError, TRANSIENT_RETRY_POLICY, isSyncClientError } from "@oversync/client";
import { type ErrorCode, OversyncError, type SyncEndpointName } from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  type WireReaction,
  type WireRequest,
  wireReaction,
} from "../../packages/client/src/engine/wire-reactions.js";
import type { FakeSyncBackendOptions } from "../client-support/fake-sync-backend.js";
import { type FakeRetryClock, fakeRetryClock } from "../client-support/fake-retry-clock.js";
import { errorReply, failFirst } from "../client-support/scripted-replies.js";
import { type EngineHarness, scalar, scalarText, startEngineHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** An attached client with the default transient policy on a fake clock. */
async function attached(
  backend?: FakeSyncBackendOptions,
): Promise<{ h: EngineHarness; clock: FakeRetryClock }> {
  const clock = fakeRetryClock();
  harness = await startEngineHarness({
    backend,
    client: { transientRetryPolicy: TRANSIENT_RETRY_POLICY, retryClock: clock },
  });
  await harness.client.open();
  await harness.client.attach("user-1");
  return { h: harness, clock };
}

/** Answers the first call of `route` with `code` (source_retired names the request's source). */
function failOnce(h: EngineHarness, route: SyncEndpointName, code: ErrorCode): void {
  h.backend.override(route, (next) =>
    failFirst(
      1,
      (request) =>
        errorReply(
          code,
          `scripted ${code}`,
          code === "source_retired" ? { source_id: request.sourceId } : undefined,
        ),
      next,
    ),
  );
}

function calls(h: EngineHarness, route: SyncEndpointName): number {
  return h.server.requestsTo(route).length;
}

function remoteRow(h: EngineHarness): void {
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
}

interface ReactionCase {
  readonly code: ErrorCode;
  readonly request: WireRequest;
  readonly reaction: WireReaction;
  /** Meets `code` on `request` through the client and checks what the engine did. */
  readonly check: () => Promise<void>;
}

const CASES: readonly ReactionCase[] = [
  {
    code: "push_chunk_failed",
    request: "push",
    reaction: "retry",
    check: async () => {
      const { h, clock } = await attached();
      await h.execute(["INSERT INTO users(id, name) VALUES('local', 'L')"]);
      failOnce(h, "pushChunk", "push_chunk_failed");
      expect((await h.client.pushPending()).outcome).toBe("committed");
      expect(calls(h, "pushChunk")).toBe(2);
      expect(clock.sleeps).toEqual([150]);
    },
  },
  {
    code: "snapshot_build_capacity",
    request: "snapshot",
    reaction: "wait_for_capacity",
    check: async () => {
      const { h, clock } = await attached();
      h.backend.override("snapshotCreate", (next) =>
        failFirst(1, errorReply("snapshot_build_capacity", "busy", undefined, { "Retry-After": "3" }), next),
      );
      expect((await h.client.rebuild()).outcome).toBe("applied_snapshot");
      expect(calls(h, "snapshotCreate")).toBe(2);
      expect(clock.sleeps).toEqual([3000]);
    },
  },
  {
    code: "committed_bundle_not_found",
    request: "committed_rows",
    reaction: "refetch",
    check: async () => {
      const { h, clock } = await attached();
      await h.execute(["INSERT INTO users(id, name) VALUES('local', 'L')"]);
      failOnce(h, "committedRows", "committed_bundle_not_found");
      expect((await h.client.pushPending()).outcome).toBe("committed");
      expect(calls(h, "committedRows")).toBe(2);
      expect(calls(h, "pushCreate")).toBe(1);
      expect(clock.sleeps).toEqual([75]);
    },
  },
  {
    code: "snapshot_session_expired",
    request: "snapshot",
    reaction: "replace_snapshot_session",
    check: async () => {
      const { h } = await attached();
      remoteRow(h);
      failOnce(h, "snapshotChunk", "snapshot_session_expired");
      expect((await h.client.rebuild()).outcome).toBe("applied_snapshot");
      expect(calls(h, "snapshotCreate")).toBe(2);
      expect(await h.query("SELECT id FROM users")).toEqual([{ id: "remote" }]);
    },
  },
  ...(["source_retired", "history_pruned"] as const).map(
    (code): ReactionCase => ({
      code,
      request: "push",
      reaction: "recover_source",
      check: async () => {
        const { h } = await attached();
        await h.execute(["INSERT INTO users(id, name) VALUES('local', 'L')"]);
        failOnce(h, "pushCreate", code);
        const error = await h.client.pushPending().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(SourceRecoveryRequiredError);
        expect(error).toMatchObject({ code: "source_recovery_required", reason: code });
        expect(await scalarText(h, "SELECT kind FROM _sync_operation_state")).toBe("source_recovery");
        expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(1);
      },
    }),
  ),
  ...(["history_pruned", "checkpoint_ahead"] as const).map(
    (code): ReactionCase => ({
      code,
      request: "pull",
      reaction: "rebuild",
      check: async () => {
        const { h } = await attached();
        remoteRow(h);
        failOnce(h, "pull", code);
        expect((await h.client.pullToStable()).outcome).toBe("applied_snapshot");
        expect(calls(h, "snapshotCreate")).toBe(1);
        expect(await h.query("SELECT id FROM users")).toEqual([{ id: "remote" }]);
        expect(await scalar(h, "SELECT rebuild_required FROM _sync_attachment_state")).toBe(0);
      },
    }),
  ),
  {
    code: "push_chunk_invalid",
    request: "push",
    reaction: "reject_change",
    check: async () => {
      const { h } = await attached();
      await h.execute(["INSERT INTO users(id, name) VALUES('refused', 'R')"]);
      failOnce(h, "pushChunk", "push_chunk_invalid");
      expect((await h.client.pushPending()).outcome).toBe("no_change");
      const rejected = await h.client.rejectedChanges();
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ table: "users", key: "refused", code: "push_chunk_invalid" });
    },
  },
  {
    code: "initialization_stale",
    request: "push",
    reaction: "reattach",
    check: async () => {
      const { h } = await attached({ connectResolution: "initialize_local" });
      await h.execute(["INSERT INTO users(id, name) VALUES('seed', 'S')"]);
      failOnce(h, "pushCreate", "initialization_stale");
      const error = await h.client.pushPending().catch((caught: unknown) => caught);
      expect(error).toMatchObject({
        code: "initialization_lease_invalid",
        cause: { code: "initialization_stale" },
      });
      expect(await scalarText(h, "SELECT binding_state FROM _sync_attachment_state")).toBe("anonymous");
      expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(1);
    },
  },
  {
    code: "push_session_forbidden",
    request: "push",
    reaction: "surface",
    check: async () => {
      const { h, clock } = await attached();
      await h.execute(["INSERT INTO users(id, name) VALUES('local', 'L')"]);
      failOnce(h, "pushCreate", "push_session_forbidden");
      const error = await h.client.pushPending().catch((caught: unknown) => caught);
      expect(isSyncClientError(error)).toBe(true);
      expect(error).toBeInstanceOf(OversyncError);
      expect(error).toMatchObject({ code: "push_session_forbidden", status: 403 });
      expect(clock.sleeps).toEqual([]);
      expect(await scalar(h, "SELECT count(*) FROM _sync_outbox_rows")).toBe(1);
      expect((await h.client.pushPending()).outcome).toBe("committed");
    },
  },
];

describe("wire reactions through the engine", () => {
  it.each(CASES.map((testCase) => [`${testCase.code} on ${testCase.request}`, testCase] as const))(
    "%s",
    async (_name, testCase) => {
      expect(wireReaction(testCase.code, testCase.request)).toBe(testCase.reaction);
      await testCase.check();
    },
  );
});
