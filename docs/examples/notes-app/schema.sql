-- schema.sql runs at every start, before the sync runtime checks the tables: keep it idempotent.
CREATE SCHEMA IF NOT EXISTS notes_app;
CREATE TABLE IF NOT EXISTS notes_app.notebook (
  _sync_scope_id text NOT NULL, -- the owning user; the server fills it in
  id text NOT NULL,
  title text NOT NULL,
  PRIMARY KEY (_sync_scope_id, id)
);
CREATE TABLE IF NOT EXISTS notes_app.note (
  _sync_scope_id text NOT NULL,
  id uuid NOT NULL,
  notebook_id text NOT NULL,
  body text NOT NULL,
  pinned boolean NOT NULL DEFAULT false,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, notebook_id) REFERENCES notes_app.notebook (_sync_scope_id, id)
    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
