/**
 * A todo app on Node, one device per SQLite file, syncing with the reference server (`npm start`).
 * README "Building an app" quotes the `readme:` regions; test/docs/todo-app.test.ts runs two devices.
 * The docs site's Client guide includes the `#region` parts (without the `readme:` marker lines).
 */
import { pathToFileURL } from "node:url";
// #region imports
// readme:imports
import { randomUUID } from "node:crypto";
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli";
import { type SyncClientStatus, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
// readme:imports-end
// #endregion imports

export type Todo = { readonly id: string; readonly title: string };

/** What the screen shows: `useQuery`'s rows and `useSyncStatus()`'s status in the React version. */
export type TodoScreen = { readonly todos: readonly Todo[]; readonly status: SyncClientStatus };

export type TodoUi = { render(screen: TodoScreen): void; notify(message: string): void };

/** Opens one device of `user`'s todo list in `file`, syncing by itself until `close()`. */
export async function openTodoApp(server: string, file: string, user: string, ui: TodoUi) {
  // #region app
  // readme:begin
  const signIn = await fetch(`${server}/dummy-signin`, {
    method: "POST",
    body: JSON.stringify({ user, password: "demo" }),
  });
  const { token } = (await signIn.json()) as { token: string };
  const db = await openBetterSqlite3Driver(file);
  await db.exec(exampleClientSchemaSql()); // the reference server's tables: todos live in `posts`
  const client = createSyncClient({
    driver: db,
    baseUrl: server,
    tokenProvider: () => token,
    config: EXAMPLE_CLIENT_CONFIG,
  });
  await client.open();
  await client.attach(user); // a new device gets the user's todos here

  // Two subscriptions draw the screen: the ones `useQuery` and `useSyncStatus` make in React.
  let screen: TodoScreen = { todos: [], status: client.status };
  const draw = (change: Partial<TodoScreen>) => {
    screen = { ...screen, ...change };
    ui.render(screen);
  };
  const stopTodos = client.watchQuery<Todo>("SELECT id, title FROM posts ORDER BY title", [], {
    onResult: (todos) => draw({ todos }), // after the app's own writes and after sync alike
    onError: (error) => ui.notify(`could not read the todos: ${String(error)}`),
  });
  const stopStatus = client.onStatus((status) => draw({ status }));
  // The server's row wins a conflict (the default resolver): say so instead of losing it silently.
  client.onConflict((c) => ui.notify(`"${c.localValues?.title}" was replaced by "${c.serverValues?.title}"`));
  client.start(); // uploads each write ~100 ms after it; downloads as other devices commit

  // The app only writes SQLite: no sync() call anywhere.
  const add = (title: string) =>
    db.run("INSERT INTO posts (id, title, content) VALUES (?, ?, '')", [randomUUID(), title]);
  const rename = (id: string, title: string) =>
    db.run("UPDATE posts SET title = ? WHERE id = ?", [title, id]);
  // readme:end
  // #endregion app
  const close = async () => {
    stopTodos();
    stopStatus();
    await client.close(); // stops automatic sync too
    await db.close();
  };
  return { client, add, rename, close };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  // #region usage
  // readme:usage
  const laptop = await openTodoApp("http://127.0.0.1:8080", "laptop.db", "ada", {
    render: ({ todos, status }) =>
      console.log(
        todos.map((todo) => todo.title),
        `${status.pendingChangeCount} to upload, last synced ${status.lastSyncedAt ?? "never"}`,
      ),
    notify: (message) => console.warn(message),
  });
  await laptop.add("Buy milk"); // shows at once, and on the user's other devices a moment later
  // readme:usage-end
  // #endregion usage
}
