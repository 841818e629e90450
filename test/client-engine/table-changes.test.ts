/**
 * Table-change notifications:
 * - `invalidation/behavior/basic.json`: each action (pulls, hydrate, replay, conflict rewrite, sync,
 *   detaches) must (or must not) report a `sync` change of a watched table; the local writes that
 *   set a case up are `local` changes and do not count;
 * - `local-schema/<dir>/write-transitions.json` `expectedInvalidatedTables`: the application's own
 *   write statements must be reported as `local` changes of exactly those tables (cascades
 *   included, apply mode or not).
 */
import type { SyncConfig, TablesChanged } from "@oversync/client";
import { describe, expect } from "vitest";
import { statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, readContractText, requireContracts } from "../support/contracts.js";
import { type EngineHarness, SCHEMA_PRESETS, startEngineHarness } from "./engine-harness.js";

interface InvalidationCase {
  name: string;
  action: string;
  watchTables: string[];
  expectedEmission: boolean;
}

interface WriteTransitionCase {
  name: string;
  setupSql: string[];
  actionSql: string[];
  expectedInvalidatedTables?: string[];
}

const INVALIDATION_FILE = "invalidation/behavior/basic.json";
const LOCAL_SCHEMAS = ["basic-sync", "blob-sync", "cascade-sync", "business-rich-v0"] as const;
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("invalidation behavior fixtures", () => {
  const cases = available ? readContract<{ cases: InvalidationCase[] }>(INVALIDATION_FILE).cases : [];
  for (const fixture of cases) {
    tally.it(INVALIDATION_FILE, `${INVALIDATION_FILE} ${fixture.name}`, () => runInvalidationCase(fixture));
  }
});

describe.skipIf(!available)("local write invalidation (local-schema write transitions)", () => {
  for (const dir of LOCAL_SCHEMAS) {
    const file = `local-schema/${dir}/write-transitions.json`;
    const cases = available ? readContract<{ cases: WriteTransitionCase[] }>(file).cases : [];
    for (const fixture of cases.filter((candidate) => candidate.expectedInvalidatedTables !== undefined)) {
      tally.it(file, `${file} ${fixture.name}`, () => runWriteTransition(dir, fixture));
    }
  }
});

const USERS_POSTS: SyncConfig = {
  schema: "main",
  syncTables: [
    { tableName: "users", syncKeyColumnName: "id" },
    { tableName: "posts", syncKeyColumnName: "id" },
  ],
};

function userRow(id: string, name: string) {
  return { schema: "main", table: "users", key: { id }, op: "INSERT" as const, payload: { id, name } };
}

