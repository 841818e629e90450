import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHostServer, stopHostServer } from "../../docs/examples/host-server.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { exampleWithImports, readme } from "../support/readme-support.js";

describe("README: mounting the sync handler in a host app", () => {
  let db: TestDatabase;
  let host: Awaited<ReturnType<typeof startHostServer>>;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`
      CREATE SCHEMA business;
      CREATE TABLE business.users (
        _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL,
        PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE business.posts (
        _sync_scope_id text NOT NULL, id uuid NOT NULL, author_id uuid, title text NOT NULL,
        PRIMARY KEY (_sync_scope_id, id),
        FOREIGN KEY (_sync_scope_id, author_id) REFERENCES business.users (_sync_scope_id, id)
          DEFERRABLE INITIALLY DEFERRED);`);
    host = await startHostServer({
      databaseUrl: db.url,
      port: 0,
      verifySession: async (token) => (token === "session-of-ada" ? "ada" : null),
    });
    const address = host.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    base = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    if (host) await stopHostServer(host);
    await db?.drop();
  });

  it("the README quotes the example verbatim, with its imports of the published entry points", () => {
    expect(readme()).toContain(exampleWithImports("docs/examples/host-server.ts"));
  });

  it("serves capabilities to a user the host's auth accepts, with watch enabled", async () => {
    const response = await fetch(`${base}/sync/capabilities`, {
      headers: { authorization: "Bearer session-of-ada", "oversync-source-id": "device-1" },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { features: Record<string, boolean> };
    expect(body.features.bundle_change_watch).toBe(true);
  });

  it("answers 401 when the host's auth refuses the token", async () => {
    const response = await fetch(`${base}/sync/connect`, {
      method: "POST",
      headers: { authorization: "Bearer forged", "oversync-source-id": "device-1" },
      body: JSON.stringify({ has_local_pending_rows: false }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: "authentication_failed" });
  });
});
