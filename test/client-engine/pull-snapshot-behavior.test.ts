/**
 * Runs `pull-snapshot/behavior/apply.json` against the engine: scripted pull pages and snapshot
 * sessions/chunks, `pullToStable` and `rebuild` steps, with the fixture's error fragments,
 * checkpoint-recovery blockers, durable counters and application rows. Where the fixture gives
 * runtime-specific variants (`expectedKmp…`, `expectedDart…`) the generic expectation is used.
 *
 * Scripted here: this file's server accepts no push (a create answers 400 `pending_work`), so
 * checkpoint recovery with pending work stays blocked, as the fixture intends.
 */
import type { SyncConfig } from "@oversync/client";
import { describe, expect } from "vitest";
import { applyServerScript, type ServerScript } from "../client-support/fixture-scripts.js";
import { statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import {
  type EngineHarness,
  SCHEMA_PRESETS,
  scalar,
  scalarText,
  startEngineHarness,
} from "./engine-harness.js";
import { expectAppState, expectException, outcomeOf } from "./fixture-support.js";

interface BehaviorStep {
  action: "pullToStable" | "rebuild";
  setupSql?: string[];
  expectedException: string;
  expectedErrorContains?: string;
  expectedCheckpointRecoveryBlocked?: {
    reason: string;
    dirtyRowCount: number;
    outboxRowCount: number;
    replayState: string;
  };
  expectedState?: Record<string, unknown>;
  expectedAppState?: Record<string, unknown>;
}

interface BehaviorCase {
  name: string;
  schema?: string;
  syncTables?: SyncConfig["syncTables"];
  serverScript: ServerScript;
  steps: BehaviorStep[];
}

const FILE = "pull-snapshot/behavior/apply.json";
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("pull and snapshot behavior fixtures", () => {
  const cases = available ? readContract<{ cases: BehaviorCase[] }>(FILE).cases : [];
  for (const fixture of cases) tally.it(FILE, `${FILE} ${fixture.name}`, () => runCase(fixture));
});

async function runCase(fixture: BehaviorCase): Promise<void> {
  const harness = await startEngineHarness({
    schema: SCHEMA_PRESETS[fixture.schema ?? "users"],
    config: {
      schema: "main",
      syncTables: fixture.syncTables ?? [{ tableName: "users", syncKeyColumnName: "id" }],
    },
  });
  try {
    applyServerScript(harness.backend, fixture.serverScript);
    harness.backend.override(
      "pushCreate",
      () => () =>
        statusReply(400, {
          error: "pending_work",
          message: "fixture keeps checkpoint recovery outbox pending",
        }),
    );
    await harness.client.open();
    await harness.client.attach("user-1");
    for (const [index, step] of fixture.steps.entries()) {
      const label = `${fixture.name} step ${index + 1} (${step.action})`;
      await harness.execute(step.setupSql ?? []);
      const sourceBefore = await currentSource(harness);
      const { error } = await outcomeOf(() =>
        step.action === "pullToStable" ? harness.client.pullToStable() : harness.client.rebuild(),
      );
      expectException(step.expectedException, error, label);
      if (step.expectedErrorContains !== undefined) {
        expect((error as Error).message, label).toContain(step.expectedErrorContains);
      }
      const blocked = step.expectedCheckpointRecoveryBlocked;
      if (blocked !== undefined) {
        expect(error, label).toMatchObject({
          code: "checkpoint_recovery_blocked",
          reason: blocked.reason,
          dirtyRowCount: BigInt(blocked.dirtyRowCount),
          outboxRowCount: BigInt(blocked.outboxRowCount),
          replayState: blocked.replayState,
        });
      }
      if (step.expectedState) await expectState(harness, step.expectedState, sourceBefore, label);
      if (step.expectedAppState) await expectAppState(harness, step.expectedAppState, label);
    }
  } finally {
    await harness.close();
  }
}

function currentSource(harness: EngineHarness): Promise<string> {
  return scalarText(harness, "SELECT current_source_id FROM _sync_attachment_state");
}

async function expectState(
  harness: EngineHarness,
  expected: Record<string, unknown>,
  sourceBefore: string,
  label: string,
): Promise<void> {
  const actual: Record<string, unknown> = {};
  for (const name of Object.keys(expected)) {
    switch (name) {
      case "lastBundleSeqSeen":
        actual[name] = await scalar(harness, "SELECT last_bundle_seq_seen FROM _sync_attachment_state");
        break;
      case "rebuildRequired":
        actual[name] = await scalar(harness, "SELECT rebuild_required FROM _sync_attachment_state");
        break;
      case "dirtyRowCount":
        actual[name] = await scalar(harness, "SELECT count(*) FROM _sync_dirty_rows");
        break;
      case "snapshotStageCount":
        actual[name] = await scalar(harness, "SELECT count(*) FROM _sync_snapshot_stage");
        break;
      case "rowStateCount":
        actual[name] = await scalar(harness, "SELECT count(*) FROM _sync_row_state");
        break;
      case "outboxRowCount":
        actual[name] = await scalar(harness, "SELECT count(*) FROM _sync_outbox_rows");
        break;
      case "currentSourceChangedFromStepStart":
        actual[name] = (await currentSource(harness)) !== sourceBefore;
        break;
      case "oldSourceReplacedByCurrent": {
        const current = await currentSource(harness);
        const rows = await harness.driver.query<{ replaced_by_source_id: string }>(
          "SELECT replaced_by_source_id FROM _sync_source_state WHERE source_id = ?",
          [sourceBefore],
        );
        actual[name] = current !== sourceBefore && rows[0]?.replaced_by_source_id === current;
        break;
      }
      default:
        throw new Error(`${label}: unknown expectedState member ${name}`);
    }
  }
  expect(actual, label).toEqual(expected);
}
