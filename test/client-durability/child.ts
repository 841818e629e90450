/**
 * The process the durability tests kill. It opens the device's SQLite file, resumes the
 * attachment and runs one operation; the test kills it with SIGKILL at a step boundary, either from
 * the server side (request-trap.ts) or, for boundaries with no request, by the child itself from
 * the progress listener: `process.kill(process.pid, "SIGKILL")` delivers the signal before it
 * returns, so nothing after the reported phase runs.
 *
 *   node --conditions=@oversync/source --import tsx test/client-durability/child.ts '<ChildArgs as JSON>'
 *
 * On success it prints one JSON line `{"done":true,"outcome":…}` and exits 0; on failure it prints
 * `{"done":false,"error":…}` and exits 1.
 */
import type { SyncPhase } from "@oversync/client";
import { type DeviceOptions, deviceClient, openDriver } from "./local-device.js";

/** What the child runs. */
export interface ChildArgs extends DeviceOptions {
  /** `attach` stops after attaching (a remote-authoritative attach restores a snapshot). */
  readonly operation: "attach" | "push" | "rebuild" | "sync";
  /** Kill this process when the operation reports this phase. */
  readonly killAtPhase?: SyncPhase;
}

const args = JSON.parse(process.argv[2] ?? "") as ChildArgs;
const driver = await openDriver(args.dbPath);
const client = deviceClient(driver, args, (progress) => {
  if (progress.state === "active" && progress.phase === args.killAtPhase)
    process.kill(process.pid, "SIGKILL");
});
try {
  await client.open();
  const attached = await client.attach(args.userId);
  const outcome =
    args.operation === "attach"
      ? attached.status === "connected"
        ? attached.outcome
        : attached.status
      : args.operation === "push"
        ? (await client.pushPending()).outcome
        : args.operation === "rebuild"
          ? (await client.rebuild()).outcome
          : (await client.sync()).remoteOutcome;
  process.stdout.write(`${JSON.stringify({ done: true, outcome })}\n`);
} catch (error) {
  const { name, message, code } = error as { name?: string; message?: string; code?: string };
  process.stdout.write(`${JSON.stringify({ done: false, error: { name, message, code } })}\n`);
  process.exitCode = 1;
} finally {
  await client.close().catch(() => undefined);
  await driver.close();
}
