/**
 * Assertions on PostgreSQL itself (`--db`): a user's business rows in comparable form, the sync
 * layout's bookkeeping for that user (committed bundles, row versions, open push sessions), and the
 * `--cleanup` that removes a scenario user's rows again. The queries read the layout of
 * @oversync/server (`sync.user_state`, `sync.bundle_log`, `sync.row_state`, …), which mirrors
 * go-oversync's; every value is cast to text in SQL so pg and PGlite answer alike.
 */
import pg from "pg";
import { type SqlPool, withClient } from "@oversync/server";
import { EXAMPLE_SCHEMA, EXAMPLE_TABLES } from "../example-schema.js";
import { type CanonicalRow, canonicalServerSelect, exampleTable } from "./canonical-rows.js";

/** One committed bundle of a user. */
export interface CommittedBundle {
  readonly bundleSeq: bigint;
  readonly sourceId: string;
  readonly rowCount: number;
}

/** Row-version bookkeeping of one table: keys alive and tombstoned. */
export interface RowStateCounts {
  readonly live: number;
  readonly deleted: number;
}

/** The checks over one connection pool. */
export class PostgresChecks {
  private constructor(
    private readonly db: SqlPool,
    private readonly release: () => Promise<void>,
  ) {}

  /**
   * Connects to `target` (a postgres:// URL, or a pool the caller owns, such as an embedded
   * server's) and checks that it holds the example schema and the sync layout.
   */
  static async connect(target: string | SqlPool): Promise<PostgresChecks> {
    let db: SqlPool;
    let release: () => Promise<void> = async () => {};
    if (typeof target === "string") {
      const pool = new pg.Pool({ connectionString: target, max: 4 });
      // An idle connection dropped by the server must not end the simulation unhandled.
      pool.on("error", () => {});
      db = pool;
      release = () => pool.end();
    } else {
      db = target;
    }
    const checks = new PostgresChecks(db, release);
    try {
      const { rows } = await db.query<{ sync: string | null; business: string | null }>(
        "SELECT to_regclass('sync.user_state')::text AS sync, to_regclass($1)::text AS business",
        [`${EXAMPLE_SCHEMA}.users`],
      );
      if (rows[0]?.sync === null || rows[0]?.business === null) {
        throw new Error(
          `the database holds no ${rows[0]?.sync === null ? "sync layout (sync.user_state)" : `example schema (${EXAMPLE_SCHEMA}.users)`}; ` +
            "--db must name the database the server under test uses",
        );
      }
    } catch (error) {
      await release();
      throw error;
    }
    return checks;
  }

  /** `userId`'s rows of example table `table`, comparable with a device's, ordered by id. */
  async rows(table: string, userId: string): Promise<CanonicalRow[]> {
    const { rows } = await this.db.query<CanonicalRow>(canonicalServerSelect(exampleTable(table)), [userId]);
    return rows;
  }

  /** The newest bundle sequence committed for `userId` (0 for none or an unknown user). */
  async latestBundleSeq(userId: string): Promise<bigint> {
    const { rows } = await this.db.query<{ seq: string }>(
      "SELECT (next_bundle_seq - 1)::text AS seq FROM sync.user_state WHERE user_id = $1",
      [userId],
    );
    return BigInt(rows[0]?.seq ?? "0");
  }

  /** `userId`'s committed bundles still in the log, oldest first. */
  async bundles(userId: string): Promise<CommittedBundle[]> {
    const { rows } = await this.db.query<{ seq: string; source: string; row_count: string }>(
      `SELECT b.bundle_seq::text AS seq, b.source_id AS source, b.row_count::text AS row_count
         FROM sync.bundle_log b JOIN sync.user_state u ON u.user_pk = b.user_pk
        WHERE u.user_id = $1 ORDER BY b.bundle_seq`,
      [userId],
    );
    return rows.map((row) => ({
      bundleSeq: BigInt(row.seq),
      sourceId: row.source,
      rowCount: Number(row.row_count),
    }));
  }

