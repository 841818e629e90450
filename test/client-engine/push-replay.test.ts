/**
 * Replaying a committed push when the app wrote some of its rows during the round trip (the table
 * in push-replay.ts), in both replays: the server committed the rows exactly as uploaded (the
 * bundle hash proves it and only row states move), or it stored a value differently (the
 * committed rows are applied). Both must leave the same local intent and row states.
 */
import { bundleHash } from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeBundle } from "../client-support/fake-sync-backend.js";
import { type EngineHarness, startEngineHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const MID_PUSH_WRITES = [
  "UPDATE users SET name = 'A2' WHERE id = 'a'", // an uploaded insert edited again
  "DELETE FROM users WHERE id = 'b'", // an uploaded insert deleted
  "UPDATE users SET name = 'tmp' WHERE id = 'c'", // an uploaded update changed and changed back
  "UPDATE users SET name = 'C1' WHERE id = 'c'",
  "INSERT INTO users(id, name) VALUES('e', 'E2')", // an uploaded delete inserted again
];

describe("committed replay with app writes made during the push", () => {
  for (const normalised of [false, true]) {
    const mode = normalised
      ? "the server stored one value differently"
      : "the server stored the rows as uploaded";
    it(`${mode}: writes made meanwhile are rebased and stay queued, the rest is accepted`, async () => {
      harness = await startEngineHarness();
      const h = harness;
      await h.client.open();
      await h.client.attach("user-1");
      await h.execute(["INSERT INTO users(id, name) VALUES('c', 'C'), ('e', 'E')"]);
      expect((await h.client.pushPending()).outcome).toBe("committed");
      await h.execute([
        "INSERT INTO users(id, name) VALUES('a', 'A'), ('b', 'B'), ('d', 'D')",
        "UPDATE users SET name = 'C1' WHERE id = 'c'",
        "DELETE FROM users WHERE id = 'e'",
      ]);
      h.backend.override("pushCommit", (next) => async (request, params) => {
        if (h.backend.bundles.length > 1) return next(request, params);
        await h.execute(MID_PUSH_WRITES);
        const reply = await next(request, params);
        if (!normalised) return reply;
        // The server's copy of d differs from the upload (as a trigger or a column type would make it).
        const bundle = h.backend.bundles.at(-1) as { -readonly [K in keyof FakeBundle]: FakeBundle[K] };
        bundle.rows = bundle.rows.map((row) =>
          row.key.id === "d" ? { ...row, payload: { id: "d", name: "d-normalised" } } : row,
        );
        bundle.bundle_hash = bundleHash(bundle.rows);
        return { ...reply, json: { ...(reply.json as object), bundle_hash: bundle.bundle_hash } };
      });

      expect((await h.client.pushPending()).outcome).toBe("committed");

      expect(await h.query("SELECT id, name FROM users ORDER BY id")).toEqual([
        { id: "a", name: "A2" },
        { id: "c", name: "C1" },
        { id: "d", name: normalised ? "d-normalised" : "D" },
        { id: "e", name: "E2" },
      ]);
      expect(
        await h.query(
          "SELECT key_json, op, base_row_version, payload FROM _sync_dirty_rows ORDER BY key_json",
        ),
      ).toEqual([
        { key_json: '{"id":"a"}', op: "UPDATE", base_row_version: 2n, payload: '{"id":"a","name":"A2"}' },
        { key_json: '{"id":"b"}', op: "DELETE", base_row_version: 2n, payload: null },
        { key_json: '{"id":"e"}', op: "INSERT", base_row_version: 2n, payload: '{"id":"e","name":"E2"}' },
      ]);
      expect(
        await h.query("SELECT key_json, row_version, deleted FROM _sync_row_state ORDER BY key_json"),
      ).toEqual(
        ["a", "b", "c", "d", "e"].map((id) => ({
          key_json: `{"id":"${id}"}`,
          row_version: 2n,
          deleted: id === "e" ? 1n : 0n,
        })),
      );
      expect(await h.query("SELECT count(*) AS n FROM _sync_outbox_rows")).toEqual([{ n: 0n }]);
      expect((await h.client.syncStatus()).lastBundleSeqSeen).toBe(2);

      // What stayed queued is pushed next, on the committed versions.
      expect((await h.client.pushPending()).outcome).toBe("committed");
      expect(
        h.backend.uploadedRows.slice(-3).map((row) => `${row.key.id}:${row.op}:${row.base_row_version}`),
      ).toEqual(["a:UPDATE:2", "e:INSERT:2", "b:DELETE:2"]);
    });
  }
});
