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

/** Repeated timings of one small operation; `limit` is the time of one bare round trip. */
export interface LatencyMeasurement {
  readonly name: string;
  readonly samples: readonly number[];
  readonly limit?: number;
}

/** The value below which `fraction` of `values` fall (nearest rank). */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

/** A table row: p50, p99 and, where a limit was measured, the p50's ratio to it. */
export function describeLatency(measurement: LatencyMeasurement): string {
  const p50 = percentile(measurement.samples, 0.5);
  const ratio = measurement.limit === undefined ? "" : `${(p50 / measurement.limit).toFixed(1)}×`;
  return `| ${measurement.name} | ${p50.toFixed(2)} ms | ${percentile(measurement.samples, 0.99).toFixed(2)} ms | ${ratio} |`;
}
