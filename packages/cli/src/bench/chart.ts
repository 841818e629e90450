/**
 * docs/bench.svg: one bar per figure that has a physical limit, its length the figure's ratio to
 * that limit on a log scale (1× is the machine's limit), green or red where an issue sets a target
 * ratio (drawn as a tick), with the machine and the run underneath. Hand-written SVG: no chart
 * library for one picture.
 */
import { describeMachine } from "./report.js";
import type { BenchResults } from "./results.js";

const WIDTH = 920;
const LABEL_WIDTH = 430;
const PLOT_LEFT = LABEL_WIDTH + 20;
const PLOT_RIGHT = WIDTH - 70;
const ROW = 24;
const TOP = 78;

const COLORS = { plain: "#4a78b0", met: "#3a9a5b", missed: "#c8433a", grid: "#d8dde3", text: "#1f2933" };

/** The chart of `results` as an SVG document; `source` names the results file in the footer. */
export function renderChart(results: BenchResults, source: string): string {
  const bars = results.scenarios.flatMap((scenario) =>
    scenario.figures
      .filter((figure) => figure.compare?.kind === "limit")
      .map((figure) => ({ scenario: scenario.name, figure })),
  );
  const ratios = bars.map((bar) => bar.figure.compare!.ratio);
  const low = 10 ** Math.floor(Math.log10(Math.min(1, ...ratios)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(10, ...ratios)));
  const x = (ratio: number) =>
    PLOT_LEFT +
    ((Math.log10(ratio) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * (PLOT_RIGHT - PLOT_LEFT);
  const plotBottom = TOP + bars.length * ROW;
  const height = plotBottom + 92;

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(20, 28, "oversync bench: time relative to the machine's limit for the same work", {
      size: 16,
      weight: "bold",
    }),
    text(
      20,
      48,
      "log scale · 1× = raw PostgreSQL / SQLite / a bare HTTP round trip in the same run · lower is better · tick = target, green met, red missed",
      { fill: "#52606d" },
    ),
  ];
  for (const tick of gridTicks(low, high)) {
    parts.push(
      `<line x1="${fixed(x(tick))}" y1="${TOP - 8}" x2="${fixed(x(tick))}" y2="${plotBottom}" stroke="${COLORS.grid}"/>`,
      text(x(tick), TOP - 12, `${tick}×`, { anchor: "middle", fill: "#52606d" }),
    );
  }
  bars.forEach(({ scenario, figure }, index) => {
    const y = TOP + index * ROW;
    const ratio = figure.compare!.ratio;
    const target = results.targets.find(
      (candidate) => candidate.figure === figure.id && candidate.unit === "×",
    );
    const color = target?.met === undefined ? COLORS.plain : target.met ? COLORS.met : COLORS.missed;
    parts.push(
      text(LABEL_WIDTH, y + 16, truncate(`${scenario} · ${figure.label}`, 68), { anchor: "end" }),
      `<rect x="${PLOT_LEFT}" y="${y + 5}" width="${fixed(Math.max(1, x(ratio) - PLOT_LEFT))}" height="${ROW - 10}" fill="${color}"/>`,
      text(x(ratio) + 6, y + 16, formatRatio(ratio), { weight: "bold" }),
    );
    if (target !== undefined) {
      parts.push(
        `<line x1="${fixed(x(target.threshold))}" y1="${y + 2}" x2="${fixed(x(target.threshold))}" y2="${y + ROW - 2}" stroke="${COLORS.text}" stroke-width="2"/>`,
      );
    }
  });
  const footer = plotBottom + 28;
  const met = results.targets.filter((target) => target.met === true).length;
  const judged = results.targets.filter((target) => target.met !== undefined).length;
  parts.push(
    text(20, footer, describeMachine(results.machine), { fill: "#52606d" }),
    text(
      20,
      footer + 18,
      `${results.startedAt.slice(0, 10)} · ${results.rounds} rounds, median · load average ` +
        `${results.machine.loadAverage.start.toFixed(1)} → ${results.machine.loadAverage.end.toFixed(1)} · ` +
        `${met} of ${judged} targets met · ${source}`,
      { fill: "#52606d" },
    ),
    text(20, footer + 36, `regenerate: oversync bench --chart ${source}`, { fill: "#52606d" }),
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}

/** 1, 2, 5, 10, 20, 50 … between the bounds, so the log axis reads at a glance. */
function gridTicks(low: number, high: number): number[] {
  const ticks: number[] = [];
  for (let decade = low; decade <= high; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const tick = Number((decade * step).toPrecision(6));
      if (tick >= low && tick <= high) ticks.push(tick);
    }
  }
  return ticks;
}

function text(
  x: number,
  y: number,
  content: string,
  style: { size?: number; weight?: string; anchor?: string; fill?: string } = {},
): string {
  const attributes = [
    `x="${fixed(x)}"`,
    `y="${fixed(y)}"`,
    ...(style.size === undefined ? [] : [`font-size="${style.size}"`]),
    ...(style.weight === undefined ? [] : [`font-weight="${style.weight}"`]),
    ...(style.anchor === undefined ? [] : [`text-anchor="${style.anchor}"`]),
    `fill="${style.fill ?? COLORS.text}"`,
  ];
  return `<text ${attributes.join(" ")}>${escapeXml(content)}</text>`;
}

function formatRatio(ratio: number): string {
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

function truncate(value: string, length: number): string {
  return value.length <= length ? value : `${value.slice(0, length - 1)}…`;
}

function fixed(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** Text safe inside an SVG element. */
export function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
