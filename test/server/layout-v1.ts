/**
 * Turns a database bootstrapped at the current layout into what a build at layout v1 left behind,
 * so tests can bootstrap over it and check the in-place upgrade: v1 stored both bundle hashes as
 * lowercase hex text and every bundle row's key.
 */
import type pg from "pg";

export const LAYOUT_V1 = "oversync_server_layout_v1";

export async function downgradeToLayoutV1(pool: pg.Pool): Promise<void> {
  await pool.query(`
    BEGIN;
    ALTER TABLE sync.bundle_log DROP CONSTRAINT bundle_log_hashes_ck,
      ALTER COLUMN bundle_hash TYPE text USING encode(bundle_hash, 'hex'),
      ALTER COLUMN canonical_request_hash TYPE text USING encode(canonical_request_hash, 'hex');
    UPDATE sync.bundle_rows r SET key_text = r.payload_wire::jsonb ->> c.sync_key_column
      FROM sync.table_catalog c WHERE c.table_id = r.table_id AND r.key_text IS NULL;
    ALTER TABLE sync.bundle_rows DROP CONSTRAINT bundle_rows_delete_key_ck, ALTER COLUMN key_text SET NOT NULL;
    UPDATE sync.meta SET layout = '${LAYOUT_V1}';
    COMMIT;`);
}
