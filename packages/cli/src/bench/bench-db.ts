/**
 * The benchmark's own PostgreSQL databases: each scenario gets a fresh `oversync_bench_*` database
 * created through the admin URL and dropped afterwards, so a run never reads or writes the contents
 * of any database it did not create.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** A database created for one scenario. */
export interface BenchDatabase {
  readonly url: string;
  readonly name: string;
  readonly pool: pg.Pool;
  /** Closes the pool and drops the database (connections still open are cut). */
  drop(): Promise<void>;
}

/** The admin URL when neither --db nor DATABASE_URL says otherwise. */
export const DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/** Creates `oversync_bench_<scenario>_<random>` on the server of `adminUrl`. */
export async function createBenchDatabase(adminUrl: string, scenario: string): Promise<BenchDatabase> {
  const name = `oversync_bench_${scenario.replace(/[^a-z0-9]/g, "_")}_${randomBytes(4).toString("hex")}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10 });
  // pool.end() resolves before idle connections are gone, so the forced DROP can cut one; without a
  // listener the pool would re-emit that as an uncaught error.
  pool.on("error", () => {});
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    pool,
    drop() {
      dropped ??= (async () => {
        await pool.end();
        await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      })();
      return dropped;
    },
  };
}

/** The server's version, e.g. `15.20`. */
export async function postgresVersion(adminUrl: string): Promise<string> {
  return withAdmin(adminUrl, async (admin) => {
    const { rows } = await admin.query<{ server_version: string }>("SHOW server_version");
    return rows[0]?.server_version.split(" ")[0] ?? "unknown";
  });
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
