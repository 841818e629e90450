/**
 * Runs `runtime-state/transitions/basic.json`: after every step the whole normalized `_sync_*`
 * state must equal the fixture's. `reopen` closes the client and attaches a new one over the same
 * database, as an app restart would.
 */
import { describe, expect } from "vitest";
import { applyServerScript, type ServerScript } from "../client-support/fixture-scripts.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type EngineHarness, startEngineHarness } from "./engine-harness.js";
import { expectException, outcomeOf } from "./fixture-support.js";
import { dumpNormalizedState } from "./state-dump.js";

interface TransitionStep {
  action: "open" | "attach" | "localSql" | "pushPending" | "pullToStable" | "reopen" | "sourceInfo";
  sql?: string[];
  expectedException?: string;
  expectedState: unknown;
}

interface TransitionCase {
  name: string;
  serverScript?: ServerScript;
  steps: TransitionStep[];
}

const FILE = "runtime-state/transitions/basic.json";
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("runtime-state transition fixtures", () => {
  const cases = available ? readContract<{ cases: TransitionCase[] }>(FILE).cases : [];
  for (const fixture of cases) tally.it(FILE, `${FILE} ${fixture.name}`, () => runCase(fixture));
});

async function runCase(fixture: TransitionCase): Promise<void> {
  const harness = await startEngineHarness();
  try {
    if (fixture.serverScript) applyServerScript(harness.backend, fixture.serverScript);
    for (const [index, step] of fixture.steps.entries()) {
      const label = `${fixture.name} step ${index + 1} (${step.action})`;
      const { error } = await outcomeOf(() => runStep(harness, step));
      expectException(step.expectedException ?? "none", error, label);
      expect(await dumpNormalizedState(harness.driver), label).toEqual(step.expectedState);
    }
  } finally {
    await harness.close();
  }
}

async function runStep(harness: EngineHarness, step: TransitionStep): Promise<void> {
  switch (step.action) {
    case "open":
      return harness.client.open();
    case "attach":
      await harness.client.attach("user-1");
      return;
    case "localSql":
      return harness.execute(step.sql ?? []);
    case "pushPending":
      await harness.client.pushPending();
      return;
    case "pullToStable":
      await harness.client.pullToStable();
      return;
    case "reopen": {
      const client = await harness.reopen();
      await client.open();
      await client.attach("user-1");
      return;
    }
    case "sourceInfo":
      await harness.client.sourceInfo();
      return;
  }
}
