/**
 * The app process complex-multi-batch kills mid-push (spawned by crash-push.ts, arguments as JSON in
 * OVERSYNC_SIMULATE_CRASH): it opens the device's SQLite file, resumes the attachment and pushes its
 * queued changes, reporting each chunk it uploads; when the push reaches the commit it SIGKILLs
 * itself, either just before sending the commit or just after the server's answer arrives (the
 * server has committed, the device has not recorded it). `process.kill(process.pid, "SIGKILL")`
 * delivers the signal before it returns, so nothing after the crash point runs; this is the only
 * way to stop a process between two of its own statements, which no outside signal can time.
 *
 * Output: one JSON line per event on stdout (`{"event":"chunk","start":0}`, `{"event":"crash"}`),
 * written synchronously so it is complete when the process dies.
 */
import { writeSync } from "node:fs";
import { createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { EXAMPLE_CLIENT_CONFIG } from "../example-client-schema.js";
import type { CrashPushArgs } from "./crash-push.js";

const args = JSON.parse(process.env.OVERSYNC_SIMULATE_CRASH ?? "") as CrashPushArgs;

function report(event: Record<string, unknown>): void {
  writeSync(1, `${JSON.stringify(event)}\n`);
}

function crash(): never {
  report({ event: "crash" });
  process.kill(process.pid, "SIGKILL");
  throw new Error("SIGKILL did not end the process");
}

const crashingFetch: typeof fetch = async (input, init) => {
  const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
  const post = init?.method === "POST";
  if (post && path.endsWith("/chunks") && typeof init?.body === "string") {
    report({
      event: "chunk",
      start: (JSON.parse(init.body) as { start_row_ordinal: number }).start_row_ordinal,
    });
  }
  const commit = post && path.endsWith("/commit");
  if (commit && args.crashAt === "before_commit") crash();
  const response = await fetch(input, init);
  if (commit && args.crashAt === "after_commit") crash();
  return response;
};

const driver = await openBetterSqlite3Driver(args.file);
const client = createSyncClient({
  driver,
  baseUrl: args.serverUrl,
  tokenProvider: () => args.token,
  config: EXAMPLE_CLIENT_CONFIG,
  uploadLimit: args.uploadLimit,
  fetch: crashingFetch,
});
try {
  await client.open();
  await client.attach(args.userId);
  const outcome = (await client.pushPending()).outcome;
  report({ event: "finished", outcome });
} catch (error) {
  report({ event: "failed", message: (error as Error).message });
} finally {
  await client.close().catch(() => undefined);
  await driver.close();
}
