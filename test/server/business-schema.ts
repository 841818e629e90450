/**
 * The PostgreSQL side of the rich "business" example schema (protocol-latest §5) plus a text-keyed
 * table, used by the server runtime tests.
 */
import type { SqlQueryable } from "@oversync/server";

/** DDL of schema `business`: every table scope-keyed, every FK scope-inclusive and deferrable. */
export const BUSINESS_DDL = `
CREATE SCHEMA business;
CREATE TABLE business.users (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE business.posts (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, title text NOT NULL, content text NOT NULL,
  author_id uuid NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, author_id) REFERENCES business.users (_sync_scope_id, id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE business.categories (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, parent_id uuid NULL,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES business.categories (_sync_scope_id, id)
    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE business.teams (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, captain_member_id uuid NULL,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE business.team_members (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, team_id uuid NOT NULL,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, team_id) REFERENCES business.teams (_sync_scope_id, id)
    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
ALTER TABLE business.teams ADD FOREIGN KEY (_sync_scope_id, captain_member_id)
  REFERENCES business.team_members (_sync_scope_id, id) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE business.files (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, data bytea NOT NULL,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE business.file_reviews (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, review text NOT NULL, file_id uuid NOT NULL,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, file_id) REFERENCES business.files (_sync_scope_id, id)
    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE business.typed_rows (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, note text NULL,
  count_value int8 NULL, small_count int2 NULL, medium_count int4 NULL, exact_amount numeric(30,10) NULL,
  enabled_flag boolean NOT NULL, rating float8 NULL, float4_value float4 NULL, data bytea NULL,
  created_at timestamptz NULL,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE business.docs (
  _sync_scope_id text NOT NULL, doc_id text NOT NULL, body text NULL,
  PRIMARY KEY (_sync_scope_id, doc_id));
`;

/** The registrations matching BUSINESS_DDL. */
export const BUSINESS_TABLES = [
  ...["users", "posts", "categories", "teams", "team_members", "files", "file_reviews", "typed_rows"].map(
    (table) => ({ schema: "business", table, syncKeyColumns: ["id"] }),
  ),
  { schema: "business", table: "docs", syncKeyColumns: ["doc_id"] },
];

/** Creates the business schema. */
export async function createBusinessSchema(db: SqlQueryable): Promise<void> {
  await db.query(BUSINESS_DDL);
}
