import { canonicalRequestHash } from "@oversync/protocol";
import { type SyncRuntime, createSyncService } from "@oversync/server";
import { afterEach, beforeEach, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { actor, docRow, initializeScope, push, rejection } from "./service-harness.js";

let db: TestDatabase;
let service: SyncRuntime;
const logged: { message: string; details: unknown }[] = [];
const ada = actor("ada", "phone");

beforeEach(async () => {
  db = await createTestDatabase("oversync_faults");
  await createBusinessSchema(db.pool);
  logged.length = 0;
  service = createSyncService({
    pool: db.pool,
    appName: "faults",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: (message, details) => logged.push({ message, details }) },
  });
  await service.bootstrap();
  await initializeScope(service, ada);
});

afterEach(async () => {
  await service.close();
  await db.drop();
});

// Real faults: a runtime table the service needs has gone missing underneath it.
it("turns unexpected database faults into each endpoint's 500 code without leaking details", async () => {
  await push(service, ada, 1, [docRow("a", "x")]);
  const created = await service.createPushSession(ada, {
    source_bundle_id: 2,
    planned_row_count: 2,
    canonical_request_hash: canonicalRequestHash([docRow("b", "y"), docRow("c", "z")]),
  });
  if (created.status !== "staging") throw new Error("expected staging");
  const pushId = created.push_id;
  await service.uploadPushChunk(ada, pushId, { start_row_ordinal: 0, rows: [docRow("b", "y")] });

  await db.pool.query("ALTER TABLE sync.push_session_rows RENAME TO push_session_rows_gone");
  expect(
    (
      await rejection(
        service.uploadPushChunk(ada, pushId, { start_row_ordinal: 1, rows: [docRow("c", "z")] }),
      )
    ).code,
  ).toBe("push_chunk_failed");
  await db.pool.query("ALTER TABLE sync.push_session_rows_gone RENAME TO push_session_rows");
  await service.uploadPushChunk(ada, pushId, { start_row_ordinal: 1, rows: [docRow("c", "z")] });

  await db.pool.query("ALTER TABLE sync.bundle_rows RENAME TO bundle_rows_gone");
  const commit = await rejection(service.commitPushSession(ada, pushId));
  expect([commit.code, commit.status]).toEqual(["push_session_commit_failed", 500]);
  expect((await rejection(service.getCommittedBundleRows(ada, { bundle_seq: 1 }))).code).toBe(
    "committed_bundle_rows_failed",
  );
  expect((await rejection(service.pull(ada, { after_bundle_seq: 0 }))).code).toBe("pull_failed");
  await db.pool.query("ALTER TABLE sync.bundle_rows_gone RENAME TO bundle_rows");

  await db.pool.query("ALTER TABLE sync.push_session_rows RENAME TO push_session_rows_gone");
  expect((await rejection(service.deletePushSession(ada, pushId))).code).toBe("push_session_delete_failed");
  expect(
    (
      await rejection(
        service.createPushSession(ada, {
          source_bundle_id: 2,
          planned_row_count: 1,
          canonical_request_hash: "0".repeat(64),
        }),
      )
    ).code,
  ).toBe("push_session_create_failed");
  await db.pool.query("ALTER TABLE sync.user_state RENAME TO user_state_gone");
  expect((await rejection(service.connect(ada, { has_local_pending_rows: false }))).code).toBe(
    "connect_failed",
  );
  expect((await rejection(service.status())).code).toBe("status_failed");
  expect((await rejection(service.health())).code).toBe("health_failed");
  await db.pool.query("ALTER TABLE sync.user_state_gone RENAME TO user_state");
  await db.pool.query("ALTER TABLE sync.push_session_rows_gone RENAME TO push_session_rows");

  expect(commit.message).toBe("push commit failed on the server; retry later");
  expect(logged.map((entry) => entry.message)).toEqual([
    "push chunk failed",
    "push commit failed",
    "committed rows failed",
    "pull failed",
    "push session delete failed",
    "push session create failed",
    "connect failed",
    "status query failed",
    "status query failed",
  ]);
  // The failed commit changed nothing: the session is still staged and commits once repaired.
  expect(await service.commitPushSession(ada, pushId)).toMatchObject({ bundle_seq: 2 });
});
