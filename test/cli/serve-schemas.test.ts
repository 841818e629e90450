/**
 * `oversync serve` over other schemas than the default example, as a real child process on PGlite
 * and on PostgreSQL: `--example samplesync` with our client pushing and pulling people, addresses
 * and comments between two devices, and `--config` with the README's example schema (text and uuid
 * keys, a cascading foreign key), restarted to show its SQL runs again harmlessly, with the test
 * helpers working over it. Bad config files stop serve with one clear line and no stack trace.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_PRESETS, type PresetClientSchema } from "@oversync/cli";
import { type SqliteDriver, type SyncClient, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { uuidToBytes } from "@oversync/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { readme } from "../support/readme-support.js";
import { type ServeProcess, killServeProcesses, runCli, startServe } from "../support/serve-process.js";
import { send, signIn } from "./serve-support.js";

let dataRoot: string;
let pgDb: TestDatabase;

beforeAll(async () => {
  dataRoot = await mkdtemp(join(tmpdir(), "oversync-schemas-"));
  pgDb = await createTestDatabase();
});

afterAll(async () => {
  killServeProcesses();
  await pgDb?.drop();
  await rm(dataRoot, { recursive: true, force: true });
});

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
}

/** A device of the app whose local schema is `schema`, signed in with `token`, opened on `url`. */
async function openDevice(
  url: string,
  token: string,
  file: string,
  schema: PresetClientSchema,
): Promise<Device> {
  const driver = await openBetterSqlite3Driver(file);
  await driver.exec(schema.schemaSql);
  const client = createSyncClient({
    driver,
    baseUrl: url,
    tokenProvider: () => token,
    config: schema.config,
  });
  await client.open();
  return { driver, client };
}

async function closeDevices(devices: readonly (Device | undefined)[]): Promise<void> {
  for (const device of devices) {
    await device?.client.close();
    await device?.driver.close();
  }
}

/** SIGTERM, then the exit code (0 after a graceful shutdown). */
async function stop(server: ServeProcess | undefined): Promise<number | null | undefined> {
  if (server === undefined) return undefined;
  server.child.kill("SIGTERM");
  return (await server.exited).code;
}

/** Serve on PGlite (a data dir per run) or on the test database. */
const engines: [string, (name: string) => { args: string[]; env: NodeJS.ProcessEnv }][] = [
  ["PGlite", (name) => ({ args: ["--data-dir", join(dataRoot, name)], env: {} })],
  ["PostgreSQL", () => ({ args: [], env: { DATABASE_URL: pgDb.url } })],
];

