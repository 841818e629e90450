import { bundleHash, decodeCommittedRowsResponse, decodePullResponse } from "@oversync/protocol";
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
const ada = actor("ada", "phone");

beforeEach(async () => {
  h = await startService({
    limits: {
      max_rows_per_committed_bundle_chunk: 4,
      default_rows_per_committed_bundle_chunk: 3,
      max_bundles_per_pull: 3,
    },
  });
  await initializeScope(h.service, ada);
});

afterEach(async () => {
  await h.drop();
});

/** Pushes `count` bundles of one doc each; bundle n holds doc `d<n>`. */
async function pushBundles(count: number, first = 1) {
  for (let i = first; i < first + count; i++) await push(h.service, ada, i, [docRow(`d${i}`, `v${i}`)]);
}

describe("committed bundle rows", () => {
  it("pages with next_row_ordinal = last returned ordinal and has_more", async () => {
    const rows = Array.from({ length: 7 }, (_, i) => docRow(`r${i}`, `${i}`));
    const committed = await push(h.service, ada, 1, rows);
    const identity = { ...committed };
    const first = await h.service.getCommittedBundleRows(ada, { bundle_seq: 1 });
    decodeCommittedRowsResponse(first, { committed: identity, afterRowOrdinal: undefined });
    expect(first.rows.map((row) => row.key.doc_id)).toEqual(["r0", "r1", "r2"]);
    expect([first.next_row_ordinal, first.has_more]).toEqual([2, true]);

    // max_rows above the maximum is clamped to it.
    const second = await h.service.getCommittedBundleRows(ada, {
      bundle_seq: 1,
      after_row_ordinal: 2,
      max_rows: 100,
    });
    decodeCommittedRowsResponse(second, { committed: identity, afterRowOrdinal: 2 });
    expect(second.rows.map((row) => row.key.doc_id)).toEqual(["r3", "r4", "r5", "r6"]);
    expect([second.next_row_ordinal, second.has_more]).toEqual([6, false]);

    const past = await h.service.getCommittedBundleRows(ada, { bundle_seq: 1, after_row_ordinal: 6 });
    expect([past.rows, past.next_row_ordinal, past.has_more]).toEqual([[], 6, false]);

    const all = [...first.rows, ...second.rows];
    expect(bundleHash(all)).toBe(committed.bundle_hash);
    expect(first.canonical_request_hash).toBe(committed.canonical_request_hash);
  });

  it("answers 404 for a missing bundle and history_pruned at or below the floor", async () => {
    await pushBundles(3);
    expect((await rejection(h.service.getCommittedBundleRows(ada, { bundle_seq: 9 }))).code).toBe(
      "committed_bundle_not_found",
    );
    expect((await rejection(h.service.getCommittedBundleRows(actor("nobody"), { bundle_seq: 1 }))).code).toBe(
      "committed_bundle_not_found",
    );
    await h.db.pool.query("UPDATE sync.user_state SET retained_bundle_floor = 2");
    expect((await rejection(h.service.getCommittedBundleRows(ada, { bundle_seq: 2 }))).code).toBe(
      "history_pruned",
    );
    expect((await h.service.getCommittedBundleRows(ada, { bundle_seq: 3 })).rows).toHaveLength(1);
  });
});

