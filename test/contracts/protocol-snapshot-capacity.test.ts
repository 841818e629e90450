import {
  ERROR_STATUS,
  SNAPSHOT_CAPACITY_ERROR_CODES,
  SNAPSHOT_CAPACITY_RETRY,
  parseRetryAfterMillis,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

const FILE = "snapshot-capacity/retry.json";

interface Fixture {
  defaults: {
    enabled: boolean;
    max_wait_millis: number;
    fallback_delay_millis: number;
    positive_jitter_ratio: number;
  };
  retry_after_cases: { wire: string; expected_millis: number | null }[];
  capacity_error_codes: string[];
}

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

describe.skipIf(!available)(FILE, () => {
  contractCase("defaults", () => {
    expect(fixture!.defaults).toEqual({
      enabled: true,
      max_wait_millis: SNAPSHOT_CAPACITY_RETRY.maxWaitMillis,
      fallback_delay_millis: SNAPSHOT_CAPACITY_RETRY.fallbackDelayMillis,
      positive_jitter_ratio: SNAPSHOT_CAPACITY_RETRY.positiveJitterRatio,
    });
  });

  contractCase("capacity_error_codes are sent with 429", () => {
    expect(fixture!.capacity_error_codes).toEqual([...SNAPSHOT_CAPACITY_ERROR_CODES]);
    for (const code of SNAPSHOT_CAPACITY_ERROR_CODES) expect(ERROR_STATUS[code]).toBe(429);
  });

  describe("retry_after_cases", () => {
    for (const retry of fixture?.retry_after_cases ?? []) {
      contractCase(`Retry-After ${JSON.stringify(retry.wire)}`, () => {
        expect(parseRetryAfterMillis(retry.wire)).toBe(retry.expected_millis);
      });
    }
  });
});
