/**
 * Backend code writing to synced tables: `scopeManager.execWrite` commits the writes as one bundle
 * that every device of the scope pulls. The docs site's Server guide includes the `#region` parts;
 * test/docs/server-guide.test.ts runs them against PostgreSQL and pulls the bundle over HTTP.
 */
import type { SyncRuntime } from "@oversync/server";
import type pg from "pg";

/** A backend job adding a post to `userId`'s data; returns the committed bundle and the post's id. */
export async function postFromBackend(sync: SyncRuntime, userId: string, title: string) {
  // #region exec-write
  const { bundle, value: postId } = await sync.scopeManager.execWrite(
    userId, // the scope: by default, the user's own rows
    { writerId: "server:welcome" }, // the source id of this writer: one no device uses
    async (tx) => {
      // One transaction; `_sync_scope_id` is filled in. Throw to roll everything back.
      const { rows } = await tx.query<{ id: string }>(
        "INSERT INTO business.posts (id, title) VALUES (gen_random_uuid(), $1) RETURNING id",
        [title],
      );
      return rows[0]!.id;
    },
  );
  // `bundle.bundle_seq` is the bundle devices pull; watching devices are woken at once.
  // #endregion exec-write
  return { bundle, postId };
}

/** The same insert as plain SQL, which the capture triggers refuse. */
export async function postWithPlainSql(pool: pg.Pool, userId: string, title: string) {
  // #region plain-sql
  // Refused: "write to registered table business.posts outside an oversync bundle; …"
  await pool.query(
    "INSERT INTO business.posts (_sync_scope_id, id, title) VALUES ($1, gen_random_uuid(), $2)",
    [userId, title],
  );
  // #endregion plain-sql
}
