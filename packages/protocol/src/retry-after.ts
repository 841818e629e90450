/**
 * Retry of the two snapshot capacity errors (protocol-latest §0 "Retry-After",
 * snapshot-capacity/retry.json): parse `Retry-After`, add positive jitter, give up after 30 s.
 */

/** The client's capacity-retry policy defaults. */
export const SNAPSHOT_CAPACITY_RETRY = {
  maxWaitMillis: 30_000,
  fallbackDelayMillis: 1000,
  positiveJitterRatio: 1.0,
} as const;

/**
 * Reads `Retry-After` as a positive whole number of seconds and returns milliseconds. An HTTP-date,
 * 0, a negative or fractional value, an empty or absent header all mean "absent" (null).
 */
export function parseRetryAfterMillis(header: string | null | undefined): number | null {
  if (header === null || header === undefined || !/^[1-9][0-9]*$/.test(header)) return null;
  const millis = Number(header) * 1000;
  return Number.isSafeInteger(millis) ? millis : null;
}

/**
 * The wait before the next capacity retry, or null to give up: the Retry-After delay (or the 1 s
 * fallback) plus up to 100 % positive jitter, unless that would pass the 30 s budget. `random`
 * returns a value in [0, 1).
 */
export function nextCapacityRetryDelay(options: {
  retryAfterMillis: number | null;
  elapsedMillis: number;
  random: () => number;
}): number | null {
  const base = options.retryAfterMillis ?? SNAPSHOT_CAPACITY_RETRY.fallbackDelayMillis;
  const delay = Math.round(base + base * SNAPSHOT_CAPACITY_RETRY.positiveJitterRatio * options.random());
  return options.elapsedMillis + delay > SNAPSHOT_CAPACITY_RETRY.maxWaitMillis ? null : delay;
}
