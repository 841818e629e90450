/**
 * The housekeeping sweep keeps the tables of work in progress from growing with the work done:
 * staged rows of finished sessions leave dead space, and after a sweep the next sessions reuse it
 * instead of extending the table.
 */
import { canonicalRequestHash } from "@oversync/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceHarness, actor, docRow, initializeScope, startService } from "./service-harness.js";

let h: ServiceHarness;
beforeAll(async () => {
  h = await startService();
});
afterAll(async () => {
  await h.drop();
});

const ada = actor("ada");

/** Stages `sessions` sessions of 1,000 rows each and deletes them, as abandoned pushes end. */
async function stageAndDiscard(sessions: number): Promise<void> {
  for (let n = 0; n < sessions; n++) {
    const rows = Array.from({ length: 1000 }, (_, i) => docRow(`d-${n}-${i}`, "x".repeat(200)));
    const created = await h.service.createPushSession(ada, {
      source_bundle_id: 1,
      planned_row_count: rows.length,
      canonical_request_hash: canonicalRequestHash(rows),
    });
    if (created.status !== "staging") throw new Error(`expected staging, got ${created.status}`);
    await h.service.uploadPushChunk(ada, created.push_id, { start_row_ordinal: 0, rows });
    await h.service.deletePushSession(ada, created.push_id);
  }
}

async function stagedRowsBytes(): Promise<number> {
  const { rows } = await h.db.pool.query("SELECT pg_relation_size('sync.push_session_rows')::int AS n");
  return rows[0].n;
}

describe("the housekeeping sweep", () => {
  it("lets new staged rows reuse the space of finished sessions", async () => {
    await initializeScope(h.service, ada);
    await stageAndDiscard(5);
    const afterFirst = await stagedRowsBytes();
    expect(afterFirst).toBeGreaterThan(500_000);
    expect(await h.service.sweep()).toStrictEqual({ pushSessions: 0, snapshotSessions: 0 });
    await stageAndDiscard(5);
    expect(await stagedRowsBytes()).toBeLessThanOrEqual(afterFirst);
  });
});
