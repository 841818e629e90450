/**
 * The `samplesync` example (`oversync serve --example samplesync`): the three tables of upstream's
 * samplesync server (go-oversync examples/samplesync_server), which the samplesync-kmp and
 * flutter_samplesync apps of sqlitenow-kmp sync. People, their addresses and comments, in schema
 * `business`, reported as app `samplesync-server`, so those apps can point at this server unchanged.
 *
 * The column names, types and nullability follow the upstream server; the local side follows the
 * apps (uuid keys as 16-byte BLOBs except comment.id, which the apps keep as uuid text).
 */
import { EXAMPLE_SCHEMA, type ExampleColumn, type ExampleTable } from "./example-schema.js";

/** The `app_name` upstream's samplesync server reports. */
export const SAMPLESYNC_APP_NAME = "samplesync-server";

const column = (
  name: string,
  type: string,
  nullable: boolean,
  extra: Partial<ExampleColumn> = {},
): ExampleColumn => ({
  name,
  type,
  nullable,
  ...extra,
});
const id = column("id", "uuid", false);
const personId = column("person_id", "uuid", false);
const stamp = (name: string) => column(name, "timestamp with time zone", true, { defaultNow: true });

/**
 * The server tables. Unlike the apps' local tables, whose deletes cascade, the server's foreign
 * keys take no action, as upstream's do: a client's cascade already sends the children's deletes in
 * the same bundle, and the deferred check passes at commit.
 */
export const SAMPLESYNC_TABLES: readonly ExampleTable[] = [
  {
    name: "person",
    columns: [
      id,
      column("first_name", "text", false),
      column("last_name", "text", false),
      column("email", "text", false),
      column("phone", "text", true),
      column("birth_date", "text", true),
      stamp("created_at"),
      stamp("updated_at"),
      column("score", "double precision", true),
      column("is_active", "boolean", false, { defaultValue: "true" }),
      column("ssn", "bigint", true),
      column("notes", "text", true),
    ],
    foreignKeys: [],
    // The apps declare email UNIQUE locally; on the server it is unique per user.
    indexes: [{ columns: ["email"], unique: true }, { columns: ["last_name", "first_name"] }],
  },
  {
    name: "person_address",
    columns: [
      id,
      personId,
      column("address_type", "text", false),
      column("street", "text", false),
      column("city", "text", false),
      column("state", "text", true),
      column("postal_code", "text", true),
      column("country", "text", false),
      column("is_primary", "boolean", false, { defaultValue: "false" }),
      stamp("created_at"),
    ],
    foreignKeys: [{ column: "person_id", table: "person", onDelete: "NO ACTION" }],
    indexes: [{ columns: ["person_id"] }, { columns: ["person_id", "is_primary"] }],
  },
  {
    name: "comment",
    columns: [
      id,
      personId,
      column("comment", "text", false),
      stamp("created_at"),
      column("tags", "text", true),
    ],
    foreignKeys: [{ column: "person_id", table: "person", onDelete: "NO ACTION" }],
    indexes: [{ columns: ["person_id"] }],
  },
];

/** The client configuration the samplesync apps open with. */
export const SAMPLESYNC_CLIENT_CONFIG = {
  schema: EXAMPLE_SCHEMA,
  syncTables: SAMPLESYNC_TABLES.map((table) => ({ tableName: table.name, syncKeyColumnName: "id" })),
} as const;

/**
 * The apps' local tables: the same columns in SQLite's types, timestamps as RFC 3339 text filled in
 * locally, booleans as 0/1, and deletes of a person cascading to its addresses and comments.
 */
export function samplesyncClientSchemaSql(): string {
  const now = "(strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))";
  return `CREATE TABLE IF NOT EXISTS person (
  id BLOB NOT NULL PRIMARY KEY DEFAULT (randomblob(16)),
  first_name TEXT NOT NULL,
  last_name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  phone TEXT,
  birth_date TEXT,
  created_at TEXT NOT NULL DEFAULT ${now},
  updated_at TEXT NOT NULL DEFAULT ${now},
  ssn INTEGER,
  score REAL,
  is_active INTEGER NOT NULL DEFAULT 1,
  notes TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS person_name_idx ON person (last_name, first_name);
CREATE TABLE IF NOT EXISTS person_address (
  id BLOB NOT NULL PRIMARY KEY DEFAULT (randomblob(16)),
  person_id BLOB NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  address_type TEXT NOT NULL,
  street TEXT NOT NULL,
  city TEXT NOT NULL,
  state TEXT,
  postal_code TEXT,
  country TEXT NOT NULL,
  is_primary INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT ${now}
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS person_address_person_idx ON person_address (person_id, is_primary);
CREATE TABLE IF NOT EXISTS comment (
  id TEXT NOT NULL PRIMARY KEY,
  person_id BLOB NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  comment TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT ${now},
  tags TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS comment_person_idx ON comment (person_id);`;
}
