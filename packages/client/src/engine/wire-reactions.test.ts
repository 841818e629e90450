/**
 * The wire-reaction switch at run time: every code has a reaction on every request, and the
 * reactions agree with the facts the engine's other rules rest on (the transient rule's 5xx, the
 * transport's capacity codes, the source-recovery reasons). test/client-engine/wire-reactions.test.ts
 * drives representative codes through the engine.
 */
import {
  ERROR_CODES,
  ERROR_STATUS,
  type ErrorCode,
  OversyncError,
  type OversyncErrorExtras,
  SNAPSHOT_CAPACITY_ERROR_CODES,
  SOURCE_REPLACEMENT_REASONS,
} from "@oversync/protocol";
import { describe, expect, expectTypeOf, it } from "vitest";
import { isTransientFailure } from "../transport/retry-policy.js";
import { type WireReaction, type WireRequest, wireReaction } from "./wire-reactions.js";

const REACTIONS = [
  "retry",
  "wait_for_capacity",
  "refetch",
  "replace_snapshot_session",
  "recover_source",
  "rebuild",
  "resolve_conflict",
  "reject_change",
  "reattach",
  "keep_recovery",
  "poll",
  "surface",
] as const satisfies readonly WireReaction[];
const REQUESTS = [
  "push",
  "committed_rows",
  "pull",
  "snapshot",
  "watch",
] as const satisfies readonly WireRequest[];

/** The extras a wire code cannot be sent without. */
const REQUIRED_EXTRAS: { readonly [C in ErrorCode]?: OversyncErrorExtras } = {
  source_retired: { source_id: "source-1" },
  snapshot_session_limit_exceeded: { dimension: "row_count", actual: 2, limit: 1 },
  snapshot_chunk_too_small: { required_byte_count: 1 },
};

/** The codes whose reaction on `request` is `reaction`, in ERROR_CODES order. */
function codesReacting(reaction: WireReaction, request: WireRequest): ErrorCode[] {
  return ERROR_CODES.filter((code) => wireReaction(code, request) === reaction);
}

describe("wire reactions", () => {
  it("give every code a reaction on every request", () => {
    expectTypeOf<(typeof REACTIONS)[number]>().toEqualTypeOf<WireReaction>();
    expectTypeOf<(typeof REQUESTS)[number]>().toEqualTypeOf<WireRequest>();
    for (const request of REQUESTS) {
      for (const code of ERROR_CODES)
        expect(REACTIONS, `${code} on ${request}`).toContain(wireReaction(code, request));
    }
  });

  it("vary by request only for history_pruned", () => {
    for (const code of ERROR_CODES) {
      const reactions = new Set(REQUESTS.map((request) => wireReaction(code, request)));
      expect(reactions.size, code).toBe(code === "history_pruned" ? 2 : 1);
    }
    expect(REQUESTS.map((request) => [request, wireReaction("history_pruned", request)])).toEqual([
      ["push", "recover_source"],
      ["committed_rows", "rebuild"],
      ["pull", "rebuild"],
      ["snapshot", "recover_source"],
      ["watch", "rebuild"],
    ]);
  });

  it("retry exactly the answers the transient policy reruns (the 5xx codes)", () => {
    for (const code of ERROR_CODES) {
      const retried = wireReaction(code, "pull") === "retry";
      expect(retried, code).toBe(ERROR_STATUS[code] >= 500);
      expect(isTransientFailure(new OversyncError(code, "m", { extras: REQUIRED_EXTRAS[code] })), code).toBe(
        retried,
      );
    }
  });

  it("wait for capacity on the codes the transport types as SnapshotCapacityError", () => {
    expect(codesReacting("wait_for_capacity", "snapshot")).toEqual([...SNAPSHOT_CAPACITY_ERROR_CODES]);
  });

  it("recover the source on the four replacement reasons, which become the recovery's reason", () => {
    for (const request of ["push", "snapshot"] as const) {
      expect(codesReacting("recover_source", request).sort()).toEqual([...SOURCE_REPLACEMENT_REASONS].sort());
    }
    expect(codesReacting("recover_source", "pull")).toEqual([
      "source_sequence_out_of_order",
      "source_sequence_changed",
      "source_retired",
    ]);
  });

  it("leave the push's own answers to the push", () => {
    expect(codesReacting("resolve_conflict", "push")).toEqual(["push_conflict"]);
    expect(codesReacting("reject_change", "push")).toEqual(["push_chunk_invalid", "push_commit_invalid"]);
    expect(codesReacting("reattach", "push")).toEqual(["initialization_stale", "initialization_expired"]);
    expect(codesReacting("refetch", "committed_rows")).toEqual(["committed_bundle_not_found"]);
    expect(codesReacting("rebuild", "pull")).toEqual(["history_pruned", "checkpoint_ahead"]);
    expect(codesReacting("replace_snapshot_session", "snapshot")).toEqual([
      "snapshot_session_not_found",
      "snapshot_session_expired",
    ]);
    expect(codesReacting("keep_recovery", "snapshot")).toEqual(["source_replacement_invalid"]);
    expect(codesReacting("poll", "watch")).toEqual(["bundle_change_watch_forbidden"]);
  });
});
