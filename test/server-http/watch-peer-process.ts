/**
 * A second sync server in its own OS process, for the cross-process watch test: its own pool,
 * LISTEN session and HTTP listener on the database named by argv[2]. It prints one JSON line
 * `{"origin":"http://127.0.0.1:<port>"}` once it serves, and shuts down cleanly on SIGTERM.
 * Run with `node --conditions=@oversync/source --import tsx watch-peer-process.ts <database url>`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  PgNotificationListener,
  createSyncHandler,
  createSyncService,
  toNodeListener,
} from "@oversync/server";
import pg from "pg";
import { BUSINESS_TABLES } from "../server/business-schema.js";
import { testAuthenticate } from "./http-support.js";

const url = process.argv[2];
if (url === undefined) throw new Error("usage: watch-peer-process.ts <database url>");

const pool = new pg.Pool({ connectionString: url, max: 3 });
const listener = new PgNotificationListener({
  createClient: () => new pg.Client({ connectionString: url, application_name: "watch-peer-process" }),
});
const service = createSyncService({
  pool,
  appName: "oversync-watch-peer",
  registeredTables: BUSINESS_TABLES,
  maxSupportedSchemaVersion: 1,
  watch: { notifications: listener },
});
await service.bootstrap();
const server = createServer(toNodeListener(createSyncHandler({ service, authenticate: testAuthenticate })));
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ origin: `http://127.0.0.1:${port}` })}\n`);

process.once("SIGTERM", () => {
  void (async () => {
    await service.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await listener.close();
    await pool.end();
  })();
});
