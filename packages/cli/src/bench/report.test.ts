import { describe, expect, it } from "vitest";
import { renderChart } from "./chart.js";
import { formatReport, formatValue } from "./report.js";
import { type BenchResults, FigureList, type ScenarioResult } from "./results.js";
import { judgeTargets } from "./targets.js";

/** A fixed run: made-up figures, never timed. */
function fixture(): BenchResults {
  const sync = new FigureList();
  sync.add("client-sync.insert", "PostgreSQL INSERT of 10,000 rows", "ms", [50, 40, 60], {
    rows: 10_000,
    isLimit: true,
  });
  sync.add("client-sync.push", "pushPending() of 10,000 rows <over HTTP>", "ms", [600, 500, 700], {
    rows: 10_000,
    limit: "client-sync.insert",
  });
  sync.add("client-sync.restore", "attach() restoring 10,000 rows", "ms", [300, 280, 320], { rows: 10_000 });
  sync.add("client-sync.restore-busy", "the same restore with the other core busy", "ms", [450, 400, 500], {
    rows: 10_000,
    baseline: "client-sync.restore",
  });
  const latency = new FigureList();
  latency.add("latency.round-trip", "authenticated round trip, p50", "ms", [1, 1.2, 0.8], { isLimit: true });
  latency.add("latency.push-p50", "one-row push, p50", "ms", [7.5, 7, 8], { limit: "latency.round-trip" });
  const load = new FigureList();
  load.add("server-load.errors", "failed calls", "count", [0, 0, 0]);
  load.add("server-load.bundles", "committed bundles per second", "bundles/s", [250.4, 240, 260]);
  const scenarios: ScenarioResult[] = [
    {
      name: "client-sync",
      title: "Client sync end to end",
      server: "child",
      seconds: 12.3,
      loadAtStart: 0.25,
      figures: sync.figures,
      notes: [],
    },
    {
      name: "latency",
      title: "Latency on loopback",
      server: "child",
      seconds: 75,
      loadAtStart: 0.5,
      figures: latency.figures,
      notes: ["200 per round."],
    },
    {
      name: "server-load",
      title: "Server under load",
      server: "child",
      seconds: 31,
      loadAtStart: 0.75,
      figures: load.figures,
      notes: [],
      error: "boom",
    },
  ];
  return {
    format: "oversync-bench/1",
    startedAt: "2026-12-07T10:00:00.000Z",
    seconds: 118.3,
    command: "oversync bench --scenario=client-sync,latency,server-load",
    rounds: 3,
    machine: {
      cpu: "Test CPU",
      cores: 2,
      memoryGiB: 24,
      os: "Linux 6.1",
      node: "v20.20.2",
      postgres: "15.20",
      loadAverage: { start: 0.12, end: 0.5 },
    },
    scenarios,
    targets: judgeTargets(scenarios),
  };
}

