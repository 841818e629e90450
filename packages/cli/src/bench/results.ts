/**
 * The shape of a benchmark run's results: what `--json` prints and `bench/results/<date>.json`
 * holds, and what the report and the chart are drawn from. Plain data, so a results file from an
 * older run can still be read and charted.
 */
import { type Spread, spreadOf } from "./stats.js";

/** Units a figure is measured in. */
export type FigureUnit = "ms" | "MiB" | "KiB" | "bytes" | "bundles/s" | "count";

/**
 * What a figure is compared with: `limit` is the physical limit of the same work measured in the
 * same run (raw PostgreSQL or SQLite, a bare round trip); `baseline` is the same figure under easier
 * conditions (an idle machine, the smallest scale step, halfway through a load).
 */
export interface Comparison {
  readonly kind: "limit" | "baseline";
  /** The id of the figure compared with. */
  readonly id: string;
  /** This figure's median over the other's. */
  readonly ratio: number;
}

/** One measured figure of a scenario. */
export interface Figure {
  /** Stable key, `<scenario>.<what>`, that targets and charts refer to. */
  readonly id: string;
  readonly label: string;
  readonly unit: FigureUnit;
  readonly value: Spread;
  /** Rows one timed operation handles, so the report can show rows/s. */
  readonly rows?: number;
  /** True for a figure that is itself a limit other figures are compared with. */
  readonly isLimit?: true;
  readonly compare?: Comparison;
}

/** One scenario's outcome. */
export interface ScenarioResult {
  readonly name: string;
  readonly title: string;
  /** Where the server ran: service calls in this process, an `oversync serve` child, or none. */
  readonly server: string;
  readonly seconds: number;
  /** The machine's 1-minute load average when the scenario started. */
  readonly loadAtStart: number;
  readonly figures: readonly Figure[];
  /** Sizes and observations worth reading next to the table. */
  readonly notes: readonly string[];
  /** Set when the scenario failed; its figures are those measured before the failure. */
  readonly error?: string;
}

/** The machine a run measured. */
export interface MachineDescription {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly postgres: string;
  /** 1-minute load average when the run started and when it ended: above ~0.5 the machine was busy. */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

/** A target of the issues the benchmark tracks, judged on this run. */
export interface TargetResult {
  readonly id: string;
  readonly issue: number;
  readonly text: string;
  /** The id of the figure it is read from. */
  readonly figure: string;
  /** Upper (`max`) or lower (`min`) bound on `measured`. */
  readonly bound: "max" | "min";
  readonly threshold: number;
  /** Unit of threshold and measured: `×` for a ratio. */
  readonly unit: string;
  /** Absent when the scenario it needs was not run. */
  readonly measured?: number;
  readonly met?: boolean;
}

/** A whole run. */
export interface BenchResults {
  readonly format: "oversync-bench/1";
  readonly startedAt: string;
  readonly seconds: number;
  /** The command line, to run the same again. */
  readonly command: string;
  readonly rounds: number;
  readonly machine: MachineDescription;
  readonly scenarios: readonly ScenarioResult[];
  readonly targets: readonly TargetResult[];
}

/** Builds a scenario's figures, computing each comparison's ratio from the figures already added. */
export class FigureList {
  readonly figures: Figure[] = [];

  /** Adds a figure from one value per round. */
  add(
    id: string,
    label: string,
    unit: FigureUnit,
    perRound: readonly number[],
    options: { rows?: number; isLimit?: boolean; limit?: string; baseline?: string } = {},
  ): Figure {
    const value = spreadOf(perRound.map(significant));
    const compareId = options.limit ?? options.baseline;
    const other =
      compareId === undefined ? undefined : this.figures.find((figure) => figure.id === compareId);
    if (compareId !== undefined && other === undefined)
      throw new Error(`no figure ${compareId} to compare with`);
    const figure: Figure = {
      id,
      label,
      unit,
      value,
      ...(options.rows === undefined ? {} : { rows: options.rows }),
      ...(options.isLimit === true ? { isLimit: true as const } : {}),
      ...(other === undefined
        ? {}
        : {
            compare: {
              kind: options.limit === undefined ? ("baseline" as const) : ("limit" as const),
              id: other.id,
              ratio: significant(value.median / other.value.median),
            },
          }),
    };
    this.figures.push(figure);
    return figure;
  }
}

/** Five significant digits: more than any figure here can tell, and results files stay readable. */
export function significant(value: number): number {
  return Number.isFinite(value) ? Number(value.toPrecision(5)) : value;
}
