import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSchemaConfig, parseSchemaConfig } from "./schema-config.js";

const TABLES = [{ schema: "app", table: "notes", syncKeyColumns: ["id"] }];

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "oversync-config-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, content: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

describe("serve --config files", () => {
  it("reads the schema SQL from a file relative to the config file", async () => {
    await mkdir(join(dir, "nested", "sql"), { recursive: true });
    await writeFile(join(dir, "nested", "sql", "schema.sql"), "CREATE SCHEMA IF NOT EXISTS app;");
    const file = await configFile("nested/app.json", {
      appName: "notes-app",
      schemaFile: "sql/schema.sql",
      tables: TABLES,
      maxSupportedSchemaVersion: 3,
    });
    expect(await loadSchemaConfig(file)).toStrictEqual({
      description: `--config ${file}`,
      appName: "notes-app",
      schemaSql: "CREATE SCHEMA IF NOT EXISTS app;",
      schemaSqlFile: join(dir, "nested", "sql", "schema.sql"),
      registeredTables: TABLES,
      maxSupportedSchemaVersion: 3,
    });
  });

  it("takes inline SQL as a string or as lines, none when the tables exist, schema version 1 by default", () => {
    const lines = parseSchemaConfig(
      { appName: "a", schemaSql: ["SELECT 1;", "SELECT 2;"], tables: TABLES },
      "f",
    );
    expect(lines.preset.schemaSql).toBe("SELECT 1;\nSELECT 2;");
    expect(lines.preset.maxSupportedSchemaVersion).toBe(1);
    expect(
      parseSchemaConfig({ appName: "a", schemaSql: "SELECT 1", tables: TABLES }, "f").preset.schemaSql,
    ).toBe("SELECT 1");
    expect(parseSchemaConfig({ appName: "a", tables: TABLES }, "f").preset.schemaSql).toBe("");
  });

  it.each([
    ["an array at the top level", [], "the top level must be a JSON object"],
    ["an unknown field", { appName: "a", tables: TABLES, tabels: [] }, 'unknown field "tabels"'],
    ["no appName", { tables: TABLES }, "appName must be a non-empty string"],
    ["a blank appName", { appName: " ", tables: TABLES }, "appName must be a non-empty string"],
    [
      "both SQL fields",
      { appName: "a", schemaSql: "x", schemaFile: "y", tables: TABLES },
      "give schemaFile or schemaSql, not both",
    ],
    [
      "a schemaFile that is not a string",
      { appName: "a", schemaFile: 1, tables: TABLES },
      "schemaFile must be",
    ],
    ["empty schemaSql", { appName: "a", schemaSql: "  ", tables: TABLES }, "schemaSql must be non-empty SQL"],
    [
      "schemaSql lines with a number",
      { appName: "a", schemaSql: ["x", 1], tables: TABLES },
      "schemaSql must be",
    ],
    ["no tables", { appName: "a" }, "tables must be a non-empty array"],
    ["an empty table list", { appName: "a", tables: [] }, "tables must be a non-empty array"],
    ["a table that is a string", { appName: "a", tables: ["app.notes"] }, "tables[0] must be an object"],
    [
      "a table with an unknown field",
      { appName: "a", tables: [{ ...TABLES[0], key: "id" }] },
      'tables[0] has unknown field "key"',
    ],
    [
      "a table without schema",
      { appName: "a", tables: [{ table: "notes", syncKeyColumns: ["id"] }] },
      "tables[0].schema must be a non-empty string",
    ],
    [
      "a blank table name",
      { appName: "a", tables: [TABLES[0], { schema: "app", table: "", syncKeyColumns: ["id"] }] },
      "tables[1].table must be a non-empty string",
    ],
    [
      "a key given as a string",
      { appName: "a", tables: [{ schema: "app", table: "notes", syncKeyColumns: "id" }] },
      'tables[0].syncKeyColumns must name exactly one column, e.g. ["id"]',
    ],
    [
      "a two-column key",
      { appName: "a", tables: [{ schema: "app", table: "notes", syncKeyColumns: ["a", "b"] }] },
      "tables[0].syncKeyColumns must name exactly one column",
    ],
    [
      "a table registered twice",
      { appName: "a", tables: [TABLES[0], TABLES[0]] },
      "tables[1] registers app.notes a second time",
    ],
    [
      "a fractional schema version",
      { appName: "a", tables: TABLES, maxSupportedSchemaVersion: 1.5 },
      "maxSupportedSchemaVersion must be a whole number from 0 to 2147483647",
    ],
    [
      "a schema version as text",
      { appName: "a", tables: TABLES, maxSupportedSchemaVersion: "1" },
      "maxSupportedSchemaVersion must be a whole number",
    ],
  ])("refuses %s, naming the field", (_case, json, message) => {
    expect(() => parseSchemaConfig(json, "app.json")).toThrow(
      expect.objectContaining({
        code: "invalid_config_file",
        message: expect.stringContaining(`--config app.json: ${message}`),
      }),
    );
  });

  it("refuses a file that is missing, not JSON, or names a missing schema file", async () => {
    const missing = join(dir, "missing.json");
    await expect(loadSchemaConfig(missing)).rejects.toMatchObject({
      code: "invalid_config_file",
      message: `--config ${missing}: cannot read it: no such file`,
    });
    const notJson = await configFile("broken.json", '{"appName": "a",');
    await expect(loadSchemaConfig(notJson)).rejects.toMatchObject({
      code: "invalid_config_file",
      message: expect.stringContaining(`--config ${notJson}: it is not valid JSON:`),
    });
    const noSql = await configFile("no-sql.json", { appName: "a", schemaFile: "absent.sql", tables: TABLES });
    await expect(loadSchemaConfig(noSql)).rejects.toMatchObject({
      code: "invalid_config_file",
      message: `--config ${noSql}: schemaFile: cannot read ${join(dir, "absent.sql")}: no such file`,
    });
  });
});