  /** Live and tombstoned keys of `table` in `userId`'s row-version bookkeeping. */
  async rowStates(userId: string, table: string): Promise<RowStateCounts> {
    const { rows } = await this.db.query<{ live: string; deleted: string }>(
      `SELECT count(*) FILTER (WHERE NOT r.deleted)::text AS live, count(*) FILTER (WHERE r.deleted)::text AS deleted
         FROM sync.row_state r
         JOIN sync.user_state u ON u.user_pk = r.user_pk
         JOIN sync.table_catalog c ON c.table_id = r.table_id
        WHERE u.user_id = $1 AND c.schema_name = $2 AND c.table_name = $3`,
      [userId, EXAMPLE_SCHEMA, table],
    );
    return { live: Number(rows[0]?.live ?? 0), deleted: Number(rows[0]?.deleted ?? 0) };
  }

  /** Push sessions of `userId` that are staged but not committed. */
  async openPushSessions(userId: string): Promise<{ plannedRows: number; stagedRows: number }[]> {
    const { rows } = await this.db.query<{ planned: string; staged: string }>(
      `SELECT p.planned_row_count::text AS planned, p.next_expected_row_ordinal::text AS staged
         FROM sync.push_sessions p JOIN sync.user_state u ON u.user_pk = p.user_pk
        WHERE u.user_id = $1`,
      [userId],
    );
    return rows.map((row) => ({ plannedRows: Number(row.planned), stagedRows: Number(row.staged) }));
  }

  /** Sources the server knows for `userId`, with their state (`active`, `reserved`, `retired`). */
  async sources(userId: string): Promise<{ sourceId: string; state: string; lastSourceBundleId: bigint }[]> {
    const { rows } = await this.db.query<{ source: string; state: string; last: string }>(
      `SELECT s.source_id AS source, s.state, s.max_committed_source_bundle_id::text AS last
         FROM sync.source_state s JOIN sync.user_state u ON u.user_pk = s.user_pk
        WHERE u.user_id = $1 ORDER BY s.source_id`,
      [userId],
    );
    return rows.map((row) => ({
      sourceId: row.source,
      state: row.state,
      lastSourceBundleId: BigInt(row.last),
    }));
  }

  /**
   * Deletes every trace of `userIds`: their business rows and their sync bookkeeping, in one
   * transaction. Writes to registered tables are refused outside a bundle by the server's guard
   * trigger, so this runs with `session_replication_role = replica` (which skips triggers and
   * foreign-key actions, hence the explicit delete per table); that needs a superuser role.
   */
  async removeUsers(userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const users = "SELECT user_pk FROM sync.user_state WHERE user_id = ANY($1)";
    const statements = [
      "SET LOCAL session_replication_role = replica",
      ...EXAMPLE_TABLES.map(
        (table) => `DELETE FROM ${EXAMPLE_SCHEMA}.${table.name} WHERE _sync_scope_id = ANY($1)`,
      ),
      `DELETE FROM sync.push_session_rows WHERE push_id IN (SELECT push_id FROM sync.push_sessions WHERE user_pk IN (${users}))`,
      `DELETE FROM sync.snapshot_session_rows WHERE snapshot_id IN (SELECT snapshot_id FROM sync.snapshot_sessions WHERE user_pk IN (${users}))`,
      ...["push_sessions", "snapshot_sessions", "bundle_rows", "bundle_log", "row_state", "source_state"].map(
        (table) => `DELETE FROM sync.${table} WHERE user_pk IN (${users})`,
      ),
      "DELETE FROM sync.user_state WHERE user_id = ANY($1)",
    ];
    await withClient(this.db, async (client) => {
      await client.query("BEGIN");
      try {
        for (const statement of statements) {
          await client.query(statement, statement.includes("$1") ? [userIds] : undefined);
        }
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    });
  }

  /** Closes the pool this object opened (a pool passed in stays open). */
  end(): Promise<void> {
    return this.release();
  }
}
