/**
 * The simulation report: one entry per scenario run (a scenario times `--parallel`), each with its
 * user ids, outcome, the failing step and message, and every step's start and duration. `--output`
 * writes it as JSON (snake_case, like the wire); the last line people see is the summary.
 */
import { writeFile } from "node:fs/promises";

/** One timed step of a run. */
export interface StepReport {
  readonly name: string;
  /** Milliseconds from the run's start. */
  readonly started_ms: number;
  readonly duration_ms: number;
  readonly status: "passed" | "failed";
}

/** Why a run failed: an assertion about the sync system, or an error that stopped the scenario. */
export interface RunFailure {
  /** The step that was running (null when the run failed outside any step). */
  readonly step: string | null;
  readonly kind: "assertion" | "error";
  readonly message: string;
  /** The error's `code`, when it has one (a client error code such as `network_error`). */
  readonly code?: string;
}

/** One run of one scenario for one fresh user. */
export interface RunReport {
  readonly scenario: string;
  /** 1-based, up to `--parallel`. */
  readonly instance: number;
  readonly user_ids: readonly string[];
  readonly status: "passed" | "failed";
  readonly duration_ms: number;
  readonly steps: readonly StepReport[];
  readonly failure?: RunFailure;
}

/** The whole simulation. */
export interface SimulationReport {
  readonly server: string;
  /** True when the runs also asserted on PostgreSQL (`--db`). */
  readonly postgres_checks: boolean;
  readonly parallel: number;
  readonly started_at: string;
  readonly duration_ms: number;
  readonly passed: number;
  readonly failed: number;
  /** Where the SQLite files are; null once `--cleanup` removed them. */
  readonly work_dir: string | null;
  readonly runs: readonly RunReport[];
}

/** `N passed, N failed` (and the time taken). */
export function summaryLine(report: SimulationReport): string {
  return `${report.passed} passed, ${report.failed} failed (${seconds(report.duration_ms)})`;
}

/** Writes the report to `file` as indented JSON. */
export async function writeReport(file: string, report: SimulationReport): Promise<void> {
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}

/** `1.23 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
