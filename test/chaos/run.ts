/**
 * The chaos suite (`npm run chaos`): real device processes write and sync against `oversync serve`
 * on a fresh PostgreSQL database while this script SIGKILLs and restarts the server, SIGKILLs and
 * restarts devices mid-sync, and terminates the server's database connections. Then everything
 * settles and it checks, row for row, that every device holds exactly its user's rows in
 * PostgreSQL and that every acknowledged write is there once, with its last value.
 *
 * Environment: CHAOS_SECONDS (default 45), CHAOS_USERS (2), CHAOS_DEVICES_PER_USER (3).
 * Exits 1 on any divergence, lost or doubled write; prints its figures either way.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase } from "../support/postgres.js";
import { RUN_FROM_SOURCE } from "../support/run-from-source.js";
import { type ServeProcess, freePort, startServe } from "../support/serve-process.js";
import { type DeviceArgs, deviceClient, openDeviceDatabase } from "./device.js";

const seconds = Number(process.env.CHAOS_SECONDS ?? 45);
const userCount = Number(process.env.CHAOS_USERS ?? 2);
const devicesPerUser = Number(process.env.CHAOS_DEVICES_PER_USER ?? 3);
const DEVICE_SCRIPT = fileURLToPath(new URL("./device.ts", import.meta.url));

interface RunningDevice {
  readonly args: DeviceArgs;
  process: ChildProcess | undefined;
  restart: ReturnType<typeof setTimeout> | undefined;
}

const figures = { serverKills: 0, deviceKills: 0, connectionTerminations: 0, terminatedConnections: 0 };

const db = await createTestDatabase("oversync_chaos");
const dir = await mkdtemp(join(tmpdir(), "oversync-chaos-"));
const port = await freePort();
const env = { DATABASE_URL: db.url, JWT_SECRET: "chaos-secret" };
let server: ServeProcess | undefined = await startServe([], env, port);
const baseUrl = server.url;
let failed = false;
const devices: RunningDevice[] = [];

try {
  for (let u = 0; u < userCount; u++) {
    const userId = `chaos-user-${u}`;
    const token = await signIn(userId);
    for (let d = 0; d < devicesPerUser; d++) {
      const name = `u${u}d${d}`;
      devices.push({
        args: { name, file: join(dir, `${name}.db`), baseUrl, userId, token },
        process: undefined,
        restart: undefined,
      });
    }
  }
  for (const device of devices) startDevice(device);

  const end = Date.now() + seconds * 1000;
  const next = { server: soon(6, 12), device: soon(3, 7), connections: soon(4, 9) };
  while (Date.now() < end) {
    await pause(100);
    const now = Date.now();
    if (now >= next.server) {
      server?.child.kill("SIGKILL");
      await server?.exited;
      figures.serverKills++;
      await pause(300 + Math.random() * 1500);
      server = await startServe([], env, port);
      next.server = soon(6, 12);
    }
    if (now >= next.device) {
      const victim = devices[Math.floor(Math.random() * devices.length)]!;
      victim.process?.kill("SIGKILL");
      figures.deviceKills++;
      victim.restart = setTimeout(() => startDevice(victim), 200 + Math.random() * 800);
      next.device = soon(3, 7);
    }
    if (now >= next.connections) {
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      figures.connectionTerminations++;
      figures.terminatedConnections += rows[0]!.n;
      next.connections = soon(4, 9);
    }
  }

  for (const device of devices) await stopDevice(device);
  const report = await settleAndCheck();
  console.log(JSON.stringify({ seconds, ...figures, ...report }));
  failed = report.divergences > 0 || report.lost > 0 || report.doubled > 0;
  if (failed) console.error(`chaos: ${JSON.stringify(report.problems.slice(0, 10), null, 2)}`);
} catch (error) {
  failed = true;
  console.error("chaos: the run itself failed", error);
} finally {
  for (const device of devices) await stopDevice(device);
  server?.child.kill("SIGKILL");
  await server?.exited;
  await db.drop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/** After the chaos: every device syncs until nothing moves, then the comparison. */
async function settleAndCheck() {
  const opened = [];
  for (const device of devices) {
    const driver = await openDeviceDatabase(device.args.file);
    const client = deviceClient(driver, device.args);
    await client.open();
    await client.attach(device.args.userId);
    opened.push({ device, driver, client });
  }
  for (let round = 0; round < 3; round++) {
    for (const { client } of opened) await client.sync();
  }
  const problems: string[] = [];
  let writes = 0;
  let lost = 0;
  let doubled = 0;
  let divergences = 0;
  for (const { device, driver, client } of opened) {
    const { rows: serverRows } = await db.pool.query<{ id: string; name: string; email: string }>(
      `SELECT id::text AS id, name, email FROM business.users WHERE _sync_scope_id = $1 ORDER BY id::text COLLATE "C"`,
      [device.args.userId],
    );
    const local = await driver.query<{ id: string; name: string; email: string }>(
      "SELECT id, name, email FROM users ORDER BY id",
    );
    if (JSON.stringify(local) !== JSON.stringify(serverRows)) {
      divergences++;
      problems.push(`${device.args.name} holds ${local.length} users, PostgreSQL ${serverRows.length}`);
    }
    const byId = new Map(serverRows.map((row) => [row.id, row.name]));
    const ledger = await driver.query<{ id: string; name: string }>("SELECT id, name FROM chaos_ledger");
    writes += ledger.length;
    for (const entry of ledger) {
      if (byId.get(entry.id) !== entry.name) {
        lost++;
        problems.push(`${device.args.name}: ${entry.id} should be ${entry.name}, is ${byId.get(entry.id)}`);
      }
    }
    const names = serverRows.map((row) => row.name);
    doubled += names.length - new Set(names).size;
    const pending = await client.pendingSyncStatus();
    if (pending.pendingRowCount > 0 || pending.rejectedRowCount > 0) {
      problems.push(`${device.args.name} still has ${pending.pendingRowCount} pending rows`);
      divergences++;
    }
    await client.close();
    await driver.close();
  }
  return { clients: devices.length, writes, divergences, lost, doubled, problems };
}

function startDevice(device: RunningDevice): void {
  const child = spawn(process.execPath, [...RUN_FROM_SOURCE, DEVICE_SCRIPT, JSON.stringify(device.args)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr
    .setEncoding("utf8")
    .on("data", (text: string) => process.stderr.write(`[${device.args.name}] ${text}`));
  device.process = child;
}

async function stopDevice(device: RunningDevice): Promise<void> {
  clearTimeout(device.restart);
  const child = device.process;
  device.process = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await gone;
}

async function signIn(userId: string): Promise<string> {
  const reply = await fetch(`${baseUrl}/dummy-signin`, {
    method: "POST",
    body: JSON.stringify({ user: userId, password: "chaos" }),
  });
  return ((await reply.json()) as { token: string }).token;
}

function soon(minSeconds: number, maxSeconds: number): number {
  return Date.now() + (minSeconds + Math.random() * (maxSeconds - minSeconds)) * 1000;
}

function pause(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}
