/**
 * The `sync` schema: every table the runtime keeps beside the business tables, installed in one
 * transaction and labelled with a layout version so a build never runs on a layout it does not know.
 *
 * - `meta`: one row naming the layout.
 * - `table_catalog`: stable small ids for registered tables.
 * - `user_state`: one row per scope: the gapless bundle counter, the retained floor, and the
 *   scope's initialization state and lease. Its names (`user_pk`, `user_id`, used as the scope key
 *   throughout) predate shared scopes, when every scope was a user's; they stay so existing
 *   databases keep their layout.
 * - `source_state`: per (scope, source) sequencing and retirement.
 * - `row_state`: the authoritative version of every row a bundle touched, tombstones included.
 * - `bundle_capture_stage`: row effects captured by triggers inside the open transaction.
 * - `bundle_log` / `bundle_rows`: committed bundles and their rows in final wire form. The two
 *   hashes are stored as their 32 bytes (the wire's lowercase hex is 64 characters), and an upsert's
 *   row leaves `key_text` NULL because its payload holds the key (a delete, without payload, keeps
 *   it): together about 40 bytes less per row and 60 per bundle (docs/performance.md#storage).
 * - `push_sessions` / `push_session_rows`: staged uploads.
 * - `snapshot_sessions` / `snapshot_session_rows`: frozen after-images served in chunks, each row
 *   stored as the exact JSON text the chunk splices in. Both are UNLOGGED: a session is disposable
 *   (a client that loses one gets 404 and opens another), so its bulk writes skip the WAL.
 *
 * The high-volume tables (`row_state`, `bundle_rows`, `push_session_rows`, `snapshot_session_rows`) carry no foreign keys:
 * the runtime writes and deletes them together with their parents, and a per-row FK check would
 * cost more than it protects.
 */
import { quoteIdent } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { SyncLayoutError } from "./schema-errors.js";

/** The schema holding the runtime's tables. */
export const SYNC_SCHEMA = "sync";

/** The label stored in `sync.meta`; a different label means a different layout. */
export const LAYOUT_LABEL = "oversync_server_layout_v2";

/**
 * Earlier labels this build upgrades in place, each with the statements that turn it into the next
 * one. v1 → v2 rewrites `bundle_log` (hex hashes to bytes) and only relaxes `bundle_rows`: rows
 * committed before keep their `key_text`, so the upgrade does not rewrite the largest table.
 */
const LAYOUT_UPGRADES: ReadonlyMap<string, { readonly to: string; readonly ddl: readonly string[] }> =
  new Map([
    [
      "oversync_server_layout_v1",
      {
        to: "oversync_server_layout_v2",
        ddl: [
          `ALTER TABLE sync.bundle_log
           ALTER COLUMN bundle_hash TYPE bytea USING decode(bundle_hash, 'hex'),
           ALTER COLUMN canonical_request_hash TYPE bytea USING decode(canonical_request_hash, 'hex'),
           ADD CONSTRAINT bundle_log_hashes_ck
             CHECK (octet_length(bundle_hash) = 32 AND octet_length(canonical_request_hash) IN (0, 32))`,
          `ALTER TABLE sync.bundle_rows
           ALTER COLUMN key_text DROP NOT NULL,
           ADD CONSTRAINT bundle_rows_delete_key_ck CHECK (op <> 3 OR key_text IS NOT NULL)`,
        ],
      },
    ],
  ]);

/** Key of the transaction advisory lock that serializes bootstraps ("oversync" in ASCII). */
export const BOOTSTRAP_LOCK_KEY = "8031718527699873379";

/**
 * Idempotent DDL, run at every bootstrap once the label is known to match; a later layout revision
 * that only adds objects can append statements here.
 */
