/**
 * `oversync serve` as a real child process, run from source as `npm start` runs it
 * (`node --conditions=@oversync/source --import tsx packages/cli/src/bin.ts serve`): startup
 * banner, probes, sign-in and a push/pull round trip over loopback on PGlite and on PostgreSQL,
 * then graceful shutdown on SIGTERM/SIGINT while a request is in flight.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { killServeProcesses, runCli, startServe, waitFor } from "../support/serve-process.js";
import { device, openWatch, pullAll, pushBundle, send, signIn, slowPost, userRow } from "./serve-support.js";

let dataRoot: string;
let pgDb: TestDatabase;

beforeAll(async () => {
  dataRoot = await mkdtemp(join(tmpdir(), "oversync-cli-"));
  pgDb = await createTestDatabase();
});

afterEach(killServeProcesses);

afterAll(async () => {
  await pgDb?.drop();
  await rm(dataRoot, { recursive: true, force: true });
});

/** Health, status, sign-in and one push/pull round trip against a started server. */
async function exerciseSync(url: string): Promise<void> {
  expect((await send(`${url}/syncx/health`)).status).toBe(200);
  const status = await send(`${url}/syncx/status`);
  expect(status.body).toMatchObject({ app_name: "nethttp-server-example" });
  const token = await signIn(url, "cli-user");
  const client = device(url, token, "cli-device");
  const id = randomUUID();
  const bundleSeq = await pushBundle(client, 1, [userRow(id, "child")]);
  const bundles = await pullAll(client);
  expect(bundles.get(bundleSeq)?.map((row) => [row.table, row.key, row.payload?.name])).toStrictEqual([
    ["users", { id }, "child"],
  ]);
}

describe("oversync serve as a child process", () => {
  it("serves PGlite, finishes an in-flight request on SIGTERM, refuses new connections, exits 0", async () => {
    const dataDir = join(dataRoot, "pglite");
    const server = await startServe(["--data-dir", dataDir]);
    expect(server.stderr()).toContain(`url        ${server.url}`);
    expect(server.stderr()).toContain(`PGlite (embedded PostgreSQL) in ${dataDir}`);
    expect(server.stderr()).toContain("JWT_SECRET is not set");
    await exerciseSync(server.url);

    const inFlight = slowPost(`${server.url}/dummy-signin`, JSON.stringify({ user: "late", password: "x" }));
    // Give the server a moment to read the request's headers, so it is in flight when the signal comes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill("SIGTERM");
    await waitFor(() => server.logs.some((entry) => entry.msg === "shutting down"), "shutdown to start");
    await expect(fetch(`${server.url}/syncx/health`)).rejects.toThrow();
    inFlight.finish();
    const reply = await inFlight.reply;
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ user: "late", token: expect.any(String) });
    expect(await server.exited).toStrictEqual({ code: 0, signal: null });
    expect(server.logs.map((entry) => entry.msg).slice(-2)).toStrictEqual(["request", "stopped"]);
    const lines = server.logs.filter((entry) => entry.msg === "request");
    expect(lines.at(-1)).toMatchObject({
      method: "POST",
      path: "/dummy-signin",
      status: 200,
      user_id: "late",
    });
  });

  it("serves PostgreSQL from DATABASE_URL with the password masked, and stops on SIGINT with a watch open", async () => {
    const url = new URL(pgDb.url);
    // Trust authentication ignores the password; it is here to show it never reaches the output.
    if (url.password === "") url.password = "hunter2-secret";
    const password = decodeURIComponent(url.password);
    const server = await startServe([], { DATABASE_URL: url.toString(), JWT_SECRET: "process-test-secret" });
    expect(server.stderr()).toContain("PostgreSQL at postgres://");
    expect(server.stderr()).toContain(":****@");
    expect(server.stderr()).not.toContain("JWT_SECRET is not set");
    await exerciseSync(server.url);
    // An open watch stream ends when the server stops instead of holding shutdown for the grace period.
    const watch = await openWatch(server.url, await signIn(server.url, "cli-user"), "cli-watcher", 0);
    expect(watch.status).toBe(200);
    expect(await watch.next()).toContain("event: bundle");
    server.child.kill("SIGINT");
    await watch.drain();
    expect(await server.exited).toStrictEqual({ code: 0, signal: null });
    expect(server.logs.map((entry) => entry.msg)).not.toContain(
      "cutting connections still open after the grace period",
    );
    expect(server.stderr()).not.toContain(password);
    expect(JSON.stringify(server.logs)).not.toContain(password);
  });

  it("refuses a second server on the same data directory with exit code 1", async () => {
    const dataDir = join(dataRoot, "shared");
    const first = await startServe(["--data-dir", dataDir]);
    const second = runCli(["serve", "--port", "0", "--data-dir", dataDir]);
    expect(await second.exited).toStrictEqual({ code: 1, signal: null });
    expect(second.stderr()).toMatch(
      /another process \(pid \d+\) is serving the PGlite data .*\[data_dir_locked\]/,
    );
    first.child.kill("SIGTERM");
    expect((await first.exited).code).toBe(0);
  });

  it("prints help with exit 0 and refuses a bad command line with exit 2", async () => {
    const help = runCli(["serve", "--help"]);
    expect(await help.exited).toStrictEqual({ code: 0, signal: null });
    expect(help.stdout()).toContain("Usage: oversync serve [options]");
    const bad = runCli(["serve", "--port", "eighty"]);
    expect(await bad.exited).toStrictEqual({ code: 2, signal: null });
    expect(bad.stderr()).toContain('--port "eighty" must be a whole number from 0 to 65535 [usage]');
  });
});