describe("pull", () => {
  it("returns an empty page at stable 0 before any bundle", async () => {
    expect(await h.service.pull(ada, { after_bundle_seq: 0 })).toEqual({
      stable_bundle_seq: 0,
      bundles: [],
      has_more: false,
    });
  });

  it("pages complete bundles up to a frozen stable seq", async () => {
    await pushBundles(5);
    const first = await h.service.pull(ada, { after_bundle_seq: 0, max_bundles: 2 });
    decodePullResponse(first, { afterBundleSeq: 0 });
    expect(first.stable_bundle_seq).toBe(5);
    expect(first.bundles.map((b) => b.bundle_seq)).toEqual([1, 2]);
    expect(first.has_more).toBe(true);
    expect(first.bundles[0]).toEqual({
      bundle_seq: 1,
      source_id: "phone",
      source_bundle_id: 1,
      row_count: 1,
      bundle_hash: first.bundles[0]!.bundle_hash,
      rows: [
        {
          schema: "business",
          table: "docs",
          key: { doc_id: "d1" },
          op: "INSERT",
          row_version: 1,
          payload: { doc_id: "d1", body: "v1" },
        },
      ],
    });
    expect(bundleHash(first.bundles[0]!.rows)).toBe(first.bundles[0]!.bundle_hash);

    // New bundles after the first page do not move the frozen target.
    await pushBundles(2, 6);
    const second = await h.service.pull(ada, {
      after_bundle_seq: 2,
      target_bundle_seq: 5,
      max_bundles: 1000,
    });
    decodePullResponse(second, { afterBundleSeq: 2, targetBundleSeq: 5 });
    expect(second.bundles.map((b) => b.bundle_seq)).toEqual([3, 4, 5]);
    expect([second.stable_bundle_seq, second.has_more]).toEqual([5, false]);

    const caughtUp = await h.service.pull(ada, { after_bundle_seq: 5, target_bundle_seq: 5 });
    expect(caughtUp).toEqual({ stable_bundle_seq: 5, bundles: [], has_more: false });
    const latest = await h.service.pull(ada, { after_bundle_seq: 5 });
    expect(latest.bundles.map((b) => b.bundle_seq)).toEqual([6, 7]);
  });

  it("clamps max_bundles to the server maximum", async () => {
    await pushBundles(5);
    const page = await h.service.pull(ada, { after_bundle_seq: 0, max_bundles: 1000 });
    expect(page.bundles).toHaveLength(3);
    expect(page.has_more).toBe(true);
  });

  it("ends a page at a bundle boundary once the row budget is used, but always sends one bundle", async () => {
    const small = await startService({ pullPageRowBudget: 3 });
    try {
      await initializeScope(small.service, ada);
      const sizes = [2, 1, 4, 1];
      for (const [index, size] of sizes.entries()) {
        const rows = Array.from({ length: size }, (_, i) => docRow(`b${index}-${i}`, "x"));
        await push(small.service, ada, index + 1, rows);
      }
      const pages: number[][] = [];
      let after = 0;
      for (;;) {
        const page = await small.service.pull(ada, { after_bundle_seq: after, target_bundle_seq: 4 });
        decodePullResponse(page, { afterBundleSeq: after, targetBundleSeq: 4 });
        pages.push(page.bundles.map((b) => b.bundle_seq));
        after = page.bundles.at(-1)?.bundle_seq ?? after;
        if (!page.has_more) break;
      }
      expect(pages).toEqual([[1, 2], [3], [4]]);
    } finally {
      await small.drop();
    }
  });

  it("answers checkpoint_ahead when after or target is beyond the latest bundle", async () => {
    await pushBundles(2);
    const ahead = await rejection(h.service.pull(ada, { after_bundle_seq: 99 }));
    expect(ahead.code).toBe("checkpoint_ahead");
    expect(ahead.message).toBe("requested checkpoint 99 is ahead of current committed bundle sequence 2");
    expect((await rejection(h.service.pull(ada, { after_bundle_seq: 0, target_bundle_seq: 3 }))).code).toBe(
      "checkpoint_ahead",
    );
  });

  it("answers history_pruned iff after is below the retained floor, checking checkpoint_ahead first", async () => {
    await pushBundles(4);
    await h.db.pool.query("UPDATE sync.user_state SET retained_bundle_floor = 3");
    const pruned = await rejection(h.service.pull(ada, { after_bundle_seq: 1 }));
    expect(pruned.code).toBe("history_pruned");
    expect(pruned.message).toBe("after_bundle_seq 1 is below retained floor 3");
    expect((await rejection(h.service.pull(ada, { after_bundle_seq: 0 }))).code).toBe("history_pruned");
    expect((await rejection(h.service.pull(ada, { after_bundle_seq: 9 }))).code).toBe("checkpoint_ahead");
    expect((await h.service.pull(ada, { after_bundle_seq: 3 })).bundles.map((b) => b.bundle_seq)).toEqual([
      4,
    ]);
    // Floor = latest: an up-to-date client is not sent to rebuild.
    await h.db.pool.query("UPDATE sync.user_state SET retained_bundle_floor = 4");
    expect(await h.service.pull(ada, { after_bundle_seq: 4 })).toEqual({
      stable_bundle_seq: 4,
      bundles: [],
      has_more: false,
    });
    const { rows } = await h.db.pool.query("SELECT last_value::int AS n FROM sync.history_pruned_error_seq");
    expect(rows).toEqual([{ n: 2 }]);
  });

  it("refuses scopes that are not initialized", async () => {
    expect((await rejection(h.service.pull(actor("new-user"), { after_bundle_seq: 0 }))).code).toBe(
      "scope_uninitialized",
    );
    await h.service.connect(actor("bob", "phone"), { has_local_pending_rows: true });
    expect((await rejection(h.service.pull(actor("bob", "laptop"), { after_bundle_seq: 0 }))).code).toBe(
      "scope_initializing",
    );
    await h.db.pool.query(
      "UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second' WHERE user_id = 'bob'",
    );
    expect((await rejection(h.service.pull(actor("bob", "laptop"), { after_bundle_seq: 0 }))).code).toBe(
      "scope_uninitialized",
    );
  });
});
