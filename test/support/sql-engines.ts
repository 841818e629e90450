/**
 * The two databases the server runs on, for tests that check the same thing on both: a fresh
 * PostgreSQL database and an embedded PGlite one, made before the file's tests and dropped after.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PglitePool, openPglitePool } from "@oversync/cli";
import type { SqlPool } from "@oversync/server";
import { afterAll, beforeAll } from "vitest";
import { type TestDatabase, createTestDatabase } from "./postgres.js";

/** Registers the file's hooks; each entry is a name and the pool (valid once the tests run). */
export function bothSqlEngines(prefix: string): [string, () => SqlPool][] {
  let pgDb: TestDatabase;
  let lite: PglitePool;
  let dataRoot: string;
  beforeAll(async () => {
    dataRoot = await mkdtemp(join(tmpdir(), prefix));
    [pgDb, lite] = await Promise.all([
      createTestDatabase(),
      openPglitePool({ dataDir: join(dataRoot, "db") }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([pgDb?.drop(), lite?.close()]);
    await rm(dataRoot, { recursive: true, force: true });
  });
  return [
    ["PostgreSQL", () => pgDb.pool],
    ["PGlite", () => lite],
  ];
}
