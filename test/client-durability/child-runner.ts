/**
 * Starting child.ts and killing it: `startChild` spawns it, `killAndWait` sends SIGKILL and resolves
 * once the process is gone (so nothing it might still do can race the test's next step).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RUN_FROM_SOURCE } from "../support/run-from-source.js";
import type { ChildArgs } from "./child.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./child.ts", import.meta.url));

/** How the child ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Everything it printed. */
  readonly stdout: string;
  readonly stderr: string;
}

/** A running child. */
export interface RunningChild {
  readonly process: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ChildExit>;
  /** SIGKILLs the child (unless already gone) and waits for its exit. */
  killAndWait(): Promise<ChildExit>;
}

/** Spawns `node --conditions=@oversync/source --import tsx child.ts <args>`. */
export function startChild(args: ChildArgs): RunningChild {
  const child = spawn(process.execPath, [...RUN_FROM_SOURCE, CHILD_SCRIPT, JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const exited = new Promise<ChildExit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    process: child,
    exited,
    async killAndWait() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      return exited;
    },
  };
}

/** The one JSON line a child that finished printed. */
export function childResult(exit: ChildExit): { done: boolean; outcome?: string; error?: unknown } {
  const line = exit.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as { done: boolean };
  } catch {
    throw new Error(`child printed no result (code ${exit.code}, signal ${exit.signal}): ${exit.stderr}`);
  }
}
