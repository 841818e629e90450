import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEV_JWT_SECRET, type RunningServer, startServer } from "@oversync/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runNodeClient } from "../../docs/examples/node-client.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The example's quoted region, as the README must show it (indentation removed). */
function exampleRegion(): string {
  const text = readFileSync(join(root, "docs/examples/node-client.ts"), "utf8");
  const body = text.slice(text.indexOf("// readme:begin\n") + 16, text.indexOf("  // readme:end"));
  return body
    .split("\n")
    .map((line) => line.replace(/^ {2}/, ""))
    .join("\n")
    .trim();
}

describe("README: the Node client example against the reference server", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "oversync-node-client-"));
    server = await startServer({
      port: 0,
      host: "127.0.0.1",
      dataDir: join(dir, "data"),
      databaseUrl: db.url,
      jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
      tokenTtlSeconds: 600,
      shutdownGraceMs: 1000,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      say: () => {},
    });
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the README quotes the example verbatim, in about twenty lines", () => {
    const region = exampleRegion();
    expect(readFileSync(join(root, "README.md"), "utf8")).toContain(region);
    expect(region.split("\n").length).toBeLessThanOrEqual(24);
  });

  it("writes a row locally and sync puts it in the server's users table", async () => {
    const report = await runNodeClient(server.url, join(dir, "ada.db"), "ada");
    expect(report.pushOutcome).toBe("committed");
    expect(report.syncStatus.pending.pendingRowCount).toBe(0n);
    const { rows } = await db.pool.query(
      "SELECT name, email FROM business.users WHERE _sync_scope_id = 'ada'",
    );
    expect(rows).toEqual([{ name: "Ada", email: "ada@example.com" }]);
  });
});
