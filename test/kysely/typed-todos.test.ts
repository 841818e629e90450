/**
 * README "Typed queries with Kysely": docs/examples/typed-todos.ts on two devices of one user
 * against the reference server on real PostgreSQL. The README quotes the example verbatim; the
 * typed writes render through the Kysely live query, a transaction that fails queues nothing, and
 * what one device wrote reaches the other's screen through sync. Every wait is for a rendered list.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_CLIENT_CONFIG, type RunningServer, exampleClientSchemaSql } from "@oversync/cli";
import { type SqliteDriver, SqliteError, type SyncClient, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TypedTodosUi, openTypedTodos } from "../../docs/examples/typed-todos.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { exampleWithImports, readme, startQuietReferenceServer } from "../support/readme-support.js";

type Todo = { id: string; title: string };

/** A device's screen: every list it rendered, and waits for one. */
class RecordingUi implements TypedTodosUi {
  readonly lists: (readonly Todo[])[] = [];
  readonly notes: string[] = [];
  private readonly waiters = new Set<() => void>();

  render(todos: readonly Todo[]): void {
    this.lists.push(todos);
    for (const wake of this.waiters) wake();
  }

  notify(message: string): void {
    this.notes.push(message);
  }

  /** Resolves once the latest list shows exactly `titles`, in order. */
  shows(titles: readonly string[]): Promise<readonly Todo[]> {
    return new Promise((resolve) => {
      const check = () => {
        const latest = this.lists.at(-1);
        if (
          latest === undefined ||
          JSON.stringify(latest.map((todo) => todo.title)) !== JSON.stringify(titles)
        )
          return;
        this.waiters.delete(check);
        resolve(latest);
      };
      this.waiters.add(check);
      check();
    });
  }
}

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  readonly ui: RecordingUi;
  readonly todos: ReturnType<typeof openTypedTodos>;
}

describe("README: typed queries with Kysely", () => {
  let database: TestDatabase;
  let dir: string;
  let server: RunningServer;
  const devices: Device[] = [];

  async function openDevice(name: string, token: string): Promise<Device> {
    const driver = await openBetterSqlite3Driver(join(dir, `${name}.db`));
    await driver.exec(exampleClientSchemaSql());
    const client = createSyncClient({
      driver,
      baseUrl: server.url,
      tokenProvider: () => token,
      config: EXAMPLE_CLIENT_CONFIG,
    });
    await client.open();
    await client.attach("ada");
    const ui = new RecordingUi();
    const device = { driver, client, ui, todos: openTypedTodos(client, driver, ui) };
    devices.push(device);
    return device;
  }

  beforeAll(async () => {
    database = await createTestDatabase("oversync_kysely_readme");
    dir = await mkdtemp(join(tmpdir(), "oversync-typed-todos-"));
    server = await startQuietReferenceServer(database.url, join(dir, "data"));
  });

  afterAll(async () => {
    for (const device of devices) {
      device.todos.stop();
      await device.client.close();
      await device.driver.close();
    }
    await server?.close();
    await database?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the README quotes the example verbatim with its imports", () => {
    expect(readme()).toContain("### Typed queries with Kysely");
    expect(readme()).toContain(exampleWithImports("docs/examples/typed-todos.ts"));
  });

  it("typed writes render through the live query, a failed transaction queues nothing, and sync carries the rest", async () => {
    const signIn = await fetch(new URL("/dummy-signin", server.url), {
      method: "POST",
      body: JSON.stringify({ user: "ada", password: "demo" }),
    });
    const { token } = (await signIn.json()) as { token: string };
    const phone = await openDevice("phone", token);
    await phone.ui.shows([]);

    await phone.todos.add("Buy milk");
    const [milk] = await phone.ui.shows(["Buy milk"]);
    await phone.todos.rename(milk!.id, "Buy oat milk");
    await phone.ui.shows(["Buy oat milk"]);
    await phone.todos.addAll(["Eggs", "Bread"]);
    await phone.ui.shows(["Bread", "Buy oat milk", "Eggs"]);

    // A title left out breaks `title NOT NULL` at the second insert: the first is rolled back too.
    const failed = await phone.todos.addAll(["Jam", undefined as never]).then(
      () => expect.fail("expected the transaction to fail"),
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(SqliteError);
    expect(await phone.driver.query("SELECT title FROM posts WHERE title = 'Jam'")).toEqual([]);

    expect(await phone.client.sync()).toMatchObject({ pushOutcome: "committed" });
    expect((await phone.client.pendingSyncStatus()).hasPendingSyncData).toBe(false);
    const { rows } = await database.pool.query(
      "SELECT title FROM business.posts WHERE _sync_scope_id = 'ada' ORDER BY title",
    );
    expect(rows).toEqual([{ title: "Bread" }, { title: "Buy oat milk" }, { title: "Eggs" }]);

    const laptop = await openDevice("laptop", token);
    await laptop.ui.shows(["Bread", "Buy oat milk", "Eggs"]);
    await laptop.todos.add("Apples");
    await laptop.client.sync();
    await phone.client.sync();
    await phone.ui.shows(["Apples", "Bread", "Buy oat milk", "Eggs"]);
    expect([...phone.ui.notes, ...laptop.ui.notes]).toEqual([]);
  });
});