describe.each(engines)("serve --example samplesync on %s", (engine, target) => {
  let server: ServeProcess;
  let phone: Device;
  let laptop: Device;
  const user = `samplesync-${engine}`;
  const personId = randomUUID();
  const addressId = randomUUID();
  const commentId = randomUUID();

  beforeAll(async () => {
    const { args, env } = target(`samplesync-${engine}`);
    server = await startServe(["--example", "samplesync", ...args], env);
    const token = await signIn(server.url, user);
    const client = EXAMPLE_PRESETS.samplesync.client!;
    phone = await openDevice(server.url, token, join(dataRoot, `${engine}-phone.db`), client);
    laptop = await openDevice(server.url, token, join(dataRoot, `${engine}-laptop.db`), client);
  });

  afterAll(async () => {
    await closeDevices([phone, laptop]);
    expect(await stop(server)).toBe(0);
  });

  it("reports upstream's app name and registers the three tables", async () => {
    const status = await send(`${server.url}/syncx/status`);
    expect(status.body).toMatchObject({
      app_name: "samplesync-server",
      registered_tables: ["business.comment", "business.person", "business.person_address"],
    });
    expect(server.stderr()).toContain(
      "app        samplesync-server: schema business, 3 tables (the samplesync example)",
    );
  });

  it("a person with an address and a comment reaches the second device", async () => {
    expect(await phone.client.attach(user)).toMatchObject({ status: "connected" });
    await phone.driver.run(
      `INSERT INTO person (id, first_name, last_name, email, birth_date, score, is_active, ssn)
       VALUES (?, 'Ada', 'Lovelace', 'ada@example.com', '1815-12-10', 9.5, 1, 123456789)`,
      [uuidToBytes(personId)],
    );
    await phone.driver.run(
      `INSERT INTO person_address (id, person_id, address_type, street, city, country, is_primary)
       VALUES (?, ?, 'home', '12 St James Square', 'London', 'GB', 1)`,
      [uuidToBytes(addressId), uuidToBytes(personId)],
    );
    await phone.driver.run(
      "INSERT INTO comment (id, person_id, comment, tags) VALUES (?, ?, 'first programmer', '[\"math\"]')",
      [commentId, uuidToBytes(personId)],
    );
    expect(await phone.client.sync()).toMatchObject({ pushOutcome: "committed" });

    expect(await laptop.client.attach(user)).toMatchObject({
      status: "connected",
      outcome: "used_remote_state",
    });
    expect(
      await laptop.driver.query(
        "SELECT hex(id) AS id, first_name, email, birth_date, score, is_active, ssn, notes FROM person",
      ),
    ).toEqual([
      {
        id: hex(personId),
        first_name: "Ada",
        email: "ada@example.com",
        birth_date: "1815-12-10",
        score: 9.5,
        is_active: 1n,
        ssn: 123456789n,
        notes: null,
      },
    ]);
    expect(
      await laptop.driver.query("SELECT hex(person_id) AS person, city, is_primary FROM person_address"),
    ).toEqual([{ person: hex(personId), city: "London", is_primary: 1n }]);
    expect(
      await laptop.driver.query("SELECT id, hex(person_id) AS person, comment, tags FROM comment"),
    ).toEqual([{ id: commentId, person: hex(personId), comment: "first programmer", tags: '["math"]' }]);
    if (engine === "PostgreSQL") {
      const { rows } = await pgDb.pool.query(
        "SELECT id::text, is_active, score, ssn::text FROM business.person WHERE _sync_scope_id = $1",
        [user],
      );
      expect(rows).toEqual([{ id: personId, is_active: true, score: 9.5, ssn: "123456789" }]);
    }
  });

  it("an update and a delete travel back, and deleting the person removes its rows everywhere", async () => {
    await laptop.driver.run("UPDATE person SET notes = 'Analytical Engine' WHERE id = ?", [
      uuidToBytes(personId),
    ]);
    await laptop.driver.run("DELETE FROM comment WHERE id = ?", [commentId]);
    expect(await laptop.client.sync()).toMatchObject({ pushOutcome: "committed" });
    await phone.client.sync();
    expect(await phone.driver.query("SELECT notes FROM person")).toEqual([{ notes: "Analytical Engine" }]);
    expect(await phone.driver.query("SELECT id FROM comment")).toEqual([]);

    // The local cascade sends the address's delete along with the person's.
    await phone.driver.run("DELETE FROM person WHERE id = ?", [uuidToBytes(personId)]);
    expect(await phone.client.sync()).toMatchObject({ pushOutcome: "committed" });
    await laptop.client.sync();
    for (const table of ["person", "person_address", "comment"]) {
      expect(await laptop.driver.query(`SELECT count(*) AS n FROM ${table}`)).toEqual([{ n: 0n }]);
    }
    if (engine === "PostgreSQL") {
      const { rows } = await pgDb.pool.query(
        `SELECT (SELECT count(*) FROM business.person WHERE _sync_scope_id = $1)
              + (SELECT count(*) FROM business.person_address WHERE _sync_scope_id = $1) AS n`,
        [user],
      );
      expect(rows).toEqual([{ n: "0" }]);
    }
  });
});

/**
 * The README's `--config` example (the blocks after `<!-- serve-config-example -->`): notebooks
 * keyed by text, notes keyed by uuid and deleted with their notebook.
 */
function readmeConfigExample(): { config: Record<string, unknown>; sql: string } {
  const text = readme();
  const block = (language: string) => {
    const start = text.indexOf(`\`\`\`${language}\n`, text.indexOf("<!-- serve-config-example -->"));
    return text.slice(start + language.length + 4, text.indexOf("```", start + 3));
  };
  return { config: JSON.parse(block("json")), sql: block("sql") };
}