async function runInvalidationCase(fixture: InvalidationCase): Promise<void> {
  const harness = await startEngineHarness({ schema: SCHEMA_PRESETS["users-posts"], config: USERS_POSTS });
  try {
    const { client, backend } = harness;
    await client.open();
    const seen: TablesChanged[] = [];
    const watch = () => client.onTablesChanged((change) => seen.push(change));
    switch (fixture.action) {
      case "incrementalPull":
        await client.attach("user-1");
        backend.appendBundle({ rows: [userRow("u1", "Ada")] });
        watch();
        await client.pullToStable();
        break;
      case "snapshotHydrate":
        await client.attach("user-1");
        backend.override(
          "pull",
          () => () =>
            statusReply(409, {
              error: "history_pruned",
              message: "after_bundle_seq 0 is below retained floor 7",
            }),
        );
        backend.enqueueSnapshot({
          id: "snapshot-hydrate",
          bundleSeq: 7,
          rows: [{ ...userRow("u1", "Snapshot"), row_version: 7 }],
        });
        watch();
        expect((await client.pullToStable()).outcome).toBe("applied_snapshot");
        break;
      case "committedReplay":
        await client.attach("user-1");
        watch();
        await harness.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada')"]);
        expect((await client.pushPending()).outcome).toBe("committed");
        break;
      case "conflictRewrite": {
        await client.attach("user-1");
        backend.appendBundle({ rows: [userRow("u1", "Original")] });
        await client.pullToStable();
        watch();
        await harness.execute(["UPDATE users SET name = 'Local Edit' WHERE id = 'u1'"]);
        let conflicted = false;
        backend.override("pushCommit", (next) => (request, params) => {
          if (conflicted) return next(request, params);
          conflicted = true;
          return statusReply(409, {
            error: "push_conflict",
            message: "conflict",
            conflict: {
              schema: "main",
              table: "users",
              key: { id: "u1" },
              op: "UPDATE",
              base_row_version: 1,
              server_row_version: 99,
              server_row_deleted: false,
              server_row: { id: "u1", name: "Server Wins" },
            },
          });
        });
        await client.pushPending();
        expect(await harness.query("SELECT name FROM users")).toEqual([{ name: "Server Wins" }]);
        break;
      }
      case "syncUnion":
        await client.attach("user-1");
        await harness.execute([
          "INSERT INTO users(id, name) VALUES('local-user', 'Local User')",
          "INSERT INTO posts(id, user_id, title) VALUES('p1', 'local-user', 'Local Post')",
        ]);
        backend.appendBundle({ rows: [userRow("remote-user", "Remote User")] });
        watch();
        await client.sync();
        break;
      case "successfulDetach":
        await client.attach("user-1");
        backend.appendBundle({ rows: [userRow("u1", "Ada")] });
        await client.pullToStable();
        watch();
        expect((await client.detach()).outcome).toBe("detached");
        break;
      case "blockedDetach":
        await client.attach("user-1");
        watch();
        await harness.execute(["INSERT INTO users(id, name) VALUES('u1', 'Unsynced')"]);
        expect((await client.detach()).outcome).toBe("blocked_unsynced_data");
        break;
      case "noopDetach":
        await harness.execute([
          "UPDATE _sync_operation_state SET kind = 'remote_replace', target_user_id = 'user-1', staged_snapshot_id = '', " +
            "snapshot_bundle_seq = 0, snapshot_row_count = 0 WHERE singleton_key = 1",
        ]);
        watch();
        expect((await client.detach()).outcome).toBe("detached");
        break;
      default:
        throw new Error(`unknown invalidation action ${fixture.action}`);
    }
    await settle();
    const syncTables = new Set(
      seen.filter((change) => change.origin === "sync").flatMap((change) => [...change.tables]),
    );
    const watched = fixture.watchTables.filter((table) => syncTables.has(table));
    if (fixture.expectedEmission) {
      // A sync round reports the union of what it pushed and pulled: every watched table.
      expect(watched.sort(), fixture.name).toEqual(
        fixture.action === "syncUnion"
          ? [...fixture.watchTables].sort()
          : expect.arrayContaining([fixture.watchTables[0]]),
      );
    } else {
      expect(watched, fixture.name).toEqual([]);
    }
  } finally {
    await harness.close();
  }
}

async function runWriteTransition(dir: string, fixture: WriteTransitionCase): Promise<void> {
  const harness: EngineHarness = await startEngineHarness({
    schema: [readContractText(`local-schema/${dir}/schema.sql`)],
    config: readContract<SyncConfig>(`local-schema/${dir}/config.json`),
  });
  try {
    await harness.client.open();
    for (const statement of fixture.setupSql) await harness.driver.exec(statement);
    await settle();
    const local = new Set<string>();
    harness.client.onTablesChanged((change) => {
      if (change.origin === "local") for (const table of change.tables) local.add(table);
    });
    for (const statement of fixture.actionSql) await harness.driver.exec(statement);
    await settle();
    expect([...local].sort(), fixture.name).toEqual([...(fixture.expectedInvalidatedTables ?? [])].sort());
  } finally {
    await harness.close();
  }
}

/** Lets queued notifications run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