describe("bench results", () => {
  it("figures carry median, min–max and their ratio to the limit or baseline", () => {
    const push = fixture().scenarios[0]!.figures[1]!;
    expect(push.value).toStrictEqual({ median: 600, min: 500, max: 700, n: 3 });
    expect(push.compare).toStrictEqual({ kind: "limit", id: "client-sync.insert", ratio: 12 });
    expect(fixture().scenarios[0]!.figures[3]!.compare).toStrictEqual({
      kind: "baseline",
      id: "client-sync.restore",
      ratio: 1.5,
    });
  });

  it("targets are judged from the figures, and those of scenarios not run stay unjudged", () => {
    const targets = new Map(fixture().targets.map((target) => [target.id, target]));
    expect(targets.get("push-ratio")).toMatchObject({
      measured: 12,
      threshold: 10,
      met: false,
      figure: "client-sync.push",
    });
    expect(targets.get("push-p50")).toMatchObject({ measured: 7.5, met: true });
    expect(targets.get("contention")).toMatchObject({ measured: 1.5, met: true });
    expect(targets.get("load-errors")).toMatchObject({ measured: 0, met: true });
    expect(targets.get("restore-rate")).not.toHaveProperty("measured");
    expect(targets.get("restore-rate")).not.toHaveProperty("met");
  });

  it("survives a JSON round trip unchanged (what --json prints and the results file holds)", () => {
    const results = fixture();
    expect(JSON.parse(JSON.stringify(results))).toStrictEqual(results);
  });

  it("the report has the machine, one table per scenario, each figure's spread and ratio, and the targets", () => {
    const report = formatReport(fixture());
    expect(report).toContain(
      "2026-12-07T10:00:00.000Z · 2 × Test CPU, 24 GiB RAM, Linux 6.1, Node v20.20.2, PostgreSQL 15.20",
    );
    expect(report).toContain(
      "`oversync bench --scenario=client-sync,latency,server-load` · 3 rounds · 1 min 58 s · load average 0.12 at the start, 0.50 at the end",
    );
    expect(report).toContain(
      "## Client sync end to end\n\n`--scenario=client-sync` · server: child · 12 s · load average 0.25 at its start\n",
    );
    expect(report).toContain(
      "| PostgreSQL INSERT of 10,000 rows *(limit)* | 50.0 ms | 40.0 ms – 60.0 ms | 200,000 |  |",
    );
    expect(report).toContain(
      "| pushPending() of 10,000 rows <over HTTP> | 600 ms | 500 ms – 700 ms | 16,667 | 12.0× |",
    );
    expect(report).toContain(
      "| the same restore with the other core busy | 450 ms | 400 ms – 500 ms | 22,222 | 1.50× ‡ |",
    );
    expect(report).toContain("| one-row push, p50 | 7.50 ms | 7.00 ms – 8.00 ms |  | 7.50× |");
    expect(report).toContain(
      "| committed bundles per second | 250 bundles/s | 240 bundles/s – 260 bundles/s |  |  |",
    );
    expect(report).toContain("| failed calls | 0 | 0 – 0 |  |  |");
    expect(report).toContain("- 200 per round.");
    expect(report).toContain("**Failed:** boom");
    expect(report).toContain(
      "| #11 | push of 10k rows (pushPending) ≤ 10× the limit | 12.0× | 1.20× | **no** |",
    );
    expect(report).toContain("| #11 | one-row push p50 ≤ 8 ms | 7.50 ms | 0.94× | yes |");
    expect(report).toContain("| #11 | server load: no failed call | 0 errors |  | yes |");
    expect(report).toContain("| #11 | restore of 100k rows ≥ 50k rows/s end to end | not run | | |");
    expect(report).toContain("3 of 4 judged targets met");
  });

  it("values keep the precision a measurement can tell", () => {
    expect(formatValue(1234.5678, "ms")).toBe("1,235 ms");
    expect(formatValue(12.345, "ms")).toBe("12.3 ms");
    expect(formatValue(1.2345, "MiB")).toBe("1.23 MiB");
    expect(formatValue(2834.4, "bytes")).toBe("2,834 bytes");
  });
});

describe("bench chart", () => {
  const svg = renderChart(fixture(), "bench/results/2026-12-07.json");

  it("is one SVG document with balanced elements", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<text /g)?.length).toBe(svg.match(/<\/text>/g)?.length);
  });

  it("draws one bar per figure with a limit, labelled with its ratio, and escapes the labels", () => {
    const bars = svg.match(/<rect x=/g) ?? [];
    expect(bars).toHaveLength(2);
    expect(svg).toContain(">client-sync · pushPending() of 10,000 rows &#60;over HTTP&#62;</text>");
    expect(svg).toContain(">12.0×</text>");
    expect(svg).toContain(">latency · one-row push, p50</text>");
    expect(svg).toContain(">7.50×</text>");
    expect(svg).not.toContain("restore with the other core busy");
  });

  it("colours a bar by its target, marks the target, and names the machine and the source", () => {
    expect(svg).toContain('fill="#c8433a"');
    expect(svg.match(/stroke-width="2"/g)).toHaveLength(1);
    expect(svg).toContain("2 × Test CPU, 24 GiB RAM, Linux 6.1, Node v20.20.2, PostgreSQL 15.20");
    expect(svg).toContain("regenerate: oversync bench --chart bench/results/2026-12-07.json");
    expect(svg).toContain(">1×</text>");
    expect(svg).toContain(">100×</text>");
  });
});
