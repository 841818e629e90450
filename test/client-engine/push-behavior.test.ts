/**
 * Runs `push/behavior/{apply,recovery}.json` against the engine: each case opens and attaches a
 * client over its schema preset, scripts the fake server (`serverScript`), runs the setup SQL and
 * then every step (`pushPending`, `localSql`, `applyModeSql`), checking the exception, the durable
 * counters, the application rows and what the server received.
 */
import type { SyncConfig } from "@oversync/client";
import { describe } from "vitest";
import { expect } from "vitest";
import { applyServerScript, type ServerScript } from "../client-support/fixture-scripts.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import {
  type EngineHarness,
  SCHEMA_PRESETS,
  scalar,
  scalarText,
  startEngineHarness,
} from "./engine-harness.js";
import {
  expectAppState,
  expectException,
  lastUploadedRows,
  outcomeOf,
  pushCreateRequests,
  resolverFor,
} from "./fixture-support.js";

interface PushStep {
  action: "pushPending" | "localSql" | "applyModeSql";
  sql?: string[];
  expectedException: string;
  expectedState?: Record<string, unknown>;
  expectedAppState?: Record<string, unknown>;
  expectedServerState?: { uploadedRows?: string[]; createRequestCount?: number };
}

interface PushCase {
  name: string;
  schema?: string;
  syncTables?: SyncConfig["syncTables"];
  resolver?: string;
  localSetupSql?: string[];
  localApplyModeSql?: string[];
  serverScript: ServerScript;
  steps: PushStep[];
}

const FILES = ["push/behavior/apply.json", "push/behavior/recovery.json"] as const;
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("push behavior fixtures", () => {
  for (const file of FILES) {
    const cases = available ? readContract<{ cases: PushCase[] }>(file).cases : [];
    for (const fixture of cases) {
      tally.it(file, `${file} ${fixture.name}`, () => runCase(fixture));
    }
  }
});

async function runCase(fixture: PushCase): Promise<void> {
  const harness = await startEngineHarness({
    schema: SCHEMA_PRESETS[fixture.schema ?? "users"],
    config: {
      schema: "main",
      syncTables: fixture.syncTables ?? [{ tableName: "users", syncKeyColumnName: "id" }],
    },
    client: { resolver: resolverFor(fixture.resolver) },
  });
  try {
    applyServerScript(harness.backend, fixture.serverScript);
    await harness.client.open();
    await harness.client.attach("user-1");
    await harness.execute(fixture.localSetupSql ?? []);
    if (fixture.localApplyModeSql !== undefined) await harness.executeApplyMode(fixture.localApplyModeSql);
    for (const [index, step] of fixture.steps.entries()) {
      const label = `${fixture.name} step ${index + 1} (${step.action})`;
      const { error } = await outcomeOf(() => runStep(harness, step));
      expectException(step.expectedException, error, label);
      if (step.expectedState) await expectPushState(harness, step.expectedState, label);
      if (step.expectedAppState) await expectAppState(harness, step.expectedAppState, label);
      const server = step.expectedServerState;
      if (server?.uploadedRows) expect(lastUploadedRows(harness.server), label).toEqual(server.uploadedRows);
      if (server?.createRequestCount !== undefined) {
        expect(pushCreateRequests(harness.server), label).toHaveLength(server.createRequestCount);
      }
    }
  } finally {
    await harness.close();
  }
}

async function runStep(harness: EngineHarness, step: PushStep): Promise<void> {
  switch (step.action) {
    case "pushPending":
      await harness.client.pushPending();
      return;
    case "localSql":
      await harness.execute(step.sql ?? []);
      return;
    case "applyModeSql":
      await harness.executeApplyMode(step.sql ?? []);
      return;
  }
}

/** The counters of `expectedState` (push fixtures check these rather than whole dumps). */
export async function expectPushState(
  harness: EngineHarness,
  expected: Record<string, unknown>,
  label: string,
): Promise<void> {
  const actual: Record<string, unknown> = {};
  for (const name of Object.keys(expected)) {
    switch (name) {
      case "rebuildRequired":
        actual[name] = (await scalar(harness, "SELECT rebuild_required FROM _sync_attachment_state")) === 1;
        break;
      case "outboxState":
        actual[name] = await scalarText(harness, "SELECT state FROM _sync_outbox_bundle");
        break;
      case "outboxRowCount":
        actual[name] = await scalar(harness, "SELECT count(*) FROM _sync_outbox_rows");
        break;
      case "dirtyRowCount":
        actual[name] = await scalar(harness, "SELECT count(*) FROM _sync_dirty_rows");
        break;
      case "nextSourceBundleId":
        actual[name] = await scalar(
          harness,
          "SELECT next_source_bundle_id FROM _sync_source_state WHERE source_id = (SELECT current_source_id FROM _sync_attachment_state)",
        );
        break;
      case "lastBundleSeqSeen":
        actual[name] = await scalar(harness, "SELECT last_bundle_seq_seen FROM _sync_attachment_state");
        break;
      case "applyMode":
        actual[name] = await scalar(harness, "SELECT apply_mode FROM _sync_apply_state");
        break;
      default:
        throw new Error(`${label}: unknown expectedState member ${name}`);
    }
  }
  expect(actual, label).toEqual(expected);
}
