/**
 * Source replacement at snapshot create, at the service level on real PostgreSQL: the old source
 * retired and the new one reserved together with the snapshot, the reserved source committing its
 * bundle 1, every source error path a retired or replaced source meets (create, commit, snapshot),
 * idempotent repeats, and that a failed create changes no source state.
 */
import {
  MAX_IDENTITY_BYTES,
  type OversyncError,
  type SnapshotCreateRequest,
  canonicalRequestHash,
  decodeErrorBody,
} from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ServiceHarness,
  actor,
  docRow,
  initializeScope,
  push,
  rejection,
  startService,
} from "./service-harness.js";

let h: ServiceHarness;

beforeEach(async () => {
  h = await startService();
});

afterEach(async () => {
  await h.drop();
});

const old = actor("ada", "ada-old");
const next = actor("ada", "ada-new");

function replacement(
  previous: string,
  replacementId: string,
  reason:
    | "history_pruned"
    | "source_sequence_out_of_order"
    | "source_sequence_changed"
    | "source_retired" = "history_pruned",
): SnapshotCreateRequest {
  return { source_replacement: { previous_source_id: previous, new_source_id: replacementId, reason } };
}

interface SourceRow {
  source_id: string;
  state: string;
  max_committed_source_bundle_id: number;
  replaced_by_source_id: string | null;
  retirement_reason: string | null;
}

/** The user's source_state rows by source id. */
async function sources(): Promise<Record<string, Omit<SourceRow, "source_id">>> {
  const { rows } = await h.db.pool.query<SourceRow>(
    `SELECT s.source_id, s.state, s.max_committed_source_bundle_id::int AS max_committed_source_bundle_id,
            s.replaced_by_source_id, s.retirement_reason
       FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = 'ada'`,
  );
  return Object.fromEntries(rows.map(({ source_id, ...rest }) => [source_id, rest]));
}

/** Checks a source_retired error the way both clients decode it. */
function expectRetired(error: OversyncError, sourceId: string, replacedBy: string | undefined): void {
  expect([error.code, error.status]).toStrictEqual(["source_retired", 409]);
  const body = error.toErrorBody();
  expect(Object.keys(body).sort()).toStrictEqual(
    replacedBy === undefined
      ? ["error", "message", "source_id"]
      : ["error", "message", "replaced_by_source_id", "source_id"],
  );
  expect(body.source_id).toBe(sourceId);
  expect(body.replaced_by_source_id).toBe(replacedBy);
  expect(decodeErrorBody(409, JSON.parse(JSON.stringify(body)))).toMatchObject({ code: "source_retired" });
}

async function createPush(
  who = old,
  sourceBundleId = 1,
  rows = [docRow(`${who.sourceId}-${sourceBundleId}`, "x")],
) {
  return h.service.createPushSession(who, {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  });
}

