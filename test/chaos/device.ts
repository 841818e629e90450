/**
 * One chaos device, as its own process: our client on a SQLite file, writing and syncing until it
 * is killed. Every app write (a new user row, or a rename of one of this device's rows) commits in
 * one transaction together with its ledger entry in `chaos_ledger`, a local table sync does not
 * manage; so whatever moment the process dies at, the ledger holds exactly the acknowledged writes.
 *
 *   node --conditions=@oversync/source --import tsx test/chaos/device.ts '<json DeviceArgs>'
 */
import { randomUUID } from "node:crypto";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli";
import { type SqliteDriver, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";

/** What the orchestrator passes. */
export interface DeviceArgs {
  readonly name: string;
  readonly file: string;
  readonly baseUrl: string;
  readonly userId: string;
  readonly token: string;
}

/** The local table holding this device's acknowledged writes: id → the name it last wrote. */
export const LEDGER_SQL = "CREATE TABLE IF NOT EXISTS chaos_ledger (id TEXT PRIMARY KEY, name TEXT NOT NULL)";

/** Opens a device database with the example schema and the ledger table. */
export async function openDeviceDatabase(file: string): Promise<SqliteDriver> {
  const driver = await openBetterSqlite3Driver(file);
  await driver.exec(exampleClientSchemaSql());
  await driver.exec(LEDGER_SQL);
  return driver;
}

/** A client of the device database, retrying transient failures a few times. */
export function deviceClient(driver: SqliteDriver, args: Pick<DeviceArgs, "baseUrl" | "token">) {
  return createSyncClient({
    driver,
    baseUrl: args.baseUrl,
    tokenProvider: () => args.token,
    config: EXAMPLE_CLIENT_CONFIG,
    timeouts: { requestMillis: 10_000 },
  });
}

async function run(args: DeviceArgs): Promise<never> {
  const driver = await openDeviceDatabase(args.file);
  const client = deviceClient(driver, args);
  await client.open();
  for (;;) {
    try {
      await client.attach(args.userId);
      break;
    } catch {
      await pause(200);
    }
  }
  for (;;) {
    for (let i = 0, n = 1 + Math.floor(Math.random() * 3); i < n; i++) await write(driver, args.name);
    await client.sync().catch(() => undefined);
    await pause(Math.random() * 80);
  }
}

/**
 * One acknowledged write of a value never written before: a new row, or (one time in four) a
 * rename of one of this device's rows.
 */
async function write(driver: SqliteDriver, device: string): Promise<void> {
  const name = `${device}-${randomUUID()}`;
  await driver.transaction(async (tx) => {
    const [mine] = await tx.query<{ id: string }>(
      "SELECT l.id FROM chaos_ledger l JOIN users u ON u.id = l.id ORDER BY random() LIMIT 1",
    );
    const id = mine !== undefined && Math.random() < 0.25 ? mine.id : randomUUID();
    await tx.run(
      "INSERT INTO users (id, name, email) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
      [id, name, `${device}@example.com`],
    );
    await tx.run(
      "INSERT INTO chaos_ledger (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
      [id, name],
    );
  });
}

function pause(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

if (process.argv[1]?.endsWith("device.ts")) {
  await run(JSON.parse(process.argv[2]!) as DeviceArgs);
}