const LAYOUT_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS sync.meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    layout text NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE TABLE IF NOT EXISTS sync.table_catalog (
    table_id integer PRIMARY KEY CHECK (table_id > 0),
    schema_name text NOT NULL,
    table_name text NOT NULL,
    sync_key_column text NOT NULL,
    UNIQUE (schema_name, table_name)
  )`,
  `CREATE TABLE IF NOT EXISTS sync.user_state (
    user_pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id text NOT NULL UNIQUE,
    next_bundle_seq bigint NOT NULL DEFAULT 1,
    retained_bundle_floor bigint NOT NULL DEFAULT 0,
    scope_state text NOT NULL DEFAULT 'uninitialized',
    initializer_source_id text,
    initialization_id uuid,
    lease_expires_at timestamptz,
    initialized_at timestamptz,
    initialized_by_source_id text,
    CONSTRAINT user_state_sequence_ck
      CHECK (next_bundle_seq >= 1 AND retained_bundle_floor BETWEEN 0 AND next_bundle_seq - 1),
    CONSTRAINT user_state_scope_ck CHECK (
      (scope_state = 'uninitialized' AND initializer_source_id IS NULL AND initialization_id IS NULL
        AND lease_expires_at IS NULL AND initialized_at IS NULL AND initialized_by_source_id IS NULL)
      OR (scope_state = 'initializing' AND initializer_source_id IS NOT NULL
        AND initialization_id IS NOT NULL AND lease_expires_at IS NOT NULL
        AND initialized_at IS NULL AND initialized_by_source_id IS NULL)
      OR (scope_state = 'initialized' AND initializer_source_id IS NULL AND initialization_id IS NULL
        AND lease_expires_at IS NULL AND initialized_at IS NOT NULL
        AND initialized_by_source_id IS NOT NULL))
  )`,
  `CREATE TABLE IF NOT EXISTS sync.source_state (
    user_pk bigint NOT NULL REFERENCES sync.user_state ON DELETE CASCADE,
    source_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('active', 'reserved', 'retired')),
    max_committed_source_bundle_id bigint NOT NULL DEFAULT 0 CHECK (max_committed_source_bundle_id >= 0),
    replaced_by_source_id text,
    retirement_reason text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_pk, source_id),
    CONSTRAINT source_state_retired_ck CHECK ((state = 'retired') = (retirement_reason IS NOT NULL)),
    CONSTRAINT source_state_replacement_ck CHECK (state = 'retired' OR replaced_by_source_id IS NULL),
    CONSTRAINT source_state_reserved_ck CHECK (state <> 'reserved' OR max_committed_source_bundle_id = 0)
  )`,
  `CREATE TABLE IF NOT EXISTS sync.row_state (
    user_pk bigint NOT NULL,
    table_id integer NOT NULL,
    key_text text NOT NULL,
    bundle_seq bigint NOT NULL CHECK (bundle_seq > 0),
    deleted boolean NOT NULL,
    PRIMARY KEY (user_pk, table_id, key_text)
  )`,
  // Rows live only inside the capturing transaction, so the table needs no WAL.
  `CREATE UNLOGGED TABLE IF NOT EXISTS sync.bundle_capture_stage (
    capture_ordinal bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid bigint NOT NULL DEFAULT txid_current(),
    table_id integer NOT NULL,
    op smallint NOT NULL CHECK (op IN (1, 2, 3)),
    key_text text NOT NULL,
    payload jsonb,
    CHECK ((op = 3) = (payload IS NULL))
  )`,
  "CREATE INDEX IF NOT EXISTS bundle_capture_stage_txid_idx ON sync.bundle_capture_stage (txid, capture_ordinal)",
  `CREATE TABLE IF NOT EXISTS sync.bundle_log (
    user_pk bigint NOT NULL REFERENCES sync.user_state ON DELETE CASCADE,
    bundle_seq bigint NOT NULL CHECK (bundle_seq > 0),
    source_id text NOT NULL,
    source_bundle_id bigint NOT NULL CHECK (source_bundle_id > 0),
    row_count integer NOT NULL CHECK (row_count > 0),
    byte_count bigint NOT NULL,
    bundle_hash bytea NOT NULL,
    canonical_request_hash bytea NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_pk, bundle_seq),
    UNIQUE (user_pk, source_id, source_bundle_id),
    -- A server write's bundle has no request, so its canonical_request_hash is empty.
    CONSTRAINT bundle_log_hashes_ck
      CHECK (octet_length(bundle_hash) = 32 AND octet_length(canonical_request_hash) IN (0, 32))
  )`,
  `CREATE TABLE IF NOT EXISTS sync.bundle_rows (
    user_pk bigint NOT NULL,
    bundle_seq bigint NOT NULL,
    row_ordinal integer NOT NULL CHECK (row_ordinal >= 0),
    table_id integer NOT NULL,
    key_text text,
    op smallint NOT NULL CHECK (op IN (1, 2, 3)),
    payload_wire text,
    PRIMARY KEY (user_pk, bundle_seq, row_ordinal),
    CHECK ((op = 3) = (payload_wire IS NULL)),
    CONSTRAINT bundle_rows_delete_key_ck CHECK (op <> 3 OR key_text IS NOT NULL)
  )`,
  `CREATE TABLE IF NOT EXISTS sync.push_sessions (
    push_id uuid PRIMARY KEY,
    user_pk bigint NOT NULL REFERENCES sync.user_state ON DELETE CASCADE,
    source_id text NOT NULL,
    source_bundle_id bigint NOT NULL CHECK (source_bundle_id > 0),
    planned_row_count integer NOT NULL CHECK (planned_row_count > 0),
    next_expected_row_ordinal integer NOT NULL DEFAULT 0
      CHECK (next_expected_row_ordinal BETWEEN 0 AND planned_row_count),
    canonical_request_hash text NOT NULL,
    initialization_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    UNIQUE (user_pk, source_id, source_bundle_id)
  )`,
  "CREATE INDEX IF NOT EXISTS push_sessions_expires_at_idx ON sync.push_sessions (expires_at)",
  `CREATE TABLE IF NOT EXISTS sync.push_session_rows (
    push_id uuid NOT NULL,
    row_ordinal integer NOT NULL CHECK (row_ordinal >= 0),
    table_id integer NOT NULL,
    key_text text NOT NULL,
    op smallint NOT NULL CHECK (op IN (1, 2, 3)),
    base_row_version bigint NOT NULL CHECK (base_row_version >= 0),
    payload_wire text,
    PRIMARY KEY (push_id, row_ordinal),
    CHECK ((op = 3) = (payload_wire IS NULL))
  )`,
  `CREATE UNLOGGED TABLE IF NOT EXISTS sync.snapshot_sessions (
    snapshot_id uuid PRIMARY KEY,
    user_pk bigint NOT NULL REFERENCES sync.user_state ON DELETE CASCADE,
    source_id text NOT NULL,
    snapshot_bundle_seq bigint NOT NULL CHECK (snapshot_bundle_seq >= 0),
    row_count bigint NOT NULL CHECK (row_count >= 0),
    byte_count bigint NOT NULL CHECK (byte_count >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((row_count = 0) = (byte_count = 0))
  )`,
  // Added after the first release of this layout.
  "ALTER TABLE sync.snapshot_sessions ADD COLUMN IF NOT EXISTS last_used_at timestamptz NOT NULL DEFAULT now()",
  "CREATE INDEX IF NOT EXISTS snapshot_sessions_expires_at_idx ON sync.snapshot_sessions (expires_at)",
  "CREATE INDEX IF NOT EXISTS snapshot_sessions_user_idx ON sync.snapshot_sessions (user_pk, created_at)",
  // row_ordinal is 1-based, so the chunk cursor `after_row_ordinal` n reads ordinals above n.
  `CREATE UNLOGGED TABLE IF NOT EXISTS sync.snapshot_session_rows (
    snapshot_id uuid NOT NULL,
    row_ordinal bigint NOT NULL CHECK (row_ordinal > 0),
    byte_length integer NOT NULL CHECK (byte_length > 0),
    row_text text NOT NULL,
    PRIMARY KEY (snapshot_id, row_ordinal)
  )`,
  // Status counters; sequences because they must count attempts that roll back.
  "CREATE SEQUENCE IF NOT EXISTS sync.rejected_registered_write_seq",
  "CREATE SEQUENCE IF NOT EXISTS sync.history_pruned_error_seq",
  "CREATE SEQUENCE IF NOT EXISTS sync.accepted_push_replay_seq",
];

/**
 * What bootstrap did to the `sync` schema: installed it in an empty database, found it at this
 * build's layout, or upgraded an earlier layout in place.
 */
export type LayoutOutcome = "created" | "verified" | "upgraded";

/**
 * Creates the layout in an empty or missing `sync` schema, or checks the label of an existing one
 * (upgrading an earlier layout this build knows in place) and adds any missing objects. Runs inside
 * the caller's transaction, so an upgrade that fails leaves the old layout whole. Throws
 * SyncLayoutError for an unknown layout label or for a `sync` schema holding objects without a label.
 */
export async function installSyncLayout(client: SqlQueryable): Promise<LayoutOutcome> {
  const schema = quoteIdent(SYNC_SCHEMA);
  const { rows: existing } = await client.query<{ has_schema: boolean; has_meta: boolean; objects: string }>(
    `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS has_schema,
            to_regclass($2) IS NOT NULL AS has_meta,
            (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1)
              + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1)
              AS objects`,
    [SYNC_SCHEMA, `${schema}.meta`],
  );
  const state = existing[0]!;
  if (state.has_meta) {
    const { rows } = await client.query<{ layout: string }>(`SELECT layout FROM ${schema}.meta`);
    let layout = rows[0]?.layout;
    const found = layout;
    for (let upgrade = LAYOUT_UPGRADES.get(layout ?? ""); upgrade; upgrade = LAYOUT_UPGRADES.get(layout)) {
      for (const statement of upgrade.ddl) await client.query(statement);
      layout = upgrade.to;
    }
    if (layout !== LAYOUT_LABEL) {
      throw new SyncLayoutError(
        `schema "${SYNC_SCHEMA}" holds layout ${JSON.stringify(layout ?? null)}, but this server needs ${JSON.stringify(LAYOUT_LABEL)}; use a server build for that layout, or drop the "${SYNC_SCHEMA}" schema (losing sync history) and bootstrap again`,
      );
    }
    for (const statement of LAYOUT_DDL) await client.query(statement);
    if (layout === found) return "verified";
    await client.query(`UPDATE ${schema}.meta SET layout = $1`, [LAYOUT_LABEL]);
    return "upgraded";
  }
  if (state.has_schema && Number(state.objects) > 0) {
    throw new SyncLayoutError(
      `schema "${SYNC_SCHEMA}" already holds ${state.objects} objects but no oversync layout label; it belongs to something else — move those objects or drop the schema, then bootstrap again`,
    );
  }
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  for (const statement of LAYOUT_DDL) await client.query(statement);
  await client.query(`INSERT INTO ${schema}.meta (layout) VALUES ($1)`, [LAYOUT_LABEL]);
  return "created";
}
