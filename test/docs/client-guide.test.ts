/**
 * The docs site's Client guide recipes (docs/examples/client-recipes.ts) against the reference
 * server on PostgreSQL, with devices on real SQLite files: the merging resolver settles a conflict
 * of two renames, the error switch signs in again after a refused token, and the progress bar sees
 * a restore's row counts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, exampleClientSchemaSql } from "@oversync/cli";
import type { SqliteDriver, SyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMergingClient, showProgress, syncOnce } from "../../docs/examples/client-recipes.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";

describe("docs: Client guide recipes", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;
  const open: { client: SyncClient; driver: SqliteDriver }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "oversync-client-guide-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
  });

  afterAll(async () => {
    for (const { client, driver } of open) {
      await client.close();
      await driver.close();
    }
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  async function signIn(user: string): Promise<string> {
    const response = await fetch(`${server.url}/dummy-signin`, {
      method: "POST",
      body: JSON.stringify({ user, password: "demo" }),
    });
    return ((await response.json()) as { token: string }).token;
  }

  /** A device of `user` on its own SQLite file, opened but not attached yet. */
  async function device(user: string, name: string, session: { token: string }) {
    const driver = await openBetterSqlite3Driver(join(dir, `${user}-${name}.db`));
    await driver.exec(exampleClientSchemaSql());
    const client = createMergingClient(driver, server.url, () => session.token);
    open.push({ client, driver });
    await client.open();
    return { client, driver };
  }

  const title = async (driver: SqliteDriver, id: string) =>
    (await driver.query<{ title: string }>("SELECT title FROM posts WHERE id = ?", [id]))[0]?.title;

  it("the resolver keeps both titles when two devices rename the same todo", async () => {
    const session = { token: await signIn("ada") };
    const laptop = await device("ada", "laptop", session);
    const phone = await device("ada", "phone", session);
    await laptop.client.attach("ada");
    await phone.client.attach("ada");
    const id = "8a0d3c52-3f0e-4c1e-9a57-2d7f6b1c0e11";
    await laptop.driver.run("INSERT INTO posts (id, title, content) VALUES (?, 'Milk', '')", [id]);
    await laptop.client.sync();
    await phone.client.sync();
    await laptop.driver.run("UPDATE posts SET title = 'Oat milk' WHERE id = ?", [id]);
    await laptop.client.sync();
    await phone.driver.run("UPDATE posts SET title = 'Soy milk' WHERE id = ?", [id]);
    const report = await phone.client.sync();
    expect(report.conflicts.map((c) => [c.table, c.resolution])).toEqual([["posts", "merged"]]);
    expect(await title(phone.driver, id)).toBe("Oat milk / Soy milk");
    await laptop.client.sync();
    expect(await title(laptop.driver, id)).toBe("Oat milk / Soy milk");
  });

  it("the error switch signs in again after the server refuses the token", async () => {
    const session = { token: await signIn("bea") };
    const { client } = await device("bea", "laptop", session);
    await client.attach("bea");
    session.token = "a-token-the-server-refuses";
    const signInAgain = async () => {
      session.token = await signIn("bea");
    };
    expect(await syncOnce(client, signInAgain)).toBe("signed in again");
    expect(await syncOnce(client, signInAgain)).toBe("synced");
  });

  it("the progress bar counts the rows of a restore", async () => {
    const session = { token: await signIn("cem") };
    const first = await device("cem", "first", session);
    await first.client.attach("cem");
    for (let i = 0; i < 120; i++) {
      await first.driver.run("INSERT INTO posts (id, title, content) VALUES (?, ?, '')", [
        `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        `todo ${i}`,
      ]);
    }
    await first.client.sync();

    const second = await device("cem", "second", session);
    const bars: { text: string; fraction: number | undefined }[] = [];
    showProgress(second.client, (text, fraction) => bars.push({ text, fraction }));
    await second.client.attach("cem"); // restores the 120 rows from a snapshot
    expect(bars.some((bar) => / of 120 rows$/.test(bar.text))).toBe(true);
    expect(bars.filter((bar) => bar.fraction !== undefined).every((bar) => bar.fraction! <= 1)).toBe(true);
    expect(bars.at(-1)).toEqual({ text: "", fraction: undefined });
  });
});
