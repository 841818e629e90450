/**
 * The example's local SQLite tables against the `local-schema/business-rich-v0` contract: the same
 * columns, declared types, NOT NULL, defaults, primary keys and foreign keys as the KMP and Dart
 * clients create (structure only; the contract's SQL text is not ours to reuse).
 */
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { readContractIfPresent, requireContracts } from "../support/contracts.js";

interface ExpectedTable {
  name: string;
  columns: {
    name: string;
    type: string;
    notNull: boolean;
    defaultValue: string | null;
    primaryKeyPosition: number;
  }[];
  foreignKeys: { table: string; from: string; to: string; onDelete: string; onUpdate: string }[];
}

const hasContracts = requireContracts();

describe.skipIf(!hasContracts)("example client schema", () => {
  const expected = readContractIfPresent<{ tables: ExpectedTable[] }>(
    "local-schema/business-rich-v0/schema.expected.json",
    { tables: [] },
  );
  const config = readContractIfPresent<{ schema: string; syncTables: unknown[] }>(
    "local-schema/business-rich-v0/config.json",
    { schema: "", syncTables: [] },
  );
  const db = new Database(":memory:");
  db.exec(exampleClientSchemaSql());
  db.exec(exampleClientSchemaSql()); // idempotent

  it("registers the same tables and keys as the contract's client config", () => {
    expect(EXAMPLE_CLIENT_CONFIG).toEqual(config);
  });

  for (const table of expected.tables.filter((candidate) => !candidate.name.startsWith("_sync_"))) {
    it(`${table.name}: columns and foreign keys match the contract`, () => {
      const columns = db.prepare(`PRAGMA table_info(${table.name})`).all() as {
        name: string;
        type: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      expect(
        columns.map((c) => ({
          name: c.name,
          type: c.type,
          notNull: c.notnull === 1,
          defaultValue: c.dflt_value,
          primaryKeyPosition: c.pk,
        })),
      ).toEqual(
        table.columns.map(({ name, type, notNull, defaultValue, primaryKeyPosition }) => ({
          name,
          type,
          notNull,
          defaultValue,
          primaryKeyPosition,
        })),
      );
      const keys = db.prepare(`PRAGMA foreign_key_list(${table.name})`).all() as {
        table: string;
        from: string;
        to: string;
        on_delete: string;
        on_update: string;
      }[];
      expect(
        keys.map((key) => ({
          table: key.table,
          from: key.from,
          to: key.to,
          onDelete: key.on_delete,
          onUpdate: key.on_update,
        })),
      ).toEqual(
        table.foreignKeys.map((key) => ({
          table: key.table,
          from: key.from,
          to: key.to,
          onDelete: key.onDelete,
          onUpdate: key.onUpdate,
        })),
      );
    });
  }
});
