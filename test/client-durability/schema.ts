/**
 * The `durable` schema both sides agree on: `files` keyed by a BLOB primary key (a UUID on the
 * server, 16 bytes locally, as local-schema/blob-sync and rich-schema's files), and `samples` with
 * one column per value family the durability tests round-trip — INTEGER ↔ int8, REAL ↔ float8,
 * decimal TEXT ↔ numeric, TEXT ↔ text, BLOB ↔ bytea — plus a BLOB foreign key to `files`.
 */
import type { SyncConfig } from "@oversync/client";

/** The logical schema name on the wire. */
export const SCHEMA = "durable";

/** PostgreSQL: every table scope-keyed, the foreign key scope-inclusive and deferrable. */
export const POSTGRES_DDL = `
CREATE SCHEMA durable;
CREATE TABLE durable.files (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, data bytea NULL,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE durable.samples (
  _sync_scope_id text NOT NULL, id text NOT NULL, i64 int8 NULL, r64 float8 NULL,
  amount numeric NULL, amount_text text NULL, note text NULL, data bytea NULL, file_id uuid NULL,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, file_id) REFERENCES durable.files (_sync_scope_id, id)
    DEFERRABLE INITIALLY DEFERRED);
`;

/** The server registrations matching POSTGRES_DDL. */
export const REGISTERED_TABLES = [
  { schema: SCHEMA, table: "files", syncKeyColumns: ["id"] },
  { schema: SCHEMA, table: "samples", syncKeyColumns: ["id"] },
];

/** SQLite: the same tables as the application would declare them. */
export const SQLITE_DDL: readonly string[] = [
  "CREATE TABLE files (id BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL, data BLOB)",
  "CREATE TABLE samples (id TEXT PRIMARY KEY NOT NULL, i64 INTEGER, r64 REAL, amount TEXT, " +
    "amount_text TEXT, note TEXT, data BLOB, file_id BLOB REFERENCES files(id))",
];

/** The client configuration. */
export const SYNC_CONFIG: SyncConfig = {
  schema: SCHEMA,
  syncTables: [
    { tableName: "files", syncKeyColumnName: "id" },
    { tableName: "samples", syncKeyColumnName: "id" },
  ],
};
