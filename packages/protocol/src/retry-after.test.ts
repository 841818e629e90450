import { describe, expect, it } from "vitest";
import { nextCapacityRetryDelay, parseRetryAfterMillis } from "./retry-after.js";

describe("capacity retry", () => {
  it("reads only positive whole seconds", () => {
    expect(parseRetryAfterMillis("2")).toBe(2000);
    for (const absent of [
      null,
      undefined,
      "",
      "0",
      "-1",
      "1.5",
      " 1",
      "01",
      "Wed, 21 Oct 2015 07:28:00 GMT",
    ]) {
      expect(parseRetryAfterMillis(absent)).toBeNull();
    }
    expect(parseRetryAfterMillis("99999999999999999999")).toBeNull();
  });

  it("adds up to 100% positive jitter and gives up when the budget would be passed", () => {
    expect(nextCapacityRetryDelay({ retryAfterMillis: null, elapsedMillis: 0, random: () => 0 })).toBe(1000);
    expect(nextCapacityRetryDelay({ retryAfterMillis: 2000, elapsedMillis: 0, random: () => 0.5 })).toBe(
      3000,
    );
    expect(nextCapacityRetryDelay({ retryAfterMillis: 16000, elapsedMillis: 0, random: () => 0 })).toBe(
      16000,
    );
    expect(
      nextCapacityRetryDelay({ retryAfterMillis: 16000, elapsedMillis: 0, random: () => 0.99 }),
    ).toBeNull();
    expect(
      nextCapacityRetryDelay({ retryAfterMillis: 1000, elapsedMillis: 29500, random: () => 0 }),
    ).toBeNull();
  });
});
