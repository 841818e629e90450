/**
 * README "Building an app": the todo app of docs/examples/todo-app.ts, two devices of one user
 * against the reference server with automatic sync and no sync() call, converging after edits on
 * both sides and after a conflict the default resolver settles; and the README's React version of
 * its screen type-checks against @oversync/react. Every wait is for a screen the app renders.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type TodoScreen, type TodoUi, openTodoApp } from "../../docs/examples/todo-app.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  exampleWithImports,
  readme,
  repoRoot,
  startQuietReferenceServer,
} from "../support/readme-support.js";

const EXAMPLE = "docs/examples/todo-app.ts";

/** A device's UI: every screen it rendered, every notification, and waits for a screen. */
class RecordingUi implements TodoUi {
  readonly screens: TodoScreen[] = [];
  readonly notes: string[] = [];
  private readonly waiters = new Set<() => void>();

  render(screen: TodoScreen): void {
    this.screens.push(screen);
    for (const wake of this.waiters) wake();
  }

  notify(message: string): void {
    this.notes.push(message);
    for (const wake of this.waiters) wake();
  }

  /** Resolves once `predicate` holds for the latest screen (the current one included). */
  until(predicate: (screen: TodoScreen, ui: this) => boolean): Promise<TodoScreen> {
    return new Promise((resolve) => {
      const check = () => {
        const screen = this.screens.at(-1);
        if (screen === undefined || !predicate(screen, this)) return;
        this.waiters.delete(check);
        resolve(screen);
      };
      this.waiters.add(check);
      check();
    });
  }
}

const titles = (screen: TodoScreen) => screen.todos.map((todo) => todo.title);
/** Shows `expected` with nothing left to upload. */
const settledOn = (expected: string[]) => (screen: TodoScreen) =>
  screen.status.pendingChangeCount === 0 &&
  !screen.status.uploading &&
  JSON.stringify(titles(screen)) === JSON.stringify(expected);

/** The README's lines between `// readme:usage` and `// readme:usage-end`, unindented. */
async function usageRegion(): Promise<string> {
  const text = await readFile(join(repoRoot, EXAMPLE), "utf8");
  const body = text.slice(text.indexOf("// readme:usage\n") + 16, text.indexOf("  // readme:usage-end"));
  return body
    .split("\n")
    .map((line) => line.replace(/^ {2}/, ""))
    .join("\n")
    .trim();
}

/** Type errors of `source` as a .tsx file next to the examples, with the repository's settings. */
function typeErrors(source: string): string[] {
  const config = ts.readConfigFile(join(repoRoot, "tsconfig.json"), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot);
  const compilerOptions = { ...options, jsx: ts.JsxEmit.ReactJSX, noEmit: true };
  const file = join(repoRoot, "docs", "examples", "readme-react-todo.tsx");
  const host = ts.createCompilerHost(compilerOptions);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram({ rootNames: [file], options: compilerOptions, host });
  const sourceFile = program.getSourceFile(file)!;
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map(
    (diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"),
  );
}

describe("README: building an app (a todo app on two devices)", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "oversync-todo-app-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the README quotes the example and its usage verbatim; the file stays short", async () => {
    expect(readme()).toContain(exampleWithImports(EXAMPLE));
    expect(readme()).toContain(await usageRegion());
    const lines = (await readFile(join(repoRoot, EXAMPLE), "utf8")).split("\n").length;
    expect(lines).toBeLessThanOrEqual(90);
  });

  it("two devices converge after edits on both sides and a conflict, with no sync() call", async () => {
    const laptopUi = new RecordingUi();
    const phoneUi = new RecordingUi();
    const laptop = await openTodoApp(server.url, join(dir, "laptop.db"), "ada", laptopUi);
    const phone = await openTodoApp(server.url, join(dir, "phone.db"), "ada", phoneUi);
    const explicitCalls = [laptop.client, phone.client].flatMap((client) => [
      vi.spyOn(client, "sync"),
      vi.spyOn(client, "pushPending"),
      vi.spyOn(client, "pullToStable"),
    ]);
    try {
      // A todo added on each device shows on both.
      await laptop.add("Buy milk");
      await phone.add("Walk the dog");
      for (const ui of [laptopUi, phoneUi]) await ui.until(settledOn(["Buy milk", "Walk the dog"]));
      const milk = laptopUi.screens.at(-1)!.todos.find((todo) => todo.title === "Buy milk")!;

      // The phone goes offline (automatic sync stopped) and the laptop renames the todo meanwhile.
      await phone.client.stop();
      await laptop.rename(milk.id, "Buy oat milk");
      await laptopUi.until((screen) => screen.status.pendingChangeCount === 1);
      await laptopUi.until(settledOn(["Buy oat milk", "Walk the dog"]));

      // Offline, the phone renames it too: its screen shows its own edit, queued for upload.
      await phone.rename(milk.id, "Buy soy milk");
      await phoneUi.until(
        (screen) => titles(screen)[0] === "Buy soy milk" && screen.status.pendingChangeCount === 1,
      );

      // Back online: the phone's push meets the laptop's edit, the server's row wins and the
      // phone tells its user; both devices end on the laptop's title.
      phone.client.start();
      await phoneUi.until((_, ui) => ui.notes.length > 0);
      expect(phoneUi.notes).toEqual(['"Buy soy milk" was replaced by "Buy oat milk"']);
      for (const ui of [laptopUi, phoneUi]) await ui.until(settledOn(["Buy oat milk", "Walk the dog"]));
      expect(laptopUi.notes).toEqual([]);

      const { rows } = await db.pool.query(
        "SELECT title FROM business.posts WHERE _sync_scope_id = 'ada' ORDER BY title",
      );
      expect(rows).toEqual([{ title: "Buy oat milk" }, { title: "Walk the dog" }]);
      for (const ui of [laptopUi, phoneUi]) {
        const { status } = ui.screens.at(-1)!;
        expect(status).toMatchObject({ connection: "online", automaticSync: "running", lastError: null });
        expect(status.lastSyncedAt).not.toBeNull();
        expect(JSON.parse(JSON.stringify(status))).toEqual(status);
      }
      for (const call of explicitCalls) expect(call).not.toHaveBeenCalled();
    } finally {
      await laptop.close();
      await phone.close();
    }
  });

  it("the README's React version of the screen type-checks against @oversync/react", () => {
    const text = readme();
    const section = text.slice(text.indexOf("## Building an app"));
    const snippet = section.match(/```tsx\n([\s\S]*?)```/)?.[1];
    expect(snippet).toBeDefined();
    // What the snippet takes from the Node example around it.
    const context = [
      'import type { SyncClient } from "@oversync/client";',
      'import type { Root } from "react-dom/client";',
      "declare const client: SyncClient;",
      "declare const root: Root;",
      "declare function add(title: string): Promise<unknown>;",
      "interface Todo { readonly id: string; readonly title: string }",
    ].join("\n");
    expect(typeErrors(`${context}\n${snippet}`)).toEqual([]);
  });
});
