/**
 * What people watch while scenarios run. On a terminal, one live line says which run is in which
 * step (redrawn in place); elsewhere (CI logs, pipes) only whole lines are written. Either way each
 * finished run gets a PASS or FAIL line, and `--verbose` adds a line per step and the scenarios'
 * notes.
 */
import type { RunReport } from "./report.js";
import { seconds } from "./report.js";

/** Where progress goes: `process.stdout` or anything with `write`. */
export interface ProgressSink {
  write(text: string): unknown;
  /** True on a terminal: the live line is redrawn in place. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const CLEAR_LINE = "\r\u001b[2K";

export class Progress {
  /** Active runs: label → current step and when it started. */
  private readonly active = new Map<string, { step: string; since: number }>();
  private latest: string | undefined;
  private readonly ticker: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: ProgressSink,
    private readonly verbose: boolean,
  ) {
    // The elapsed time on the live line keeps moving while a long step runs.
    this.ticker = sink.isTTY === true ? setInterval(() => this.redraw(), 250).unref() : undefined;
  }

  stepStarted(run: string, step: string): void {
    this.active.set(run, { step, since: Date.now() });
    this.latest = run;
    this.redraw();
  }

  stepFinished(run: string, step: string, durationMs: number, passed: boolean): void {
    if (this.verbose) this.line(`  ${run} › ${step} ${passed ? "ok" : "FAILED"} (${durationMs} ms)`);
  }

  note(run: string, message: string): void {
    if (this.verbose) this.line(`  ${run}: ${message}`);
  }

  runFinished(run: string, report: RunReport): void {
    this.active.delete(run);
    if (this.latest === run) this.latest = this.active.keys().next().value;
    const time = seconds(report.duration_ms);
    if (report.failure === undefined) {
      this.line(`PASS ${run} (${time})`);
    } else {
      const where = report.failure.step === null ? "" : ` in step "${report.failure.step}"`;
      this.line(`FAIL ${run} (${time})${where}: ${report.failure.message}`);
    }
  }

  /** Clears the live line and stops redrawing it. */
  stop(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    if (this.sink.isTTY === true) this.sink.write(CLEAR_LINE);
  }

  /** Writes a whole line, keeping the live line below it. */
  line(text: string): void {
    this.sink.write(`${this.sink.isTTY === true ? CLEAR_LINE : ""}${text}\n`);
    this.redraw();
  }

  private redraw(): void {
    if (this.sink.isTTY !== true || this.latest === undefined) return;
    const current = this.active.get(this.latest);
    if (current === undefined) return;
    const others = this.active.size > 1 ? ` (+${this.active.size - 1} running)` : "";
    const text = `… ${this.latest} › ${current.step} ${seconds(Date.now() - current.since)}${others}`;
    // A terminal that reports no width (0, as some ptys do) gets 100 columns.
    const width = Math.max(20, (this.sink.columns || 100) - 1);
    this.sink.write(`${CLEAR_LINE}${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
  }
}
