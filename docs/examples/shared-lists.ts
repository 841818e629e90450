/**
 * Shared lists on Node: each user keeps lists of their own and shares a workspace's lists with its
 * other members, one SQLite file per scope, syncing with the reference server (`npm start`).
 * docs/shared-data.md includes its regions; test/docs/shared-lists.test.ts runs two users with it
 * and runs it as a script the way the guide says to.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
// #region imports
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql, workspaceScopeId } from "@oversync/cli";
import { createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
// #endregion imports

/** Opens `user`'s lists in `dir`: their own, and those they share in `workspace`. */
export async function openSharedLists(server: string, dir: string, user: string, workspace: string) {
  // #region scopes
  // One sign-in; its token makes the user a member of the workspace.
  const signIn = await fetch(`${server}/dummy-signin`, {
    method: "POST",
    body: JSON.stringify({ user, password: "demo", workspaces: [workspace] }),
  });
  const { token } = (await signIn.json()) as { token: string };

  // One local database per scope, each with its own client: the user's own lists sync with the
  // server's root, the workspace's with `<server>/w/<workspace>`. The wire is the same for both.
  const openScope = async (file: string, baseUrl: string, scopeId: string) => {
    const db = await openBetterSqlite3Driver(join(dir, file));
    await db.exec(exampleClientSchemaSql()); // the reference server's tables: lists live in `posts`
    const client = createSyncClient({
      driver: db,
      baseUrl,
      tokenProvider: () => token,
      config: EXAMPLE_CLIENT_CONFIG,
    });
    await client.open();
    await client.attach(scopeId); // binds the file to the scope it holds
    client.start(); // uploads each write, downloads what other members commit
    return { db, client };
  };
  const mine = await openScope(`${user}.db`, server, user);
  const shared = await openScope(
    `${user}-${workspace}.db`,
    `${server}/w/${workspace}`,
    workspaceScopeId(workspace), // "workspace:<workspace>"
  );

  // A row belongs to the scope of the database it is written to.
  const add = (list: typeof mine, title: string) =>
    list.db.run("INSERT INTO posts (id, title, content) VALUES (?, ?, '')", [randomUUID(), title]);
  // #endregion scopes
  // #region across
  // Reading across scopes: a read-only connection that attaches every scope's file.
  const everything = await openBetterSqlite3Driver(":memory:");
  await everything.run("ATTACH DATABASE ? AS mine", [join(dir, `${user}.db`)]);
  await everything.run("ATTACH DATABASE ? AS shared", [join(dir, `${user}-${workspace}.db`)]);
  await everything.exec("PRAGMA query_only = ON"); // writes go to each scope's own database
  const allTitles = () =>
    everything.query<{ list: string; title: string }>(
      `SELECT 'mine' AS list, title FROM mine.posts
       UNION ALL SELECT 'shared', title FROM shared.posts
       ORDER BY list, title`,
    );
  // #endregion across
  const close = async () => {
    await everything.close();
    for (const scope of [mine, shared]) {
      await scope.client.close();
      await scope.db.close();
    }
  };
  return { mine, shared, add, allTitles, everything, close };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  // #region usage
  const server = process.argv[2] ?? "http://127.0.0.1:8080"; // where `npm start` serves
  const dir = mkdtempSync(join(tmpdir(), "shared-lists-")); // each user's two SQLite files
  const workspace = `team-${randomUUID().slice(0, 8)}`; // a new workspace on every run
  const ada = await openSharedLists(server, dir, "ada", workspace);
  const grace = await openSharedLists(server, dir, "grace", workspace);
  await ada.add(ada.shared, "Plan the offsite"); // Grace gets this one too
  await ada.add(ada.mine, "Call the dentist"); // only Ada's devices get this one
  await ada.shared.client.sync(); // start() uploads by itself; this waits until it has
  await grace.shared.client.sync(); // and this until Grace has it (start() fetches it too)
  console.log(await grace.allTitles()); // [ { list: 'shared', title: 'Plan the offsite' } ]
  await ada.close();
  await grace.close();
  // #endregion usage
}
