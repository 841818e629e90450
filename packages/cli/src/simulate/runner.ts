/**
 * `runSimulation`: runs the chosen scenarios one after another, each as `parallel` independent runs
 * at once (every run with its own fresh user and its own SQLite files), times their steps, and
 * returns the report. A run's devices and helpers are released when it ends, whatever happened;
 * `cleanup` then deletes its SQLite files and, with PostgreSQL checks, its users' rows.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqlPool } from "@oversync/server";
import { Device } from "./device.js";
import { PostgresChecks } from "./postgres-checks.js";
import { Progress, type ProgressSink } from "./progress.js";
import {
  type RunFailure,
  type RunReport,
  type SimulationReport,
  type StepReport,
  summaryLine,
  writeReport,
} from "./report.js";
import { type Scenario, ScenarioAssertionError, type ScenarioContext } from "./scenario.js";
import { resolveScenarioNames, scenarioByName } from "./scenarios/index.js";

/** What to simulate and where. */
export interface SimulationOptions {
  /** Scenario names, in run order; `all` and `watch-all` stand for their scenarios. */
  readonly scenarios: readonly string[];
  /** Base URL of the server under test. */
  readonly serverUrl: string;
  /**
   * The server's admin token, sent as `Authorization: Bearer` to its test helpers (`/test/*`), which
   * a server answers only callers on its own machine without it. `oversync simulate` takes it from
   * OVERSYNC_ADMIN_TOKEN.
   */
  readonly adminToken?: string;
  /** PostgreSQL the server uses, as a URL or an open pool, for assertions on the database itself. */
  readonly database?: string | SqlPool;
  /** Independent runs of each scenario at once, each for its own user; default 1. */
  readonly parallel?: number;
  /** Delete the SQLite files afterwards (and, with `database`, the scenario users' rows). */
  readonly cleanup?: boolean;
  /** A line per step and the scenarios' notes. */
  readonly verbose?: boolean;
  /** Also write the report as JSON to this file. */
  readonly outputFile?: string;
  /** Where progress is written; default standard output. */
  readonly progress?: ProgressSink;
}

/** Runs the scenarios and returns the report (it never throws for a failing scenario). */
export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const scenarios = resolveScenarioNames(options.scenarios.join(",")).map(scenarioByName);
  const parallel = options.parallel ?? 1;
  const started = Date.now();
  const postgres =
    options.database === undefined ? undefined : await PostgresChecks.connect(options.database);
  const workDir = await mkdtemp(join(tmpdir(), "oversync-simulate-"));
  const progress = new Progress(options.progress ?? process.stdout, options.verbose === true);
  const runs: RunReport[] = [];
  try {
    for (const scenario of scenarios) {
      const instances = Array.from({ length: parallel }, (_, index) => index + 1);
      runs.push(
        ...(await Promise.all(
          instances.map((instance) =>
            runOnce(scenario, instance, { ...options, parallel, postgres, workDir, printer: progress }),
          ),
        )),
      );
    }
  } catch (error) {
    progress.stop();
    throw error;
  } finally {
    await postgres?.end();
  }
  if (options.cleanup === true) await rm(workDir, { recursive: true, force: true });
  const failed = runs.filter((run) => run.status === "failed").length;
  const report: SimulationReport = {
    server: options.serverUrl,
    postgres_checks: postgres !== undefined,
    parallel,
    started_at: new Date(started).toISOString(),
    duration_ms: Date.now() - started,
    passed: runs.length - failed,
    failed,
    work_dir: options.cleanup === true ? null : workDir,
    runs,
  };
  if (report.work_dir !== null) progress.line(`SQLite files kept in ${report.work_dir}`);
  progress.line(summaryLine(report));
  progress.stop();
  if (options.outputFile !== undefined) await writeReport(options.outputFile, report);
  return report;
}

interface RunSettings extends SimulationOptions {
  readonly parallel: number;
  readonly postgres: PostgresChecks | undefined;
  readonly workDir: string;
  readonly printer: Progress;
}

async function runOnce(scenario: Scenario, instance: number, settings: RunSettings): Promise<RunReport> {
  const label = settings.parallel === 1 ? scenario.name : `${scenario.name} #${instance}`;
  const runDir = join(settings.workDir, `${scenario.name}-${instance}`);
  await mkdir(runDir, { recursive: true });
  const started = Date.now();
  const steps: StepReport[] = [];
  const devices: Device[] = [];
  const releases: (() => Promise<void>)[] = [];
  const fresh = (label: string) => `sim-${label}-${randomUUID().slice(0, 8)}`;
  const userIds = [fresh(scenario.name)];
  let failedStep: string | null = null;

  const context: ScenarioContext = {
    serverUrl: settings.serverUrl,
    adminToken: settings.adminToken,
    userId: userIds[0]!,
    newUserId(name) {
      const id = fresh(`${scenario.name}-${name}`);
      userIds.push(id);
      return id;
    },
    postgres: settings.postgres,
    workDir: runDir,
    async step(name, body) {
      const stepStart = Date.now();
      settings.printer.stepStarted(label, name);
      const finish = (status: "passed" | "failed") => {
        const duration = Date.now() - stepStart;
        steps.push({ name, started_ms: stepStart - started, duration_ms: duration, status });
        settings.printer.stepFinished(label, name, duration, status === "passed");
      };
      try {
        const value = await body();
        finish("passed");
        return value;
      } catch (error) {
        failedStep ??= name;
        finish("failed");
        throw error;
      }
    },
    async openDevice(name, deviceOptions) {
      const device = await Device.open(name, join(runDir, `${name}.db`), settings.serverUrl, deviceOptions);
      devices.push(device);
      return device;
    },
    defer(release) {
      releases.push(release);
    },
    note(message) {
      settings.printer.note(label, message);
    },
  };

  let failure: RunFailure | undefined;
  try {
    await scenario.run(context);
  } catch (error) {
    failure = describeFailure(error, failedStep);
  }
  // Helpers (proxies, child processes) go first, newest first, then every device's client and file.
  for (const release of [...releases.reverse(), ...devices.reverse().map((device) => () => device.close())]) {
    try {
      await release();
    } catch (error) {
      failure ??= describeFailure(error, "release devices and helpers");
    }
  }
  if (settings.cleanup === true) {
    await rm(runDir, { recursive: true, force: true });
    try {
      await settings.postgres?.removeUsers(userIds);
    } catch (error) {
      failure ??= describeFailure(error, "cleanup: remove the scenario users' rows");
    }
  }
  const report: RunReport = {
    scenario: scenario.name,
    instance,
    user_ids: userIds,
    status: failure === undefined ? "passed" : "failed",
    duration_ms: Date.now() - started,
    steps,
    ...(failure === undefined ? {} : { failure }),
  };
  settings.printer.runFinished(label, report);
  return report;
}

function describeFailure(error: unknown, step: string | null): RunFailure {
  const code = (error as { code?: unknown })?.code;
  let message = error instanceof Error ? error.message : String(error);
  // Retry exhaustion and wrapped transport failures say more in their cause.
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error && !message.includes(cause.message)) message += ` (cause: ${cause.message})`;
  return {
    step,
    kind: error instanceof ScenarioAssertionError ? "assertion" : "error",
    message,
    ...(typeof code === "string" ? { code } : {}),
  };
}
