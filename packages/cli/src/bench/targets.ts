/**
 * The targets of issue 11 ("close to the machine's limit") and issue 18 ("cost that stays flat as
 * the database grows"), each read from one figure of a run, so every run says which are met.
 */
import type { Figure, ScenarioResult, TargetResult } from "./results.js";

interface TargetRule {
  readonly id: string;
  readonly issue: number;
  readonly text: string;
  readonly figure: string;
  /** What of the figure is judged: its ratio, its median, or rows per second at its median. */
  readonly measure: "ratio" | "value" | "rows/s";
  readonly bound: "max" | "min";
  readonly threshold: number;
  readonly unit: string;
}

const RULES: readonly TargetRule[] = [
  {
    id: "restore-rate",
    issue: 11,
    text: "restore of 100k rows ≥ 50k rows/s end to end",
    figure: "restore-large.restore",
    measure: "rows/s",
    bound: "min",
    threshold: 50_000,
    unit: "rows/s",
  },
  {
    id: "restore-ratio",
    issue: 11,
    text: "restore of 100k rows ≤ 3× the limit",
    figure: "restore-large.restore",
    measure: "ratio",
    bound: "max",
    threshold: 3,
    unit: "×",
  },
  {
    id: "restore-rss",
    issue: 11,
    text: "client RSS grows ≤ 60 MiB during the 100k restore",
    figure: "restore-large.rss-growth",
    measure: "value",
    bound: "max",
    threshold: 60,
    unit: "MiB",
  },
  {
    id: "push-ratio",
    issue: 11,
    text: "push of 10k rows (pushPending) ≤ 10× the limit",
    figure: "client-sync.push",
    measure: "ratio",
    bound: "max",
    threshold: 10,
    unit: "×",
  },
  {
    id: "catch-up-ratio",
    issue: 11,
    text: "catch-up pull of 1,000 × 10 rows ≤ 4× the limit",
    figure: "catch-up.pull",
    measure: "ratio",
    bound: "max",
    threshold: 4,
    unit: "×",
  },
  {
    id: "push-p50",
    issue: 11,
    text: "one-row push p50 ≤ 8 ms",
    figure: "latency.push-p50",
    measure: "value",
    bound: "max",
    threshold: 8,
    unit: "ms",
  },
  {
    id: "wake-p50",
    issue: 11,
    text: "watch wake-up p50 ≤ 8 ms",
    figure: "latency.wake-p50",
    measure: "value",
    bound: "max",
    threshold: 8,
    unit: "ms",
  },
  {
    id: "wake-p99",
    issue: 11,
    text: "watch wake-up p99 ≤ 20 ms",
    figure: "latency.wake-p99",
    measure: "value",
    bound: "max",
    threshold: 20,
    unit: "ms",
  },
  {
    id: "contention",
    issue: 11,
    text: "restore of 10k rows with the other core busy ≤ 2× the idle restore",
    figure: "client-sync.restore-busy",
    measure: "ratio",
    bound: "max",
    threshold: 2,
    unit: "×",
  },
  {
    id: "load-errors",
    issue: 11,
    text: "server load: no failed call",
    figure: "server-load.errors",
    measure: "value",
    bound: "max",
    threshold: 0,
    unit: "errors",
  },
  ...(["push-p50", "pull-p50", "health-p50", "status-p50"] as const).map(
    (metric): TargetRule => ({
      id: `scale-${metric}`,
      issue: 18,
      text: `scale: ${metric.replace("-", " ")} at the largest step ≤ 1.5× the smallest (flat within noise)`,
      figure: `scale.top.${metric}`,
      measure: "ratio",
      bound: "max",
      threshold: 1.5,
      unit: "×",
    }),
  ),
  {
    id: "churn-bounded",
    issue: 18,
    text: "churn tables at the end ≤ 1.25× their size halfway through the load",
    figure: "churn.total",
    measure: "ratio",
    bound: "max",
    threshold: 1.25,
    unit: "×",
  },
];

/**
 * Judges every target on `scenarios`. Scale figures are per step; `scale.top.<metric>` stands for
 * the largest step's.
 */
export function judgeTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const figures = new Map<string, Figure>();
  for (const scenario of scenarios) for (const figure of scenario.figures) figures.set(figure.id, figure);
  const scaleTop = scenarios.find((scenario) => scenario.name === "scale")?.figures;
  return RULES.map((rule) => {
    const figure = rule.figure.startsWith("scale.top.")
      ? scaleTop?.findLast((candidate) => candidate.id.endsWith(`.${rule.figure.slice(10)}`))
      : figures.get(rule.figure);
    const measured = figure === undefined ? undefined : measureOf(rule, figure);
    const { measure: _, ...rest } = rule;
    const shown = { ...rest, figure: figure?.id ?? rule.figure };
    if (measured === undefined || Number.isNaN(measured)) return shown;
    return {
      ...shown,
      measured,
      met: rule.bound === "max" ? measured <= rule.threshold : measured >= rule.threshold,
    };
  });
}

function measureOf(rule: TargetRule, figure: Figure): number | undefined {
  if (rule.measure === "ratio") return figure.compare?.ratio;
  if (rule.measure === "rows/s")
    return figure.rows === undefined ? undefined : (figure.rows / figure.value.median) * 1000;
  return figure.value.median;
}
