import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runNodeClient } from "../../docs/examples/node-client.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  exampleRegion,
  exampleWithImports,
  readme,
  startQuietReferenceServer,
} from "../support/readme-support.js";

describe("README: the Node client example against the reference server", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "oversync-node-client-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the README quotes the example verbatim with its imports, in about twenty lines", () => {
    const region = exampleRegion("docs/examples/node-client.ts");
    expect(readme()).toContain(exampleWithImports("docs/examples/node-client.ts"));
    expect(region.split("\n").length).toBeLessThanOrEqual(24);
  });

  it("writes a row locally and sync puts it in the server's users table", async () => {
    const report = await runNodeClient(server.url, join(dir, "ada.db"), "ada");
    expect(report.pushOutcome).toBe("committed");
    expect(report.syncStatus.pending.pendingRowCount).toBe(0);
    const { rows } = await db.pool.query(
      "SELECT name, email FROM business.users WHERE _sync_scope_id = 'ada'",
    );
    expect(rows).toEqual([{ name: "Ada", email: "ada@example.com" }]);
  });
});
