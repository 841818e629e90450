/**
 * The runtime's statements run as named (prepared) statements by default: each connection prepares
 * a text once and reuses it, so repeating a call prepares nothing new; the host's own SQL in a
 * server write stays unnamed; `preparedStatements: false` prepares none (PgBouncer transaction
 * pooling before 1.21 needs that).
 */
import { type SyncRuntime, createSyncService } from "@oversync/server";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { actor, initializeScope, push, userRow, uuid } from "./service-harness.js";

let db: TestDatabase;
let pool: pg.Pool;
let service: SyncRuntime;

beforeEach(async () => {
  db = await createTestDatabase("oversync_named");
  await createBusinessSchema(db.pool);
  // One connection, so every call runs on the session the test inspects.
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
});

afterEach(async () => {
  await service.close();
  await pool.end();
  await db.drop();
});

async function start(preparedStatements?: boolean) {
  service = createSyncService({
    pool,
    appName: "oversync-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    ...(preparedStatements === undefined ? {} : { preparedStatements }),
    logger: { warn: () => undefined, error: () => undefined },
  });
  await service.bootstrap();
}

async function preparedOnSession(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'oversync\\_%'",
  );
  return rows[0]!.n;
}

async function pushes(from: number, count: number) {
  const ada = actor("ada", "phone");
  if (from === 1) await initializeScope(service, ada);
  for (let i = from; i < from + count; i++) {
    await push(service, ada, i, [userRow(uuid(), `User ${i}`)]);
    await service.pull(ada, { after_bundle_seq: i - 1 });
  }
}

describe("named statements", () => {
  it("prepares each statement once per connection and reuses it", async () => {
    await start();
    await pushes(1, 2);
    const prepared = await preparedOnSession();
    expect(prepared).toBeGreaterThan(10);
    await pushes(3, 5);
    expect(await preparedOnSession()).toBe(prepared);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM business.users");
    expect(rows).toEqual([{ n: 7 }]);
  });

  it("runs the host's SQL in a server write unnamed", async () => {
    await start();
    const host = "INSERT INTO business.users (id, name, email) VALUES ($1, 'Host', 'host@example.com')";
    await service.scopeManager.execWrite("ada", { writerId: "server:import" }, (tx) =>
      tx.query(host, [uuid()]),
    );
    expect(await preparedOnSession()).toBeGreaterThan(0);
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1",
      [host],
    );
    expect(rows).toEqual([{ n: 0 }]);
  });

  it("prepares nothing with preparedStatements: false", async () => {
    await start(false);
    await pushes(1, 3);
    expect(await preparedOnSession()).toBe(0);
  });
});
