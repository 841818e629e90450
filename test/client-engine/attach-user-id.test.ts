/**
 * attach(userId) applies the server's identity rules (protocol identity.ts) before anything else: a
 * user id the server would refuse, or that PostgreSQL would store as another user's, never binds the
 * database and never reaches the network.
 */
import { isClientError } from "@oversync/client";
import { MAX_IDENTITY_BYTES } from "@oversync/protocol";
import { afterEach, expect, it } from "vitest";
import { type EngineHarness, startEngineHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

it("refuses a lone surrogate, NUL and an id over the byte limit with invalid_argument, sending nothing", async () => {
  harness = await startEngineHarness();
  await harness.client.open();
  const refused: [string, RegExp][] = [
    ["victim\ud800", /lone surrogate U\+D800/],
    ["nul\u0000id", /U\+0000/],
    ["é".repeat(MAX_IDENTITY_BYTES / 2 + 1), /more than the 512 allowed/],
  ];
  for (const [userId, reason] of refused) {
    const error = await harness.client.attach(userId).catch((caught: unknown) => caught);
    expect(isClientError(error, "invalid_argument"), JSON.stringify(userId)).toBe(true);
    expect((error as Error).message).toMatch(reason);
  }
  expect(harness.server.requests).toHaveLength(0);
  const rows = await harness.query<{ binding_state: string }>(
    "SELECT binding_state FROM _sync_attachment_state",
  );
  expect(rows).toEqual([{ binding_state: "anonymous" }]);

  // An id of exactly MAX_IDENTITY_BYTES attaches.
  expect(await harness.client.attach("é".repeat(MAX_IDENTITY_BYTES / 2))).toMatchObject({
    status: "connected",
  });
});
