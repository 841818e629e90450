/**
 * How many examples each property tries. The defaults keep the whole property suite within a few
 * seconds per file on two cores; `FAST_CHECK_RUNS=<n>` runs every property n times instead, for a
 * deeper search before a release or after touching a decoder.
 */
import type fc from "fast-check";

/** The run count: FAST_CHECK_RUNS when it is a positive integer, otherwise `defaultRuns`. */
export function propertyRuns(defaultRuns: number): number {
  const override = Number(process.env.FAST_CHECK_RUNS);
  return Number.isSafeInteger(override) && override > 0 ? override : defaultRuns;
}

/** fc.assert parameters with the run count above; fast-check prints the counterexample and seed. */
export function runs<T>(defaultRuns: number): fc.Parameters<T> {
  return { numRuns: propertyRuns(defaultRuns) };
}

/**
 * A vitest timeout for a property whose runs each take up to `msPerRun` (real HTTP or PostgreSQL),
 * so raising FAST_CHECK_RUNS lengthens the budget instead of failing on the default 60 s.
 */
export function timeoutFor(defaultRuns: number, msPerRun: number): number {
  return 60_000 + propertyRuns(defaultRuns) * msPerRun;
}
