/**
 * The everyday gate of push, pull and sync reuses a recent capability check instead of asking the
 * server before every call; a failed operation, the check's age, detach and rebuild make the client
 * ask again.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { CAPABILITIES_MAX_AGE_MILLIS } from "../../packages/client/src/engine/capability-gate.js";
import { failFirst, statusReply } from "../client-support/scripted-replies.js";
import { type EngineHarness, startAttachedHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await harness?.close();
  harness = undefined;
});

async function attached(): Promise<EngineHarness> {
  harness = await startAttachedHarness();
  return harness;
}

const capabilityChecks = (h: EngineHarness) => h.server.requestsTo("capabilities").length;

describe("capability checks", () => {
  it("push, pull and sync reuse the check attach made", async () => {
    const h = await attached();
    const afterAttach = capabilityChecks(h);
    expect(afterAttach).toBe(1);
    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    await h.client.pushPending();
    await h.client.pullToStable();
    await h.execute(["INSERT INTO users (id, name) VALUES ('u2', 'Bea')"]);
    await h.client.sync();
    expect(h.server.requestsTo("pushCommit")).toHaveLength(2);
    expect(capabilityChecks(h)).toBe(afterAttach);
  });

  it("a failed operation makes the next one check again", async () => {
    const h = await attached();
    h.backend.override("pull", (next) => failFirst(1, statusReply(500, { error: "temporary" }), next));
    await expect(h.client.pullToStable()).rejects.toThrow();
    const beforeRetry = capabilityChecks(h);
    await h.client.pullToStable();
    expect(capabilityChecks(h)).toBe(beforeRetry + 1);
  });

  it("a check older than the limit is made again", async () => {
    const h = await attached();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + CAPABILITIES_MAX_AGE_MILLIS - 1000);
    await h.client.pullToStable();
    expect(capabilityChecks(h)).toBe(1);
    vi.setSystemTime(Date.now() + 2000);
    await h.client.pullToStable();
    expect(capabilityChecks(h)).toBe(2);
  });

  it("rebuild and syncThenDetach always check the server first", async () => {
    const h = await attached();
    await h.client.rebuild();
    // rebuild's gate, then the snapshot negotiation.
    expect(capabilityChecks(h)).toBe(3);
    await h.client.syncThenDetach();
    expect(capabilityChecks(h)).toBe(4);
  });
});
