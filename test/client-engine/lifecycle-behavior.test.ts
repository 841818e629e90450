/**
 * Runs `lifecycle/behavior/{basic,protocol-gates,source-recovery-replacement}.json`: every step's
 * exception, result and server observations, then the whole normalized `_sync_*` state. After
 * every step each successful snapshot session must also have been retired (DELETEd).
 * `reopenOpen` closes the client and opens a new one over the same database without attaching.
 */
import type { SyncClient } from "@oversync/client";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type EngineHarness, startEngineHarness } from "./engine-harness.js";
import { expectException, outcomeOf, pushCreateRequests } from "./fixture-support.js";
import { type LifecycleScript, type LifecycleServerLog, applyLifecycleScript } from "./lifecycle-server.js";
import { dumpNormalizedState } from "./state-dump.js";

interface LifecycleStep {
  action: string;
  sql?: string[];
  expectedException?: string;
  expectedResult?: Record<string, unknown>;
  expectedServerState?: {
    createRequestCount?: number;
    createSourceBundleIds?: number[];
    snapshotSessionCreateCount?: number;
    snapshotSourceReplacementRequests?: string[];
  };
  expectedState: unknown;
}

interface LifecycleCase {
  name: string;
  serverScript?: LifecycleScript;
  steps: LifecycleStep[];
}

const FILES = [
  "lifecycle/behavior/basic.json",
  "lifecycle/behavior/protocol-gates.json",
  "lifecycle/behavior/source-recovery-replacement.json",
] as const;
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("lifecycle behavior fixtures", () => {
  for (const file of FILES) {
    const cases = available ? readContract<{ cases: LifecycleCase[] }>(file).cases : [];
    for (const fixture of cases) tally.it(file, `${file} ${fixture.name}`, () => runCase(fixture));
  }
});

async function runCase(fixture: LifecycleCase): Promise<void> {
  const harness = await startEngineHarness();
  try {
    const log = applyLifecycleScript(harness.backend, fixture.serverScript, (statements) =>
      harness.execute(statements),
    );
    for (const [index, step] of fixture.steps.entries()) {
      const label = `${fixture.name} step ${index + 1} (${step.action})`;
      const { error, result } = await outcomeOf(() => runStep(harness, step));
      expectException(step.expectedException ?? "none", error, label);
      if (step.expectedResult !== undefined) expect(result, `${label} result`).toEqual(step.expectedResult);
      if (step.expectedServerState !== undefined)
        expectServerState(harness, log, step.expectedServerState, label);
      expect(await dumpNormalizedState(harness.driver), label).toEqual(step.expectedState);
      expect(log.snapshotRetirementCount, `${label} snapshot retirement`).toBe(
        log.successfulSnapshotSessionCount,
      );
    }
  } finally {
    await harness.close();
  }
}

/** Runs one step and returns its result in the fixtures' shape (undefined for steps without one). */
async function runStep(
  harness: EngineHarness,
  step: LifecycleStep,
): Promise<Record<string, unknown> | undefined> {
  const client: SyncClient = harness.client;
  switch (step.action) {
    case "open":
      await client.open();
      return undefined;
    case "reopenOpen":
      await (await harness.reopen()).open();
      return undefined;
    case "localSql":
      await harness.execute(step.sql ?? []);
      return undefined;
    case "applyModeSql":
      await harness.executeApplyMode(step.sql ?? []);
      return undefined;
    case "attach": {
      const result = await client.attach("user-1");
      return result.status === "connected"
        ? { kind: "attach", outcome: result.outcome }
        : { kind: "attach_retry_later", retryAfterSeconds: result.retryAfterSeconds };
    }
    case "sync": {
      const report = await client.sync();
      return { kind: "sync", pushOutcome: report.pushOutcome, remoteOutcome: report.remoteOutcome };
    }
    case "syncThenDetach": {
      const result = await client.syncThenDetach();
      return {
        kind: "sync_then_detach",
        isSuccess: result.isSuccess,
        detach: result.detach,
        syncRounds: result.syncRounds,
        remainingPendingRowCount: Number(result.remainingPendingRowCount),
        pushOutcome: result.lastSync.pushOutcome,
        remoteOutcome: result.lastSync.remoteOutcome,
      };
    }
    case "rebuild":
      return { kind: "remote_sync", outcome: (await client.rebuild()).outcome };
    case "detach":
      return { kind: "detach", outcome: (await client.detach()).outcome };
    case "sourceInfo": {
      const info = await client.sourceInfo();
      return {
        kind: "source_info",
        currentSourceIdPresent: info.currentSourceId !== "",
        rebuildRequired: info.rebuildRequired,
        sourceRecoveryRequired: info.sourceRecoveryRequired,
        ...(info.sourceRecoveryReason === undefined
          ? {}
          : { sourceRecoveryReason: info.sourceRecoveryReason }),
      };
    }
    default:
      throw new Error(`unknown lifecycle action ${step.action}`);
  }
}

function expectServerState(
  harness: EngineHarness,
  log: LifecycleServerLog,
  expected: NonNullable<LifecycleStep["expectedServerState"]>,
  label: string,
): void {
  const creates = pushCreateRequests(harness.server);
  if (expected.createRequestCount !== undefined)
    expect(creates, label).toHaveLength(expected.createRequestCount);
  if (expected.createSourceBundleIds !== undefined) {
    expect(
      creates.map((request) => request.source_bundle_id),
      label,
    ).toEqual(expected.createSourceBundleIds);
  }
  if (expected.snapshotSessionCreateCount !== undefined) {
    expect(log.snapshotSessionCreateCount, label).toBe(expected.snapshotSessionCreateCount);
  }
  if (expected.snapshotSourceReplacementRequests !== undefined) {
    expect(log.snapshotSourceReplacementRequests, label).toEqual(expected.snapshotSourceReplacementRequests);
  }
}
