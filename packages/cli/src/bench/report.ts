/**
 * The human report of a run, in Markdown: what stdout shows and bench/results/latest.md keeps.
 * One table per scenario (median, min–max over rounds, rows/s, ratio to the limit or baseline),
 * then every target with its measured value and whether it is met.
 */
import type { BenchResults, Figure, MachineDescription, ScenarioResult, TargetResult } from "./results.js";

/** The whole report. */
export function formatReport(results: BenchResults): string {
  const lines = [
    "# oversync benchmarks",
    "",
    `${results.startedAt} · ${describeMachine(results.machine)}`,
    "",
    `\`${results.command}\` · ${results.rounds} round${results.rounds === 1 ? "" : "s"} · ` +
      `${formatDuration(results.seconds)} · load average ${results.machine.loadAverage.start.toFixed(2)} ` +
      `at the start, ${results.machine.loadAverage.end.toFixed(2)} at the end`,
    "",
    "Each figure is the median over the rounds, with the smallest and largest round. “vs” is the",
    "median's ratio to the physical limit of the same work measured in the same run (limit), or to",
    "the same figure under easier conditions (baseline, marked ‡).",
    "",
  ];
  for (const scenario of results.scenarios) lines.push(...formatScenario(scenario), "");
  lines.push(...formatTargets(results.targets));
  return `${lines.join("\n")}\n`;
}

/** CPU, cores, memory, OS, Node and PostgreSQL in one line. */
export function describeMachine(machine: MachineDescription): string {
  return (
    `${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB RAM, ${machine.os}, ` +
    `Node ${machine.node}, PostgreSQL ${machine.postgres}`
  );
}

function formatScenario(scenario: ScenarioResult): string[] {
  const lines = [
    `## ${scenario.title}`,
    "",
    `\`--scenario=${scenario.name}\` · server: ${scenario.server} · ${formatDuration(scenario.seconds)} · ` +
      `load average ${scenario.loadAtStart.toFixed(2)} at its start`,
    "",
  ];
  if (scenario.error !== undefined) lines.push(`**Failed:** ${scenario.error}`, "");
  if (scenario.figures.length > 0) {
    lines.push("| figure | median | min–max | rows/s | vs |", "|---|--:|--:|--:|--:|");
    for (const figure of scenario.figures) lines.push(formatFigureRow(figure));
  }
  if (scenario.notes.length > 0) lines.push("", ...scenario.notes.map((note) => `- ${note}`));
  return lines;
}

function formatFigureRow(figure: Figure): string {
  const { value } = figure;
  const range =
    value.n > 1 ? `${formatValue(value.min, figure.unit)} – ${formatValue(value.max, figure.unit)}` : "—";
  const rate =
    figure.rows !== undefined && figure.unit === "ms" ? integer((figure.rows / value.median) * 1000) : "";
  const label = figure.isLimit === true ? `${figure.label} *(limit)*` : figure.label;
  return `| ${label} | ${formatValue(value.median, figure.unit)} | ${range} | ${rate} | ${formatRatio(figure)} |`;
}

/** A figure's ratio column: `12.3×`, with ‡ when it is against a baseline rather than a limit. */
export function formatRatio(figure: Figure): string {
  if (figure.compare === undefined) return "";
  return `${ratio(figure.compare.ratio)}${figure.compare.kind === "baseline" ? " ‡" : ""}`;
}

function formatTargets(targets: readonly TargetResult[]): string[] {
  const lines = [
    "## Targets",
    "",
    "| issue | target | measured | measured / target | met |",
    "|---|---|--:|--:|---|",
  ];
  for (const target of targets) {
    if (target.measured === undefined) {
      lines.push(`| #${target.issue} | ${target.text} | not run | | |`);
      continue;
    }
    const share = target.threshold === 0 ? "" : ratio(target.measured / target.threshold);
    const measured =
      target.unit === "×"
        ? ratio(target.measured)
        : `${target.unit === "errors" ? integer(target.measured) : formatNumber(target.measured)} ${target.unit}`;
    lines.push(
      `| #${target.issue} | ${target.text} | ${measured} | ${share} | ${target.met ? "yes" : "**no**"} |`,
    );
  }
  const judged = targets.filter((target) => target.met !== undefined);
  lines.push(
    "",
    `${judged.filter((target) => target.met).length} of ${judged.length} judged targets met ` +
      "(the targets are set for the default sizes).",
  );
  return lines;
}

/** A value with its unit, rounded to what the measurement can tell. */
export function formatValue(value: number, unit: Figure["unit"]): string {
  if (unit === "count") return integer(value);
  if (unit === "bytes" || unit === "bundles/s") return `${integer(value)} ${unit}`;
  return `${formatNumber(value)} ${unit}`;
}

/** Three significant digits, at most two decimals; thousands separated. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  const decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
  return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function integer(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function ratio(value: number): string {
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

/** `42 s` or `3 min 05 s`. */
export function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}
