/**
 * A RetryClock for tests: sleeping advances the clock at once and is recorded, and `random`
 * returns scripted values, so retry loops run deterministically without waiting.
 */
import type { RetryClock } from "@oversync/client";

/** A fake clock with its record of sleeps. */
export interface FakeRetryClock extends RetryClock {
  /** Every requested sleep, in order. */
  readonly sleeps: number[];
}

/** Starts at `start` ms; `random` answers from `randoms` in turn (the last repeats), default 0. */
export function fakeRetryClock(options?: { start?: number; randoms?: readonly number[] }): FakeRetryClock {
  let now = options?.start ?? 0;
  const randoms = options?.randoms ?? [0];
  let draws = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    random: () => randoms[Math.min(draws++, randoms.length - 1)] ?? 0,
    sleep: async (millis, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(millis);
      now += millis;
    },
  };
}
