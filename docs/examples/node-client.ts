/**
 * A Node app syncing one local SQLite table with the reference server (`npm start`). The README
 * quotes the imports between `readme:imports` and `readme:imports-end`, then the part between the
 * `readme:begin` and `readme:end` markers; test/docs/node-client.test.ts runs this file against a
 * real reference server, so the README's example stays true. The docs site includes the `#region`
 * parts (without the `readme:` marker lines).
 *
 * Run it yourself: `npm start` in one terminal, then
 * `node --conditions=@oversync/source --import tsx docs/examples/node-client.ts` in another.
 */
import { pathToFileURL } from "node:url";
// #region imports
// readme:imports
import { randomUUID } from "node:crypto";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli";
import { createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
// readme:imports-end
// #endregion imports

/** Signs `user` in on the reference server, writes one row locally and syncs it; returns the sync report. */
export async function runNodeClient(server: string, file: string, user: string) {
  // #region client
  // readme:begin
  const signIn = await fetch(`${server}/dummy-signin`, {
    method: "POST",
    body: JSON.stringify({ user, password: "demo" }),
  });
  const { token } = (await signIn.json()) as { token: string };

  const db = await openBetterSqlite3Driver(file);
  // The reference server's example tables (users, posts, …); your app brings its own schema.
  await db.exec(exampleClientSchemaSql());
  const client = createSyncClient({
    driver: db,
    baseUrl: server,
    tokenProvider: () => token,
    config: EXAMPLE_CLIENT_CONFIG, // { schema: "business", syncTables: [{ tableName: "users", … }] }
  });
  await client.open(); // installs the change-capture triggers
  await client.attach(user); // binds this database to the account

  const row = [randomUUID(), "Ada", "ada@example.com"];
  await db.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", row);
  const report = await client.sync(); // pushes the new row, then pulls what other devices wrote
  // readme:end
  // #endregion client
  await client.close();
  await db.close();
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(await runNodeClient("http://127.0.0.1:8080", "ada.db", "ada"));
}
