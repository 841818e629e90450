// @vitest-environment jsdom
/**
 * The docs site's React example (docs/react-example/todo-list.tsx): it type-checks with the
 * repository's settings plus JSX, and renders in jsdom over a real client on a SQLite file: the
 * list shows a row written locally, and the status line its pending upload.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SyncClient, createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { act, screen, waitFor } from "@testing-library/react";
import { type Root, createRoot } from "react-dom/client";
import ts from "typescript";
import { afterEach, describe, expect, it } from "vitest";
import { repoRoot } from "../support/readme-support.js";

const EXAMPLE = join(repoRoot, "docs", "react-example", "todo-list.tsx");
const cleanups: (() => Promise<void>)[] = [];

/**
 * The example's module, imported by a path the type-check does not follow: `tsc -p .` has no JSX
 * setting, so the .tsx file is checked by the first test instead.
 */
async function loadExample(): Promise<{
  showTodoList(root: Root, client: SyncClient, add: (title: string) => Promise<unknown>): void;
}> {
  return import(/* @vite-ignore */ EXAMPLE);
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("docs: the React todo list", () => {
  it("type-checks with the repository's compiler settings and JSX", () => {
    const config = ts.readConfigFile(join(repoRoot, "tsconfig.json"), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot);
    const program = ts.createProgram({
      rootNames: [EXAMPLE],
      options: { ...options, jsx: ts.JsxEmit.ReactJSX, noEmit: true },
    });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    expect(errors).toEqual([]);
  });

  it("renders the todos and re-renders after a local write", async () => {
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
    const dir = await mkdtemp(join(tmpdir(), "oversync-react-doc-"));
    const db = await openBetterSqlite3Driver(join(dir, "app.db"));
    await db.exec("CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL)");
    // Never reached: the screen only reads and writes SQLite.
    const client = createSyncClient({
      driver: db,
      baseUrl: "http://127.0.0.1:9",
      tokenProvider: () => "unused",
      config: { schema: "business", syncTables: [{ tableName: "posts", syncKeyColumnName: "id" }] },
    });
    await client.open();
    const container = document.createElement("div");
    document.body.append(container);
    const root = createRoot(container);
    cleanups.push(async () => {
      act(() => root.unmount());
      container.remove();
      await client.close();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    });
    const add = (title: string) =>
      db.run("INSERT INTO posts (id, title) VALUES (?, ?)", [crypto.randomUUID(), title]);
    await db.run("INSERT INTO posts (id, title) VALUES ('a', 'Walk the dog')");

    const { showTodoList } = await loadExample();
    act(() => showTodoList(root, client, add));
    await waitFor(() => expect(screen.getByText("Walk the dog")).toBeTruthy());
    act(() => screen.getByRole("button", { name: "Add" }).click());
    await waitFor(() =>
      expect(screen.getAllByRole("listitem").map((item) => item.textContent)).toEqual([
        "Buy milk",
        "Walk the dog",
      ]),
    );
    await waitFor(() => expect(screen.getByText(/^2 to upload/)).toBeTruthy());
  });
});
