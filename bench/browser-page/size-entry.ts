// What an app imports to sync in a browser: the client and the sqlite-wasm driver (whose worker
// module, SQLite's JS glue and sqlite3.wasm the bundler emits as files of their own). The browser
// bench measures the gzip size of what Vite makes of it; using both keeps them in the bundle.
import { createSyncClient } from "@oversync/client";
import { openSqliteWasmDriver } from "@oversync/client/sqlite-wasm";

Object.assign(globalThis, { createSyncClient, openSqliteWasmDriver });
