/**
 * Snapshot sessions on embedded PGlite, the reference server's default database: the build's
 * cursor, the capacity slots (advisory locks) and the unlogged session tables must all work on its
 * single session, and a source replacement must let the new source commit its bundle 1.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeSnapshotChunkBody,
  decodeSnapshotSessionBody,
  formatSnapshotChunkBody,
} from "@oversync/protocol";
import { createSyncService } from "@oversync/server";
import { expect, it } from "vitest";
import { openPglitePool } from "../../packages/cli/src/pglite-pool.js";
import { BUSINESS_DDL, BUSINESS_TABLES } from "./business-schema.js";
import { actor, docRow, initializeScope, push, rejection, userRow, uuid } from "./service-harness.js";

it("creates, pages, replaces and deletes snapshot sessions over the single-session PGlite pool", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "oversync-pglite-snap-"));
  const pool = await openPglitePool({ dataDir });
  try {
    await pool.query(BUSINESS_DDL);
    const service = createSyncService({
      pool,
      appName: "pglite",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      limits: { snapshot_materialization_batch_rows: 2 },
    });
    await service.bootstrap();
    const old = actor("ada", "phone");
    await initializeScope(service, old);
    await push(service, old, 1, [
      userRow(uuid(), "Ada"),
      docRow("a", "x é"),
      docRow("b", "y"),
      docRow("c", null),
    ]);

    const session = decodeSnapshotSessionBody(
      JSON.stringify(
        await service.createSnapshotSession(old, {
          source_replacement: {
            previous_source_id: "phone",
            new_source_id: "phone-2",
            reason: "history_pruned",
          },
        }),
      ),
    );
    expect(session).toMatchObject({ snapshot_bundle_seq: 1, row_count: 4 });
    let after = 0;
    let bytes = 0;
    let chunks = 0;
    for (;;) {
      const page = await service.getSnapshotChunk(old, {
        snapshot_id: session.snapshot_id,
        after_row_ordinal: after,
        max_rows: 3,
        max_bytes: 100_000,
      });
      const chunk = decodeSnapshotChunkBody(formatSnapshotChunkBody(page), {
        session,
        afterRowOrdinal: after,
        bytesBefore: bytes,
        maxRows: 3,
        maxBytes: 100_000,
      });
      chunks++;
      after = chunk.next_row_ordinal;
      bytes += chunk.byte_count;
      if (!chunk.has_more) break;
    }
    expect([after, bytes, chunks]).toStrictEqual([4, session.byte_count, 2]);

    expect((await rejection(push(service, old, 2, [docRow("d", "old")]))).code).toBe("source_retired");
    expect(await push(service, actor("ada", "phone-2"), 1, [docRow("d", "new")])).toMatchObject({
      bundle_seq: 2,
    });
    await service.deleteSnapshotSession(old, session.snapshot_id);
    expect(
      (
        await rejection(
          service.getSnapshotChunk(old, { snapshot_id: session.snapshot_id, max_rows: 1, max_bytes: 1000 }),
        )
      ).code,
    ).toBe("snapshot_session_not_found");
    await service.close();
  } finally {
    await pool.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
