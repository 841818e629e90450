/**
 * The server the live conformance suite talks to, gated as upstream's realserver suites are: the
 * suite runs only with `OVERSQLITE_REALSERVER_TESTS=true`, against
 * `OVERSQLITE_REAL_SERVER_SMOKE_BASE_URL` (default `http://localhost:8080`). When nothing answers
 * there, each test file starts `oversync serve --test-hooks` itself on a free port: on PostgreSQL
 * in a database of its own when `DATABASE_URL` is set, on embedded PGlite otherwise. A server found
 * at the URL is shared and never reset; every test uses fresh user ids.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_APP_NAME } from "@oversync/cli";
import { afterAll, beforeAll, describe } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type ServeProcess, startServe } from "../support/serve-process.js";

/** The gate, as upstream names it. */
export const LIVE_GATE = "OVERSQLITE_REALSERVER_TESTS";

/** True when the live suite runs. */
export const liveEnabled: boolean = process.env[LIVE_GATE] === "true";

/** Where a running server is looked for first. */
export const configuredBaseUrl: string =
  process.env.OVERSQLITE_REAL_SERVER_SMOKE_BASE_URL ?? "http://localhost:8080";

/** The server a live test file uses; filled in before its first test. */
export interface LiveServer {
  /** Base URL without a trailing slash. */
  readonly url: string;
  /** True when the server serves `--test-hooks` (failure injection, leases, server SQL). */
  readonly hooks: boolean;
  /** How the server was found, for messages: "started here on PGlite", "found at …". */
  readonly description: string;
}

/** When a live suite runs, and what a skipped one tells the reader to set. */
export interface LiveGate {
  readonly enabled: boolean;
  readonly hint: string;
}

const CONFORMANCE_GATE: LiveGate = {
  enabled: liveEnabled,
  hint: `set ${LIVE_GATE}=true to run the live conformance suite`,
};

/**
 * Declares a live suite: skipped with a message unless `gate` is on (a skipped suite is never
 * counted as passing); otherwise `body` runs with the file's server.
 */
export function describeLive(
  name: string,
  body: (server: LiveServer) => void,
  gate: LiveGate = CONFORMANCE_GATE,
): void {
  if (!gate.enabled) console.warn(`${name}: skipped; ${gate.hint}`);
  describe.skipIf(!gate.enabled)(name, () => {
    body(useLiveServer());
  });
}

/** The file's server: found at the configured URL or started here, and stopped after the file. */
function useLiveServer(): LiveServer {
  const server: { -readonly [K in keyof LiveServer]: LiveServer[K] } = {
    url: "",
    hooks: false,
    description: "",
  };
  // What this file started, filled in as it is made so a failed start is still cleaned up.
  let started: { dataDir?: string; database?: TestDatabase; serve?: ServeProcess } | undefined;
  beforeAll(async () => {
    const base = configuredBaseUrl.replace(/\/+$/, "");
    if (await answersAsExampleServer(base)) {
      server.url = base;
      server.description = `found at ${base}`;
    } else {
      started = {};
      started.dataDir = await mkdtemp(join(tmpdir(), "oversync-conformance-"));
      if (process.env.DATABASE_URL) started.database = await createTestDatabase("oversync_conf");
      const env = started.database === undefined ? {} : { DATABASE_URL: started.database.url };
      started.serve = await startServe(["--test-hooks", "--data-dir", join(started.dataDir, "data")], env);
      server.url = started.serve.url;
      server.description = `started here on ${started.database === undefined ? "PGlite" : "PostgreSQL"}`;
    }
    const index = await fetch(`${server.url}/test/hooks`);
    server.hooks = index.status === 200;
    await index.body?.cancel();
  }, 120_000);
  afterAll(async () => {
    if (started === undefined) return;
    if (started.serve !== undefined) {
      started.serve.child.kill("SIGTERM");
      await started.serve.exited;
    }
    await started.database?.drop();
    if (started.dataDir !== undefined) await rm(started.dataDir, { recursive: true, force: true });
  }, 60_000);
  return server;
}

/**
 * True when an Oversqlite example server answers at `base`; false when nothing listens there.
 * Something else answering is an error: the suite must not mistake another service for the server.
 * Health is minimal, so the app name comes from status, which a server answers callers on its own
 * machine (and others only when opened: `--public-status` or the admin token).
 */
async function answersAsExampleServer(base: string): Promise<boolean> {
  try {
    const health = await fetch(`${base}/syncx/health`, { signal: AbortSignal.timeout(2000) });
    await health.body?.cancel();
  } catch {
    return false;
  }
  const response = await fetch(`${base}/syncx/status`, { signal: AbortSignal.timeout(2000) });
  const body = (await response.json().catch(() => undefined)) as
    | { app_name?: unknown; error?: unknown }
    | undefined;
  if (body?.error === "admin_access_denied") {
    throw new Error(
      `${base} refuses /syncx/status to this machine (admin_access_denied): start it with --public-status ` +
        "and --public-test-helpers, or run the suite on the server's machine",
    );
  }
  if (body?.app_name !== EXAMPLE_APP_NAME) {
    throw new Error(
      `${base} answers /syncx/status without app_name "${EXAMPLE_APP_NAME}": point ` +
        "OVERSQLITE_REAL_SERVER_SMOKE_BASE_URL at an Oversqlite example server, or free the address",
    );
  }
  return true;
}
