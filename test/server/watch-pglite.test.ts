/**
 * Watch on embedded PGlite: the CLI's single-session pool is also the NotificationSource, and a
 * commit wakes a subscriber through PGlite's own NOTIFY/LISTEN.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSyncService } from "@oversync/server";
import { expect, it } from "vitest";
import { openPglitePool } from "../../packages/cli/src/pglite-pool.js";
import { BUSINESS_DDL, BUSINESS_TABLES } from "./business-schema.js";
import { actor, initializeScope, push, userRow, uuid } from "./service-harness.js";
import { nextEvent } from "./watch-support.js";

it("wakes a subscriber on a PGlite database whose pool is the LISTEN source", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "oversync-pglite-watch-"));
  const pool = await openPglitePool({ dataDir });
  try {
    await pool.query(BUSINESS_DDL);
    const service = createSyncService({
      pool,
      appName: "pglite-watch",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
      watch: { notifications: pool },
    });
    await service.bootstrap();
    const ada = actor("ada", "phone");
    await initializeScope(service, ada);
    await push(service, ada, 1, [userRow(uuid(), "Ada")]);
    const watch = await service.openBundleWatch(ada, { after_bundle_seq: 0 });
    expect(await nextEvent(watch)).toStrictEqual({ bundle_seq: 1 });
    await push(service, actor("ada", "laptop"), 1, [userRow(uuid(), "Bob")]);
    expect(await nextEvent(watch)).toStrictEqual({ bundle_seq: 2, source_id: "laptop", source_bundle_id: 1 });
    expect(service.watchSubscriberCount("ada")).toBe(1);
    watch.close();
    expect(service.watchSubscriberCount("ada")).toBe(0);
    await service.close();
  } finally {
    await pool.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
