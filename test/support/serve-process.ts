/**
 * `oversync serve` as a real child process, run from source as `npm start` runs it
 * (`node --conditions=@oversync/source --import tsx packages/cli/src/bin.ts serve`), for suites that
 * kill or restart the server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RUN_FROM_SOURCE } from "./run-from-source.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Parsed JSON lines of stdout so far. */
  readonly logs: Record<string, unknown>[];
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Runs the CLI with `args`; resolves with its output and exit once it has ended. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [...RUN_FROM_SOURCE, "packages/cli/src/bin.ts", ...args], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: "", JWT_SECRET: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      done({ code, signal });
    }),
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Starts `serve` on a free port and waits for its "listening" log line. */
export async function startServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  port = 0,
): Promise<ServeProcess> {
  const run = runCli(["serve", "--port", String(port), ...args], env);
  const logs = () =>
    run
      .stdout()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const listening = await new Promise<Record<string, unknown>>((found, failed) => {
    const timer = setInterval(() => {
      const line = logs().find((entry) => entry.msg === "listening");
      if (line !== undefined) {
        clearInterval(timer);
        found(line);
      }
    }, 25);
    void run.exited.then(({ code }) => {
      clearInterval(timer);
      failed(new Error(`serve exited with ${code} before listening:\n${run.stderr()}`));
    });
  });
  // The banner goes to stderr just before the line above; the two pipes are read independently.
  await waitFor(() => run.stderr().includes("Press Ctrl+C to stop."), "the banner");
  return {
    child: run.child,
    url: listening.url as string,
    get logs() {
      return logs();
    },
    stderr: run.stderr,
    exited: run.exited,
  };
}

/** Polls `condition` every 25 ms until it holds; fails after `timeoutMillis` (a liveness bound). */
export async function waitFor(condition: () => boolean, what: string, timeoutMillis = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** SIGKILLs every child this module started that is still running (a failed test's leftovers). */
export function killServeProcesses(): void {
  for (const child of running) child.kill("SIGKILL");
}

/** A loopback port free right now, for a server that must come back on the same port. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => done(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}
