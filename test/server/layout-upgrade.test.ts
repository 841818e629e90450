/**
 * A database an older build left at layout v1 is upgraded in place by bootstrap: the history it
 * holds reads exactly as before (pull pages, committed rows, already_committed replays), new bundles
 * commit on top, and an upgrade that fails leaves the v1 layout whole.
 */
import { canonicalRequestHash } from "@oversync/protocol";
import { type SyncRuntime, createSyncService } from "@oversync/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LAYOUT_LABEL } from "../../packages/server/src/schema/sync-layout.js";
import { BUSINESS_TABLES } from "./business-schema.js";
import { LAYOUT_V1, downgradeToLayoutV1 } from "./layout-v1.js";
import {
  type ServiceHarness,
  actor,
  docRow,
  initializeScope,
  push,
  startService,
  userRow,
  uuid,
} from "./service-harness.js";

let h: ServiceHarness;
let later: SyncRuntime | undefined;
const ada = actor("ada", "phone");

beforeEach(async () => {
  h = await startService();
  await initializeScope(h.service, ada);
});

afterEach(async () => {
  await later?.close();
  later = undefined;
  await h.drop();
});

function laterService(): SyncRuntime {
  later = createSyncService({
    pool: h.db.pool,
    appName: "oversync-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
  });
  return later;
}

async function columnTypes() {
  const { rows } = await h.db.pool.query(
    `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = 'sync' AND (table_name, column_name) IN
        (('bundle_log', 'bundle_hash'), ('bundle_log', 'canonical_request_hash'), ('bundle_rows', 'key_text'))
      ORDER BY 1, 2`,
  );
  return rows;
}

/** A history of upserts and a delete on a uuid-keyed and a text-keyed table, plus a server write. */
async function writeHistory() {
  const id = uuid();
  const first = [userRow(id, "Ada"), docRow("d1", "one"), docRow("d2", "two")];
  await push(h.service, ada, 1, first);
  const second = [
    userRow(id, "Ada L", { op: "UPDATE", base: 1 }),
    docRow("d1", null, { op: "DELETE", base: 1 }),
  ];
  await push(h.service, ada, 2, second);
  await h.service.scopeManager.execWrite("ada", { writerId: "server:import" }, (tx) =>
    tx.query("INSERT INTO business.users (id, name, email) VALUES ($1, 'Srv', 'srv@example.com')", [uuid()]),
  );
  return { first, second };
}

/** Everything a client can read back about the history. */
async function readBack(service: SyncRuntime, history: Awaited<ReturnType<typeof writeHistory>>) {
  return {
    pull: await service.pull(ada, { after_bundle_seq: 0 }),
    committed: await Promise.all(
      [1, 2, 3].map((bundle_seq) => service.getCommittedBundleRows(ada, { bundle_seq })),
    ),
    replay: await service.createPushSession(ada, {
      source_bundle_id: 2,
      planned_row_count: history.second.length,
      canonical_request_hash: canonicalRequestHash(history.second),
    }),
  };
}

describe("layout upgrade", () => {
  it("upgrades a v1 database in place and serves its history exactly as before", async () => {
    const history = await writeHistory();
    const before = await readBack(h.service, history);
    expect(before.pull.bundles.map((bundle) => bundle.rows.length)).toEqual([3, 2, 1]);
    expect(before.replay.status).toBe("already_committed");
    const current = await columnTypes();
    await h.service.close();

    await downgradeToLayoutV1(h.db.pool);
    expect((await columnTypes()).map((column) => column.data_type)).toEqual(["text", "text", "text"]);
    const service = laterService();
    expect(await service.bootstrap()).toEqual({ layout: "upgraded" });
    expect((await h.db.pool.query("SELECT layout FROM sync.meta")).rows).toEqual([{ layout: LAYOUT_LABEL }]);
    expect(await columnTypes()).toEqual(current);
    expect(await readBack(service, history)).toEqual(before);

    // v1 rows keep their keys; a bundle committed now stores only its delete's.
    const id = uuid();
    await push(service, ada, 3, [userRow(id, "Bea"), docRow("d2", null, { op: "DELETE", base: 1 })]);
    const { rows } = await h.db.pool.query(
      "SELECT bundle_seq::int AS seq, key_text FROM sync.bundle_rows WHERE bundle_seq IN (1, 4) ORDER BY 1, row_ordinal",
    );
    expect(rows.map((row) => [row.seq, row.key_text === null])).toEqual([
      [1, false],
      [1, false],
      [1, false],
      [4, true],
      [4, false],
    ]);
    const page = await service.pull(ada, { after_bundle_seq: 3 });
    expect(page.bundles[0]!.rows.map((row) => row.key)).toEqual([{ id }, { doc_id: "d2" }]);
    expect(await service.bootstrap()).toEqual({ layout: "verified" });
  });

  it("leaves the v1 layout whole when the upgrade fails", async () => {
    await writeHistory();
    await h.service.close();
    await downgradeToLayoutV1(h.db.pool);
    // A hash no v1 build could have written makes the hex decode fail halfway through the upgrade.
    await h.db.pool.query("UPDATE sync.bundle_log SET bundle_hash = 'not hex' WHERE bundle_seq = 3");
    const v1 = await columnTypes();

    await expect(laterService().bootstrap()).rejects.toThrow(/hexadecimal/);
    expect((await h.db.pool.query("SELECT layout FROM sync.meta")).rows).toEqual([{ layout: LAYOUT_V1 }]);
    expect(await columnTypes()).toEqual(v1);
    const { rows } = await h.db.pool.query(
      "SELECT count(*)::int AS n FROM sync.bundle_rows WHERE key_text IS NULL",
    );
    expect(rows).toEqual([{ n: 0 }]);
  });
});
