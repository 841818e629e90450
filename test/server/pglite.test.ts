import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleHash } from "@oversync/protocol";
import { createSyncService } from "@oversync/server";
import { expect, it } from "vitest";
import { openPglitePool } from "../../packages/cli/src/pglite-pool.js";
import { BUSINESS_DDL, BUSINESS_TABLES } from "./business-schema.js";
import { actor, docRow, initializeScope, push, userRow, uuid } from "./service-harness.js";

// PGlite is one session: the runtime must do each call's work on the one client it checked out.
it("runs bootstrap, connect, push and pull over the single-session PGlite pool", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "oversync-pglite-"));
  const pool = await openPglitePool({ dataDir });
  try {
    await pool.query(BUSINESS_DDL);
    const service = createSyncService({
      pool,
      appName: "pglite",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
    });
    expect(await service.bootstrap()).toEqual({ layout: "created" });
    const ada = actor("ada", "phone");
    await initializeScope(service, ada);
    const id = uuid();
    const committed = await Promise.all([
      push(service, ada, 1, [userRow(id, "Ada"), docRow("a", "x")]),
      push(service, actor("ada", "laptop"), 1, [docRow("b", "y")]),
    ]);
    expect(committed.map((c) => c.bundle_seq).sort()).toEqual([1, 2]);
    const page = await service.pull(ada, { after_bundle_seq: 0 });
    expect(page.stable_bundle_seq).toBe(2);
    for (const bundle of page.bundles) expect(bundleHash(bundle.rows)).toBe(bundle.bundle_hash);
    expect((await service.status()).committed_bundle_count).toBe(2);
    await service.close();
  } finally {
    await pool.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