const NOTES_CLIENT: PresetClientSchema = {
  schemaSql: `CREATE TABLE IF NOT EXISTS notebook (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS note (
  id TEXT PRIMARY KEY NOT NULL,
  notebook_id TEXT NOT NULL REFERENCES notebook (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  body TEXT NOT NULL,
  pinned INTEGER NOT NULL DEFAULT 0
);`,
  config: {
    schema: "notes_app",
    syncTables: [
      { tableName: "notebook", syncKeyColumnName: "id" },
      { tableName: "note", syncKeyColumnName: "id" },
    ],
  },
};

/** Writes `files` (name -> content) into a fresh directory; returns the directory. */
async function writeFiles(name: string, files: Record<string, unknown>): Promise<string> {
  const dir = join(dataRoot, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await writeFile(
      join(dir, file),
      typeof content === "string" ? content : JSON.stringify(content, null, 2),
    );
  }
  return dir;
}

describe.each(engines)("serve --config on %s", (engine, target) => {
  let server: ServeProcess | undefined;
  let configFile: string;
  const user = `notes-${engine}`;
  const devices: Device[] = [];

  beforeAll(async () => {
    const { config, sql } = readmeConfigExample();
    const dir = await writeFiles(`notes-config-${engine}`, {
      "schema.sql": sql,
      // A version other than the default, to see it advertised.
      "notes.json": { ...config, maxSupportedSchemaVersion: 2 },
    });
    configFile = join(dir, "notes.json");
  });

  afterAll(async () => {
    await closeDevices(devices);
    await stop(server);
  });

  it("serves the file's tables, and starts again on the same database", async () => {
    const { args, env } = target(`notes-${engine}`);
    const first = await startServe(["--config", configFile, ...args], env);
    expect(first.stderr()).toContain(
      `app        notes-app: schema notes_app, 2 tables (--config ${configFile})`,
    );
    expect(await stop(first)).toBe(0);
    // The schema SQL runs again over tables bootstrap has already put triggers on.
    server = await startServe(["--config", configFile, "--test-hooks", ...args], env);
    const status = await send(`${server.url}/syncx/status`);
    expect(status.body).toMatchObject({
      app_name: "notes-app",
      registered_tables: ["notes_app.note", "notes_app.notebook"],
    });
  });

  it("a client syncs the file's tables between two devices, server-originated writes included", async () => {
    const url = server!.url;
    const token = await signIn(url, user);
    const capabilities = await send(`${url}/sync/capabilities`, {
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": "probe" },
    });
    expect(capabilities.body).toMatchObject({ app_name: "notes-app", schema_version: 2 });
    const [desk, tablet] = [
      await openDevice(url, token, join(dataRoot, `${engine}-desk.db`), NOTES_CLIENT),
      await openDevice(url, token, join(dataRoot, `${engine}-tablet.db`), NOTES_CLIENT),
    ];
    devices.push(desk!, tablet!);
    const noteId = randomUUID();
    await desk!.client.attach(user);
    await desk!.driver.run("INSERT INTO notebook (id, title) VALUES ('work', 'Work')");
    await desk!.driver.run(
      "INSERT INTO note (id, notebook_id, body, pinned) VALUES (?, 'work', 'ship it', 1)",
      [noteId],
    );
    expect(await desk!.client.sync()).toMatchObject({ pushOutcome: "committed" });
    expect(await tablet!.client.attach(user)).toMatchObject({ outcome: "used_remote_state" });
    expect(await tablet!.driver.query("SELECT id, notebook_id, body, pinned FROM note")).toEqual([
      { id: noteId, notebook_id: "work", body: "ship it", pinned: 1n },
    ]);

    // The test helpers know nothing of the schema: a server-side insert reaches the tablet.
    const serverNote = randomUUID();
    const written = await send(`${url}/test/server-sql`, {
      method: "POST",
      body: JSON.stringify({
        user_id: user,
        statements: [
          {
            sql: "INSERT INTO notes_app.note (id, notebook_id, body) VALUES ($1, 'work', 'from the server')",
            params: [serverNote],
          },
        ],
      }),
    });
    expect(written.status).toBe(200);
    await tablet!.client.sync();
    expect(await tablet!.driver.query("SELECT body, pinned FROM note WHERE id = ?", [serverNote])).toEqual([
      { body: "from the server", pinned: 0n },
    ]);
    const watchers = await send(`${url}/test/watch-subscribers?user_id=${user}`);
    expect(watchers.body).toMatchObject({ subscriber_count: 0 });

    // Deleting the notebook cascades on both sides.
    await tablet!.driver.run("DELETE FROM notebook WHERE id = 'work'");
    expect(await tablet!.client.sync()).toMatchObject({ pushOutcome: "committed" });
    await desk!.client.sync();
    expect(await desk!.driver.query("SELECT count(*) AS n FROM note")).toEqual([{ n: 0n }]);
  });
});

