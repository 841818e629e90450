/**
 * The real counterpart: createSyncService over a fresh PostgreSQL database with the `durable`
 * schema, served by createSyncHandler over loopback HTTP. Every request passes a RequestTrap first,
 * so a test can stop the client process at the exact request that marks a step boundary.
 */
import { type SyncRuntime, createSyncHandler, createSyncService } from "@oversync/server";
import { type LoopbackServer, serveOnLoopback, testAuthenticate } from "../server-http/http-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { POSTGRES_DDL, REGISTERED_TABLES } from "./schema.js";
import { RequestLog } from "./request-trap.js";
import type { FileFingerprint, Fingerprints, SampleFingerprint } from "./values.js";

/** A running real server. */
export interface RealServer {
  readonly db: TestDatabase;
  readonly service: SyncRuntime;
  /** Base URL ending in "/". */
  readonly baseUrl: string;
  /** Every request, and the trap armed for the next boundary. */
  readonly log: RequestLog;
  close(): Promise<void>;
}

/** Starts the service and its HTTP server; `extraRoutes` adds routes after the built-in ones. */
export async function startRealServer(
  extraRoutes: Parameters<typeof createSyncHandler>[0]["routes"] = [],
): Promise<RealServer> {
  const db = await createTestDatabase("oversync_durable");
  await db.pool.query(POSTGRES_DDL);
  const service = createSyncService({
    pool: db.pool,
    appName: "oversync-durability",
    registeredTables: REGISTERED_TABLES,
    maxSupportedSchemaVersion: 1,
    logger: { warn: () => undefined, error: () => undefined },
  });
  await service.bootstrap();
  const handler = createSyncHandler({
    service,
    authenticate: testAuthenticate,
    routes: extraRoutes,
    logger: { error: () => undefined },
  });
  const log = new RequestLog();
  const server: LoopbackServer = await serveOnLoopback(log.wrap(handler));
  return {
    db,
    service,
    baseUrl: `${server.origin}/`,
    log,
    async close() {
      await server.close();
      await service.close();
      await db.drop();
    },
  };
}

/** The bearer token testAuthenticate maps to `userId`. */
export function tokenFor(userId: string): string {
  return `user:${userId}`;
}

/** The user's rows in PostgreSQL, with the same bit-keeping fingerprints as the local side. */
export async function serverFingerprints(server: RealServer, userId: string): Promise<Fingerprints> {
  const blob = (column: string) =>
    `CASE WHEN ${column} IS NULL THEN NULL ELSE length(${column}) || ':' || encode(sha256(${column}), 'hex') END`;
  const files = await server.db.pool.query<FileFingerprint>(
    `SELECT replace(id::text, '-', '') AS id, name, ${blob("data")} AS data
       FROM durable.files WHERE _sync_scope_id = $1 ORDER BY 1`,
    [userId],
  );
  const samples = await server.db.pool.query<SampleFingerprint>(
    `SELECT id, i64::text AS i64, encode(float8send(r64), 'hex') AS r64, amount::text AS amount,
            amount_text AS "amountText", note, ${blob("data")} AS data,
            replace(file_id::text, '-', '') AS "fileId"
       FROM durable.samples WHERE _sync_scope_id = $1 ORDER BY id COLLATE "C"`,
    [userId],
  );
  return { files: files.rows, samples: samples.rows };
}

/** One committed bundle of the user, as the server's log holds it. */
export interface LoggedBundle {
  readonly bundleSeq: string;
  readonly sourceId: string;
  readonly sourceBundleId: string;
  readonly rowCount: number;
}

/** The user's committed bundles in seq order. */
export async function serverBundles(server: RealServer, userId: string): Promise<LoggedBundle[]> {
  const { rows } = await server.db.pool.query<LoggedBundle>(
    `SELECT b.bundle_seq::text AS "bundleSeq", b.source_id AS "sourceId",
            b.source_bundle_id::text AS "sourceBundleId", b.row_count AS "rowCount"
       FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk)
      WHERE u.user_id = $1 ORDER BY b.bundle_seq`,
    [userId],
  );
  return rows;
}

/** Rows staged in the user's open push sessions (by session). */
export async function stagedPushRows(server: RealServer, userId: string): Promise<number[]> {
  const { rows } = await server.db.pool.query<{ staged: number }>(
    `SELECT (SELECT count(*)::int FROM sync.push_session_rows r WHERE r.push_id = s.push_id) AS staged
       FROM sync.push_sessions s JOIN sync.user_state u USING (user_pk)
      WHERE u.user_id = $1 ORDER BY s.created_at`,
    [userId],
  );
  return rows.map((row) => row.staged);
}

/** The user's sources as the server tracks them. */
export async function serverSources(
  server: RealServer,
  userId: string,
): Promise<{ sourceId: string; state: string; replacedBy: string | null }[]> {
  const { rows } = await server.db.pool.query<{ sourceId: string; state: string; replacedBy: string | null }>(
    `SELECT s.source_id AS "sourceId", s.state, s.replaced_by_source_id AS "replacedBy"
       FROM sync.source_state s JOIN sync.user_state u USING (user_pk)
      WHERE u.user_id = $1 ORDER BY s.updated_at, s.source_id`,
    [userId],
  );
  return rows;
}
