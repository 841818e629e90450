/**
 * The todo app's reads and writes as typed Kysely queries (`@oversync/kysely`) over the driver and
 * client of docs/examples/todo-app.ts. README "Typed queries with Kysely" quotes the `readme:`
 * regions; test/kysely/typed-todos.test.ts runs it on two devices against the reference server.
 * The docs site's Client guide includes the `#region` parts (without the `readme:` marker lines).
 */
import type { SqliteDriver, SyncClient } from "@oversync/client";
// #region imports
// readme:imports
import { randomUUID } from "node:crypto";
import { OversyncDialect, watchQuery } from "@oversync/kysely";
import { type Generated, Kysely } from "kysely";
// readme:imports-end
// #endregion imports

export type TypedTodosUi = {
  render(todos: readonly { id: string; title: string }[]): void;
  notify(message: string): void;
};

/** Typed todos over an opened, attached client and the driver it was created with (`db`). */
export function openTypedTodos(client: SyncClient, db: SqliteDriver, ui: TypedTodosUi) {
  // #region typed
  // readme:begin
  // The tables as the app declares them for Kysely (the example schema keeps todos in `posts`).
  interface Database {
    posts: {
      id: string;
      title: string;
      content: string;
      author_id: string | null;
      created_at: Generated<string>;
      updated_at: Generated<string>;
    };
  }
  // Over the driver the client was created with: Kysely's writes are captured for sync like any
  // other. INTEGERs come back as numbers (`integers: "bigint"` for all 64 bits).
  const typed = new Kysely<Database>({ dialect: new OversyncDialect({ driver: db }) });

  const add = (title: string) =>
    typed.insertInto("posts").values({ id: randomUUID(), title, content: "" }).execute();
  const rename = (id: string, title: string) =>
    typed.updateTable("posts").set({ title }).where("id", "=", id).execute();
  // A Kysely transaction is a SQLite transaction: all of it syncs, or (when it throws) none of it.
  const addAll = (titles: readonly string[]) =>
    typed.transaction().execute(async (trx) => {
      for (const title of titles) {
        await trx.insertInto("posts").values({ id: randomUUID(), title, content: "" }).execute();
      }
    });
  // A live query from a Kysely query: `todos` is typed { id: string; title: string }[].
  const stopTodos = watchQuery(client, typed.selectFrom("posts").select(["id", "title"]).orderBy("title"), {
    onResult: (todos) => ui.render(todos),
    onError: (error) => ui.notify(`could not read the todos: ${String(error)}`),
  });
  // readme:end
  // #endregion typed
  return { add, rename, addAll, stop: stopTodos };
}