describe("rotation", () => {
  beforeEach(async () => {
    await initializeScope(h.service, old);
    await push(h.service, old, 1, [docRow("a", "from old")]);
    await push(h.service, old, 2, [docRow("b", "from old")]);
  });

  it("retires the old source, reserves the new one and serves the snapshot in one step", async () => {
    const session = await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    expect(session).toMatchObject({ snapshot_bundle_seq: 2, row_count: 2 });
    expect(await sources()).toStrictEqual({
      "ada-old": {
        state: "retired",
        max_committed_source_bundle_id: 2,
        replaced_by_source_id: "ada-new",
        retirement_reason: "history_pruned",
      },
      "ada-new": {
        state: "reserved",
        max_committed_source_bundle_id: 0,
        replaced_by_source_id: null,
        retirement_reason: null,
      },
    });
  });

  it("the new source pushes source_bundle_id 1 and becomes active; the old one is source_retired", async () => {
    await h.service.createSnapshotSession(
      old,
      replacement(old.sourceId, next.sourceId, "source_sequence_changed"),
    );
    // A create out of sequence for the reserved source is refused like any source's.
    expect((await rejection(createPush(next, 2))).code).toBe("source_sequence_out_of_order");
    const committed = await push(h.service, next, 1, [docRow("c", "from new")]);
    expect(committed).toMatchObject({ bundle_seq: 3, source_id: "ada-new", source_bundle_id: 1 });
    expect((await sources())["ada-new"]).toStrictEqual({
      state: "active",
      max_committed_source_bundle_id: 1,
      replaced_by_source_id: null,
      retirement_reason: null,
    });
    expect((await sources())["ada-old"]?.retirement_reason).toBe("source_sequence_changed");
    // Replaying the new source's bundle 1 is already_committed; bundle 2 follows.
    expect(await createPush(next, 1, [docRow("c", "from new")])).toMatchObject({
      status: "already_committed",
      bundle_seq: 3,
    });
    expect(await push(h.service, next, 2, [docRow("d", "from new")])).toMatchObject({ bundle_seq: 4 });

    // The old source: push create (even of its next id, even with an all-zero hash) is source_retired.
    expectRetired(await rejection(createPush(old, 3)), "ada-old", "ada-new");
    const zeroHash = await rejection(
      h.service.createPushSession(old, {
        source_bundle_id: 3,
        planned_row_count: 1,
        canonical_request_hash: "0".repeat(64),
      }),
    );
    expectRetired(zeroHash, "ada-old", "ada-new");
    // Its already committed bundles still replay, so a client that lost the commit answer recovers.
    expect(await createPush(old, 2, [docRow("b", "from old")])).toMatchObject({
      status: "already_committed",
    });
    // A plain snapshot from the old source is refused too.
    expectRetired(await rejection(h.service.createSnapshotSession(old, {})), "ada-old", "ada-new");
  });

  it("a session the old source was staging cannot commit after retirement", async () => {
    const staged = await createPush(old, 3);
    if (staged.status !== "staging") throw new Error("expected staging");
    await h.service.uploadPushChunk(old, staged.push_id, {
      start_row_ordinal: 0,
      rows: [docRow("ada-old-3", "x")],
    });
    await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    expectRetired(await rejection(h.service.commitPushSession(old, staged.push_id)), "ada-old", "ada-new");
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM business.docs");
    expect(rows[0].n).toBe(2);
  });

  it("an exact repeat is idempotent, before and after the new source commits", async () => {
    const request = replacement(old.sourceId, next.sourceId);
    const first = await h.service.createSnapshotSession(old, request);
    const stateAfterFirst = await sources();
    const second = await h.service.createSnapshotSession(old, request);
    expect(second.snapshot_id).not.toBe(first.snapshot_id);
    expect(second).toMatchObject({ snapshot_bundle_seq: 2, row_count: 2 });
    expect(await sources()).toStrictEqual(stateAfterFirst);

    await push(h.service, next, 1, [docRow("c", "from new")]);
    const third = await h.service.createSnapshotSession(old, request);
    expect(third).toMatchObject({ snapshot_bundle_seq: 3, row_count: 3 });
    expect((await sources())["ada-new"]?.state).toBe("active");
  });

  it("a repeat whose reserved successor row is missing reserves it again", async () => {
    await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    await h.db.pool.query("DELETE FROM sync.source_state WHERE source_id = 'ada-new'");
    await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    expect((await sources())["ada-new"]?.state).toBe("reserved");
  });

  it("naming another successor for an already retired source is source_retired with the recorded one", async () => {
    await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    const before = await sources();
    const error = await rejection(
      h.service.createSnapshotSession(old, replacement(old.sourceId, "ada-other")),
    );
    expectRetired(error, "ada-old", "ada-new");
    expect(await sources()).toStrictEqual(before);
  });

  it("a chain: a reserved source can itself be replaced before it commits", async () => {
    await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    await h.service.createSnapshotSession(next, replacement(next.sourceId, "ada-third", "source_retired"));
    const state = await sources();
    expect(state["ada-new"]).toStrictEqual({
      state: "retired",
      max_committed_source_bundle_id: 0,
      replaced_by_source_id: "ada-third",
      retirement_reason: "source_retired",
    });
    expect(state["ada-third"]?.state).toBe("reserved");
    // Repeating the first step now names a retired successor.
    const error = await rejection(
      h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId)),
    );
    expect([error.code, error.status]).toStrictEqual(["source_replacement_invalid", 409]);
    expect(await push(h.service, actor("ada", "ada-third"), 1, [docRow("t", "third")])).toMatchObject({
      bundle_seq: 3,
    });
  });
});