describe("serve --config refuses what it cannot serve, in one line without a stack trace", () => {
  const TABLE = { schema: "app", table: "item", syncKeyColumns: ["id"] };

  /** Runs serve with `config` on a fresh PGlite directory; resolves to the exit code and stderr. */
  async function serveWith(name: string, files: Record<string, unknown>) {
    const dir = await writeFiles(`bad-${name}`, files);
    const run = runCli([
      "serve",
      "--port",
      "0",
      "--data-dir",
      join(dir, "data"),
      "--config",
      join(dir, "app.json"),
    ]);
    const { code } = await run.exited;
    return { code, stderr: run.stderr(), dir };
  }

  function expectOneClearLine(stderr: string, code: string): void {
    expect(stderr).toMatch(new RegExp(`^oversync: [^]*\\[${code}\\]\\n$`));
    expect(stderr).not.toContain("unexpected failure");
    expect(stderr).not.toMatch(/\n\s+at /);
  }

  it("a field of the wrong kind: invalid_config_file naming it", async () => {
    const { code, stderr, dir } = await serveWith("field", {
      "app.json": { appName: "a", tables: [{ ...TABLE, syncKeyColumns: "id" }] },
    });
    expect(code).toBe(1);
    expectOneClearLine(stderr, "invalid_config_file");
    expect(stderr).toContain(
      `--config ${join(dir, "app.json")}: tables[0].syncKeyColumns must name exactly one column, e.g. ["id"]`,
    );
  });

  it("a file that is not JSON: invalid_config_file", async () => {
    const { code, stderr } = await serveWith("json", { "app.json": "appName: a" });
    expect(code).toBe(1);
    expectOneClearLine(stderr, "invalid_config_file");
    expect(stderr).toContain("it is not valid JSON");
  });

  it("schema SQL PostgreSQL refuses: schema_sql_failed with the file and line", async () => {
    const { code, stderr, dir } = await serveWith("sql", {
      "app.json": { appName: "a", schemaFile: "schema.sql", tables: [TABLE] },
      "schema.sql":
        "CREATE SCHEMA IF NOT EXISTS app;\n\nCREATE TABLE app.item (id uuid PRIMARY KEY,, name text);\n",
    });
    expect(code).toBe(1);
    expectOneClearLine(stderr, "schema_sql_failed");
    expect(stderr).toContain(`(${join(dir, "schema.sql")}) failed at line 3: syntax error at or near ","`);
  });

  it("tables oversync cannot sync: unsupported_schema listing each problem", async () => {
    const { code, stderr } = await serveWith("unsupported", {
      "app.json": {
        appName: "a",
        schemaSql: [
          "CREATE SCHEMA IF NOT EXISTS app;",
          "CREATE TABLE IF NOT EXISTS app.item (id uuid PRIMARY KEY, name text);",
        ],
        tables: [TABLE, { schema: "app", table: "missing", syncKeyColumns: ["id"] }],
      },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^oversync: --config .*app\.json: registered tables are not supported by oversync/,
    );
    expect(stderr).toContain("- app.item [scope_column]");
    expect(stderr).toContain("- app.missing [table_exists]");
    expect(stderr).toMatch(/\[unsupported_schema\]\n$/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

/** The hex SQLite prints for the 16 bytes of `uuid`. */
function hex(uuid: string): string {
  return uuid.replaceAll("-", "").toUpperCase();
}
