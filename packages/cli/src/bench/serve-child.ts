/**
 * `oversync serve` as a child process on a bench database: the server the scenarios talk HTTP to.
 * A separate process keeps the server's memory apart from the clients' (server RSS is read from
 * the child, client RSS from this process) and gives server and client their own event loops, as
 * on a real deployment. Tokens are signed here with the secret the child was given.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createJwtAuth } from "../jwt-auth.js";

/** A running `oversync serve` child. */
export interface ServeChild {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly pid: number;
  /** A bearer token for `userId`. */
  token(userId: string): Promise<string>;
  /** The child's resident set size now, in bytes. */
  rss(): Promise<number>;
  /** SIGTERM, then waits for the child to exit. */
  close(): Promise<void>;
}

/** The `oversync` entry point beside this module: bin.ts from source, bin.js once built. */
const BIN = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "../bin.ts" : "../bin.js", import.meta.url),
);

/** Starts `oversync serve --config <configFile>` on `databaseUrl`; resolves once /syncx/health answers. */
export async function startServeChild(databaseUrl: string, configFile: string): Promise<ServeChild> {
  const port = await freePort();
  const secret = randomBytes(24).toString("hex");
  // execArgv carries the source condition and the tsx loader when the bench runs from source.
  const child = spawn(
    process.execPath,
    [...process.execArgv, BIN, "serve", "--config", configFile, "--port", String(port), "--shutdown-grace=1"],
    {
      env: { ...process.env, DATABASE_URL: databaseUrl, JWT_SECRET: secret },
      // The request log (one JSON line per request) is not read; stderr is kept for failures.
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitUntilHealthy(origin, child, () => stderr);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  const auth = createJwtAuth({ secret });
  return {
    origin,
    pid: child.pid!,
    token: async (userId) => (await auth.issueToken(userId)).token,
    rss: () => rssOf(child.pid!),
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

async function waitUntilHealthy(origin: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`oversync serve exited with ${child.exitCode}:\n${stderr()}`);
    try {
      const response = await fetch(`${origin}/syncx/health`);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`oversync serve did not become healthy within 60 s:\n${stderr()}`);
}

/** A port that was free a moment ago (the child binds it right after). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no free port");
  return address.port;
}

/** Resident set size of a process in bytes: /proc on Linux, `ps` elsewhere. */
export async function rssOf(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (match !== null) return Number(match[1]) * 1024;
  } catch {
    // No /proc: fall through to ps.
  }
  const { stdout } = await promisify(execFile)("ps", ["-o", "rss=", "-p", String(pid)]);
  return Number(stdout.trim()) * 1024;
}
