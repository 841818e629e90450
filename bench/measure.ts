/** Timing helpers shared by the benchmark scenarios. */

/** One measured operation; `limit` is the physical-limit time of the same work, when there is one. */
export interface Measurement {
  readonly name: string;
  readonly millis: number;
  readonly rows: number;
  readonly limit?: number;
}

/** Wall-clock milliseconds of one run of `work`. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A table row: time, throughput and, where a limit was measured, how many times slower than it. */
export function describe(measurement: Measurement): string {
  const rate = Math.round((measurement.rows / measurement.millis) * 1000);
  const ratio =
    measurement.limit === undefined ? "" : `${(measurement.millis / measurement.limit).toFixed(2)}×`;
  return `| ${measurement.name} | ${measurement.millis.toFixed(1)} ms | ${rate.toLocaleString("en-US")} rows/s | ${ratio} |`;
}
