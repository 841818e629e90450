/**
 * The todo screen of docs/examples/todo-app.ts in React with @oversync/react. The docs site's
 * Client guide includes the `#region` parts; test/docs/react-todo.test.ts type-checks this file
 * (it sits outside docs/examples because the repository's tsconfig has no JSX setting) and renders
 * it in jsdom over a real client and SQLite file.
 */
import type { SyncClient } from "@oversync/client";
import { OversyncProvider, useQuery, useSyncStatus } from "@oversync/react";
import type { Root } from "react-dom/client";

export interface Todo {
  readonly id: string;
  readonly title: string;
}

// #region todo-list
export function TodoList({ add }: { add: (title: string) => Promise<unknown> }) {
  // Re-renders when `posts` changes: the app's own writes and changes sync applied.
  const { rows: todos, loading, error } = useQuery<Todo>("SELECT id, title FROM posts ORDER BY title");
  const status = useSyncStatus(); // client.status, updated by client.onStatus
  if (loading) return <p>Loading…</p>;
  if (error !== undefined) return <p>Could not read the todos: {String(error)}</p>;
  return (
    <>
      <ul>
        {todos.map((todo) => (
          <li key={todo.id}>{todo.title}</li>
        ))}
      </ul>
      <button type="button" onClick={() => add("Buy milk")}>
        Add
      </button>
      <p>
        {status.pendingChangeCount} to upload, last synced {status.lastSyncedAt ?? "never"}
      </p>
    </>
  );
}
// #endregion todo-list

/** Renders the screen into `root` for an opened client. */
export function showTodoList(root: Root, client: SyncClient, add: (title: string) => Promise<unknown>) {
  // #region provider
  // `client` is created, opened, attached and started once, app-wide (see the todo app).
  root.render(
    <OversyncProvider client={client}>
      <TodoList add={add} />
    </OversyncProvider>,
  );
  // #endregion provider
}
