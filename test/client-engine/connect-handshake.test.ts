/**
 * Runs the `cases` of `protocol-handshake/connect.json` through `attach`: the fake server answers
 * capabilities and connect with the case's bodies; the attach outcome, whether connect was called
 * (and with which `has_local_pending_rows`), the binding and the seeding lease must match.
 * (`contractCases` belong to the protocol suite's table-contract comparator.)
 */
import {
  type CapabilitiesResponse,
  decodeCapabilitiesBody,
  supportsConnectLifecycle,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { scalarText, startEngineHarness } from "./engine-harness.js";
import { outcomeOf } from "./fixture-support.js";

interface ConnectCase {
  name: string;
  capabilities: { status: number; body: Record<string, unknown> };
  connect: { status: number; body: Record<string, unknown> } | null;
  local: { hasLocalPendingRows: boolean };
  expected: {
    connectLifecycleSupported: boolean;
    connectCalled: boolean;
    attachKind: "unsupportedCapability" | "retryLater" | "connected";
    attachOutcome?: string;
    bindingState?: string;
    pendingInitializationId?: string;
    retryAfterSeconds?: number;
  };
}

const FILE = "protocol-handshake/connect.json";
const OUTCOMES: Readonly<Record<string, string>> = {
  startedEmpty: "started_empty",
  seededFromLocal: "seeded_from_local",
  usedRemoteState: "used_remote_state",
  resumedAttachedState: "resumed_attached_state",
};
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("connect handshake cases (attach)", () => {
  const cases = available ? readContract<{ cases: ConnectCase[] }>(FILE).cases : [];
  for (const fixture of cases) tally.it(FILE, `${FILE} ${fixture.name}`, () => runCase(fixture));
});

async function runCase(fixture: ConnectCase): Promise<void> {
  const harness = await startEngineHarness();
  try {
    const { capabilities, connect, expected } = fixture;
    harness.backend.override("capabilities", () => () => statusReply(capabilities.status, capabilities.body));
    harness.backend.override(
      "connect",
      (next) => (request, params) =>
        connect === null ? next(request, params) : statusReply(connect.status, connect.body),
    );
    const decoded: CapabilitiesResponse = decodeCapabilitiesBody(JSON.stringify(capabilities.body));
    expect(supportsConnectLifecycle(decoded)).toBe(expected.connectLifecycleSupported);

    await harness.client.open();
    if (fixture.local.hasLocalPendingRows) {
      await harness.execute(["INSERT INTO users(id, name) VALUES('local-1', 'Local')"]);
    }
    const { error, result } = await outcomeOf(() => harness.client.attach("user-1"));
    const connects = harness.server.requestsTo("connect");
    expect(connects.length > 0, "connect called").toBe(expected.connectCalled);
    for (const request of connects) {
      expect(request.body).toEqual({ has_local_pending_rows: fixture.local.hasLocalPendingRows });
    }
    switch (expected.attachKind) {
      case "unsupportedCapability":
        expect(error).toMatchObject({ code: "attach_lifecycle_unsupported" });
        break;
      case "retryLater":
        expect(error).toBeUndefined();
        expect(result).toEqual({ status: "retry_later", retryAfterSeconds: expected.retryAfterSeconds });
        break;
      case "connected":
        expect(error).toBeUndefined();
        expect(result).toMatchObject({ status: "connected", outcome: OUTCOMES[expected.attachOutcome!] });
        break;
    }
    if (expected.bindingState !== undefined) {
      expect(await scalarText(harness, "SELECT binding_state FROM _sync_attachment_state")).toBe(
        expected.bindingState,
      );
    }
    if (expected.pendingInitializationId !== undefined) {
      expect(
        (await harness.driver.query("SELECT pending_initialization_id AS id FROM _sync_attachment_state"))[0]
          ?.id,
      ).toBe(expected.pendingInitializationId);
    }
  } finally {
    await harness.close();
  }
}
