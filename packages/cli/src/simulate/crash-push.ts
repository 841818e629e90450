/**
 * Runs crash-child.ts as a separate app process that pushes a device's queued changes and kills
 * itself at the commit, and waits until it is gone; what is left in the SQLite file and on the
 * server is what a real crash leaves. The child runs under the same TypeScript loader (tsx) and
 * export condition (`@oversync/source`) when this package runs from source.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** What the child needs (handed over in its environment, so the token stays off the command line). */
export interface CrashPushArgs {
  readonly file: string;
  readonly serverUrl: string;
  readonly token: string;
  readonly userId: string;
  readonly uploadLimit: number;
  /** Die just before sending the commit, or just after the server answered it. */
  readonly crashAt: "before_commit" | "after_commit";
}

const HERE = fileURLToPath(import.meta.url);
const CHILD = join(dirname(HERE), `crash-child${extname(HERE)}`);
/** A child that is still running after this long is stuck: it is killed and the step fails. */
const CHILD_TIMEOUT_MS = 60_000;

/** Runs the push in a child process; resolves with the start ordinal of every chunk it uploaded. */
export async function pushUntilKilled(args: CrashPushArgs): Promise<{ chunkStarts: number[] }> {
  const loader =
    extname(HERE) === ".ts"
      ? [
          "--conditions=@oversync/source",
          "--import",
          pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href,
        ]
      : [];
  const child = spawn(process.execPath, [...loader, CHILD], {
    env: { ...process.env, OVERSYNC_SIMULATE_CRASH: JSON.stringify(args) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
  const { signal } = await new Promise<{ signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (_code, exitSignal) => resolve({ signal: exitSignal }));
  }).finally(() => clearTimeout(timer));
  const events = stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { event: string; start?: number; message?: string; outcome?: string });
  if (signal !== "SIGKILL" || !events.some((event) => event.event === "crash")) {
    const last = events.at(-1);
    throw new Error(
      `the push process was to die at ${args.crashAt} but ended with signal ${signal}` +
        `${last === undefined ? "" : `, last event ${JSON.stringify(last)}`}${stderr === "" ? "" : `: ${stderr.trim().slice(0, 500)}`}`,
    );
  }
  return { chunkStarts: events.filter((event) => event.event === "chunk").map((event) => event.start!) };
}