describe("invalid replacements change nothing", () => {
  beforeEach(async () => {
    await initializeScope(h.service, old);
    await push(h.service, old, 1, [docRow("a", "from old")]);
    await push(h.service, actor("ada", "ada-tablet"), 1, [docRow("t", "from tablet")]);
  });

  it.each([
    ["previous_source_id is not the header source", "ada-tablet", "ada-new"],
    ["new_source_id equals the previous one", "ada-old", "ada-old"],
    ["new_source_id is empty", "ada-old", ""],
    ["new_source_id is not a source id", "ada-old", "has space"],
    ["new_source_id is longer than MAX_IDENTITY_BYTES", "ada-old", "n".repeat(MAX_IDENTITY_BYTES + 1)],
    ["new_source_id is an existing active source", "ada-old", "ada-tablet"],
  ])("%s → 409 source_replacement_invalid", async (_name, previous, replacementId) => {
    const before = await sources();
    const error = await rejection(h.service.createSnapshotSession(old, replacement(previous, replacementId)));
    expect([error.code, error.status]).toStrictEqual(["source_replacement_invalid", 409]);
    expect(decodeErrorBody(409, error.toErrorBody())).toMatchObject({ code: "source_replacement_invalid" });
    expect(await sources()).toStrictEqual(before);
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.snapshot_sessions");
    expect(rows[0].n).toBe(0);
  });

  it("an unknown reason → 409 source_replacement_invalid", async () => {
    const before = await sources();
    const request = {
      source_replacement: { previous_source_id: "ada-old", new_source_id: "ada-new", reason: "bored" },
    } as unknown as SnapshotCreateRequest;
    const error = await rejection(h.service.createSnapshotSession(old, request));
    expect([error.code, error.status]).toStrictEqual(["source_replacement_invalid", 409]);
    expect(await sources()).toStrictEqual(before);
  });

  it("a snapshot that fails its limits rolls the replacement back", async () => {
    const limited = await startService({ limits: { max_rows_per_snapshot_session: 1 } });
    try {
      await initializeScope(limited.service, old);
      await push(limited.service, old, 1, [docRow("a", "x"), docRow("b", "y")]);
      const error = await rejection(
        limited.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId)),
      );
      expect(error.code).toBe("snapshot_session_limit_exceeded");
      const { rows } = await limited.db.pool.query(
        "SELECT source_id, state FROM sync.source_state ORDER BY source_id",
      );
      expect(rows).toStrictEqual([{ source_id: "ada-old", state: "active" }]);
    } finally {
      await limited.drop();
    }
  });
});

describe("scope and unknown sources", () => {
  it("a replacement on an uninitialized scope is scope_uninitialized and records nothing", async () => {
    const error = await rejection(
      h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId)),
    );
    expect(error.code).toBe("scope_uninitialized");
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.source_state");
    expect(rows[0].n).toBe(0);
  });

  it("a source that never committed can be replaced: it is retired with nothing committed", async () => {
    await initializeScope(h.service, actor("ada", "ada-seed"));
    await push(h.service, actor("ada", "ada-seed"), 1, [docRow("s", "seed")]);
    await h.service.createSnapshotSession(
      old,
      replacement(old.sourceId, next.sourceId, "source_sequence_out_of_order"),
    );
    expect((await sources())["ada-old"]).toStrictEqual({
      state: "retired",
      max_committed_source_bundle_id: 0,
      replaced_by_source_id: "ada-new",
      retirement_reason: "source_sequence_out_of_order",
    });
    expectRetired(await rejection(createPush(old, 1)), "ada-old", "ada-new");
  });

  it("sources are per user: another user may use the same ids", async () => {
    await initializeScope(h.service, old);
    await h.service.createSnapshotSession(old, replacement(old.sourceId, next.sourceId));
    const bobOld = actor("bob", "ada-old");
    await initializeScope(h.service, bobOld);
    expect(await push(h.service, bobOld, 1, [docRow("b", "bob")])).toMatchObject({ bundle_seq: 1 });
    await h.service.createSnapshotSession(actor("bob", "ada-new"), {});
  });
});
