/**
 * How a host application mounts the oversync server with its own authentication. The README quotes
 * the imports between `readme:imports` and `readme:imports-end`, then the part between the
 * `readme:begin` and `readme:end` markers; test/docs/host-server.test.ts runs this file against a
 * real database, so the README's example stays true. The docs site's Server guide includes the
 * `#region` parts (without the `readme:` marker lines).
 */
// #region imports
// readme:imports
import { createServer } from "node:http";
import {
  PgNotificationListener,
  createSyncHandler,
  createSyncService,
  toNodeListener,
} from "@oversync/server";
import pg from "pg";
// readme:imports-end
// #endregion imports

/** What the host supplies: its database and its own way of turning a bearer token into a user id. */
export interface HostOptions {
  readonly databaseUrl: string;
  readonly port: number;
  readonly verifySession: (token: string) => Promise<string | null>;
}

/** Starts the host's sync server; resolves once it listens. */
export async function startHostServer({ databaseUrl, port, verifySession }: HostOptions) {
  // #region mount
  // readme:begin
  const pool = new pg.Pool({ connectionString: databaseUrl });
  // PostgreSQL dropping an idle pooled connection (a restart, a failover) emits "error" on the
  // pool, which would end the process unhandled; calls in flight are answered a retryable 503.
  pool.on("error", (error) => console.warn("idle database connection lost:", error.message));
  const notifications = new PgNotificationListener({
    createClient: () => new pg.Client({ connectionString: databaseUrl }),
  });
  const sync = createSyncService({
    pool,
    appName: "my-app",
    maxSupportedSchemaVersion: 1,
    // Each table: `_sync_scope_id TEXT NOT NULL`, a uuid or text key, keys and FKs scoped by owner.
    registeredTables: [
      { schema: "business", table: "users", syncKeyColumns: ["id"] },
      { schema: "business", table: "posts", syncKeyColumns: ["id"] },
    ],
    // Optional: wake clients on commits over /sync/watch (one LISTEN session per process).
    watch: { notifications },
    // Optional: keep each user's newest 10,000 bundles; a device further behind rebuilds from a
    // snapshot. Without it every bundle is kept.
    retention: { keepBundles: 10_000 },
  });
  await sync.bootstrap(); // installs the `sync` schema and triggers; refuses unsupported tables

  const handler = createSyncHandler({
    service: sync,
    // Your auth: the user id behind the request, or null for 401. The device (source) id always
    // comes from the Oversync-Source-ID header.
    authenticate: async (request) => {
      const token = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
      const userId = token ? await verifySession(token) : null;
      return userId ? { userId } : null;
    },
  });

  // `handler` is a Fetch-API function (Request) => Promise<Response>: hand it to Bun, Deno or
  // Hono as is, or to node:http through the adapter.
  const server = createServer(toNodeListener(handler)).listen(port);
  // readme:end
  // #endregion mount
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return { server, sync, pool, notifications };
}

/** Stops what startHostServer started. */
export async function stopHostServer(host: Awaited<ReturnType<typeof startHostServer>>) {
  host.server.closeAllConnections();
  await new Promise((resolve) => host.server.close(resolve));
  await host.sync.close();
  await host.notifications.close();
  await host.pool.end();
}
