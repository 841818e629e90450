/**
 * The demo's screen, in plain DOM: sign-in, the lists and the selected list's todos, and a status
 * line (connection, upload and download, changes waiting to upload, last sync, where the data is
 * kept). Every write goes to the local database (todo-store.ts) and shows at once; automatic sync
 * carries it to the server and brings other devices' changes, which redraw the live queries.
 *
 * The elements carry their state as data attributes (`body[data-screen]`, `#status[data-pending]`
 * …), which the end-to-end tests in test/browser/demo-app.test.ts wait on.
 */
import type { SyncClientStatus } from "@oversync/client";
import { type Session, forgetSession, savedSession, signIn } from "./session.js";
import {
  type Storage,
  type Todo,
  type TodoList,
  type TodoStore,
  isHeldByAnotherTab,
  openTodoStore,
} from "./todo-store.js";

/** The sync routes live at the root of the origin that serves the demo at /demo/. */
const SERVER_URL = new URL("/", location.href).href;

type Screen = "loading" | "sign-in" | "problem" | "workspace";

function element<E extends HTMLElement = HTMLElement>(id: string): E {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as E;
}

function show(screen: Screen): void {
  document.body.dataset.screen = screen;
  element("loading").hidden = screen !== "loading";
  element("sign-in").hidden = screen !== "sign-in";
  element("problem").hidden = screen !== "problem";
  element("workspace").hidden = screen !== "workspace";
}

function showProblem(title: string, text: string, retry: () => void): void {
  element("problem-title").textContent = title;
  element("problem-text").textContent = text;
  element("problem-retry").onclick = retry;
  show("problem");
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- signing in and out ---------------------------------------------------------------------------

let session: Session | undefined;
let workspace: Workspace | undefined;

function showSignIn(): void {
  element("account").hidden = true;
  show("sign-in");
  element<HTMLInputElement>("sign-in-user").focus();
}

element<HTMLFormElement>("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = element<HTMLInputElement>("sign-in-user");
  const user = input.value.trim();
  if (user === "") return;
  element("sign-in-error").textContent = "";
  try {
    await openWorkspace(await signIn(SERVER_URL, user));
  } catch (error) {
    element("sign-in-error").textContent = message(error);
    showSignIn();
  }
});

element("sign-out").addEventListener("click", async () => {
  const closing = workspace;
  workspace = undefined;
  session = undefined;
  forgetSession();
  showSignIn();
  // Changes not uploaded yet stay in the user's database and sync at their next sign-in.
  await closing?.close().catch((error) => console.warn("closing the database failed", error));
});

async function openWorkspace(signedIn: Session): Promise<void> {
  session = signedIn;
  element("account-user").textContent = signedIn.user;
  element("account").hidden = false;
  element("loading").textContent = `Opening ${signedIn.user}'s lists…`;
  show("loading");
  let store: TodoStore;
  try {
    store = await openTodoStore({
      serverUrl: SERVER_URL,
      user: signedIn.user,
      token: () => session?.token ?? "",
    });
  } catch (error) {
    const retry = () => void openWorkspace(signedIn);
    if (isHeldByAnotherTab(error)) {
      showProblem(
        "Open in another tab",
        "Another tab of this browser holds this user's database and did not hand it over. Close that tab (or use it), then try again.",
        retry,
      );
    } else {
      showProblem(`Could not open ${signedIn.user}'s lists`, message(error), retry);
    }
    return;
  }
  if (session !== signedIn) {
    await store.close();
    return;
  }
  workspace = new Workspace(store);
  show("workspace");
}

// ---- the lists, the todos and the status ----------------------------------------------------------

/** The signed-in screen over one store. */
class Workspace {
  private lists: readonly TodoList[] = [];
  private selected: string | undefined = new URLSearchParams(location.hash.slice(1)).get("list") ?? undefined;
  private stopTodos: (() => void) | undefined;
  /** A list added here, selected before the lists' live query has shown it. */
  private added: string | undefined;
  private readonly stops: (() => void)[] = [];
  private readonly listsElement = element<HTMLUListElement>("lists");
  private readonly todosElement = element<HTMLUListElement>("todos");

  constructor(private readonly store: TodoStore) {
    this.listsElement.replaceChildren();
    delete this.listsElement.dataset.loaded;
    this.todosElement.replaceChildren();
    this.renderStatus(store.status);
    this.stops.push(store.onStatus((status) => this.renderStatus(status)));
    this.stops.push(store.onStorageChange(() => this.renderStatus(store.status)));
    this.stops.push(
      store.watchLists({
        onResult: (lists) => this.renderLists(lists),
        onError: (error) => this.report(`could not read the lists: ${message(error)}`),
      }),
    );
  }

  async close(): Promise<void> {
    this.stopTodos?.();
    for (const stop of this.stops.splice(0)) stop();
    await this.store.close();
  }

  addList(name: string): void {
    this.store.addList(name).then(
      (id) => {
        this.added = id;
        this.select(id);
      },
      (error) => this.report(`could not add the list: ${message(error)}`),
    );
  }

  addTodo(name: string): void {
    if (this.selected === undefined) return;
    this.store
      .addTodo(this.selected, name)
      .catch((error) => this.report(`could not add the todo: ${message(error)}`));
  }

  syncNow(): void {
    // A failure shows in the status line (status.lastError).
    this.store.syncNow().catch(() => undefined);
  }

  async signInAgain(): Promise<void> {
    if (session === undefined) return;
    try {
      session = await signIn(SERVER_URL, session.user);
      this.syncNow();
    } catch (error) {
      this.report(message(error));
    }
  }

  private select(id: string | undefined): void {
    if (id === this.selected && this.stopTodos !== undefined) return;
    this.selected = id;
    history.replaceState(null, "", id === undefined ? location.pathname : `#list=${id}`);
    this.stopTodos?.();
    this.stopTodos = undefined;
    this.todosElement.replaceChildren();
    if (id !== undefined) {
      this.stopTodos = this.store.watchTodos(id, {
        onResult: (todos) => this.renderTodos(todos),
        onError: (error) => this.report(`could not read the todos: ${message(error)}`),
      });
    }
    this.renderLists(this.lists);
  }

  private renderLists(lists: readonly TodoList[]): void {
    this.lists = lists;
    this.listsElement.dataset.loaded = "true";
    if (lists.some((list) => list.id === this.added)) this.added = undefined;
    const selectedShown = lists.some((list) => list.id === this.selected);
    // A list just added here shows with the query's next result: it stays selected meanwhile.
    const addedNotShownYet = this.selected !== undefined && this.selected === this.added;
    if (!selectedShown && !addedNotShownYet) {
      // The selected list is gone (deleted here or on another device) or none was chosen yet.
      const next = lists[0]?.id;
      if (next !== this.selected) {
        this.select(next);
        return;
      }
    } else if (selectedShown && this.stopTodos === undefined) {
      this.select(this.selected);
      return;
    }
    element("lists-empty").hidden = lists.length > 0;
    syncRows(
      this.listsElement,
      lists,
      (item, list) => {
        item.classList.toggle("selected", list.id === this.selected);
        setText(item, ".name", list.name);
        setText(item, ".count", String(list.todoCount));
      },
      (list) =>
        row(list.id, [
          button("name", list.name, () => this.select(list.id)),
          span("count", String(list.todoCount)),
          button("edit quiet", "Rename", (item) =>
            startRename(item, this.nameOf(list.id), (name) => this.store.renameList(list.id, name)),
          ),
          button("delete quiet", "Delete", () =>
            this.store
              .deleteList(list.id)
              .catch((error) => this.report(`could not delete the list: ${message(error)}`)),
          ),
        ]),
    );
    const current = lists.find((list) => list.id === this.selected);
    element("list-title").textContent = current?.name ?? "Todos";
    element("new-todo").hidden = current === undefined;
    if (current === undefined) this.showTodosHint("Add a list to start.");
  }

  private renderTodos(todos: readonly Todo[]): void {
    const list = this.lists.find((candidate) => candidate.id === this.selected);
    this.showTodosHint(todos.length === 0 ? `Nothing to do in ${list?.name ?? "this list"}.` : undefined);
    syncRows(
      this.todosElement,
      todos,
      (item, todo) => setText(item, ".name", todo.name),
      (todo) =>
        row(todo.id, [
          span("name", todo.name),
          button("edit quiet", "Rename", (item) =>
            startRename(item, item.querySelector(".name")?.textContent ?? "", (name) =>
              this.store.renameTodo(todo.id, name),
            ),
          ),
          button("done", "Done", () =>
            this.store
              .deleteTodo(todo.id)
              .catch((error) => this.report(`could not delete the todo: ${message(error)}`)),
          ),
        ]),
    );
  }

  private showTodosHint(text: string | undefined): void {
    const hint = element("todos-empty");
    hint.hidden = text === undefined;
    hint.textContent = text ?? "";
  }

  private nameOf(listId: string): string {
    return this.lists.find((list) => list.id === listId)?.name ?? "";
  }

  private renderStatus(status: SyncClientStatus): void {
    const box = element("status");
    const activity = status.uploading ? "uploading" : status.downloading ? "downloading" : "idle";
    Object.assign(box.dataset, {
      connection: status.connection,
      activity,
      pending: String(status.pendingChangeCount),
      syncedAt: status.lastSyncedAt ?? "",
      automatic: status.automaticSync,
      storage: this.store.storage,
    });
    element("status-connection").textContent =
      status.connection === "online" ? "Online" : status.connection === "offline" ? "Offline" : "Connecting…";
    element("status-connection").className = `pill ${status.connection}`;
    element("status-activity").textContent =
      activity === "uploading" ? "Uploading…" : activity === "downloading" ? "Downloading…" : "";
    const pending = status.pendingChangeCount;
    element("status-pending").textContent =
      pending === 0
        ? "All changes uploaded"
        : `${pending} change${pending === 1 ? "" : "s"} waiting to upload`;
    element("status-pending").className = pending === 0 ? "" : "pending";
    element("status-synced").textContent =
      status.lastSyncedAt === null
        ? "Not synced yet"
        : `Synced ${new Date(status.lastSyncedAt).toLocaleTimeString()}`;
    element("status-storage").textContent = STORAGE_TEXT[this.store.storage];
    // Failures while offline are expected and retried; show those that need attention.
    const error = status.lastError;
    const paused = status.automaticSync === "paused";
    const shown = error !== null && (paused || status.connection !== "offline");
    element("status-error").hidden = !shown;
    element("status-error-text").textContent = shown
      ? `${paused ? "Sync is paused: " : "Sync failed, retrying: "}${error.message}`
      : "";
    element("sign-in-again").hidden = !(shown && paused && error.needsApp);
  }

  private report(text: string): void {
    element("status-error").hidden = false;
    element("status-error-text").textContent = text;
  }
}

const STORAGE_TEXT: Readonly<Record<Storage, string>> = {
  opfs: "Saved in this browser",
  "another-tab": "Saved in this browser, by its other tab that holds the database",
  memory:
    "In memory only: this browser gives no storage for it, so changes not uploaded are lost when the tab closes",
};

/** Updates `container`'s rows (keyed by `data-id`) to `items` in order, keeping rows being renamed. */
function syncRows<T extends { readonly id: string }>(
  container: HTMLUListElement,
  items: readonly T[],
  update: (item: HTMLLIElement, value: T) => void,
  create: (value: T) => HTMLLIElement,
): void {
  const existing = new Map<string, HTMLLIElement>();
  for (const child of container.children) {
    if (child instanceof HTMLLIElement && child.dataset.id !== undefined)
      existing.set(child.dataset.id, child);
  }
  items.forEach((value, index) => {
    let item = existing.get(value.id);
    existing.delete(value.id);
    if (item === undefined) item = create(value);
    if (item.dataset.renaming !== "true") update(item, value);
    if (container.children[index] !== item) container.insertBefore(item, container.children[index] ?? null);
  });
  for (const gone of existing.values()) gone.remove();
}

function row(id: string, children: readonly HTMLElement[]): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.id = id;
  item.append(...children);
  return item;
}

function span(className: string, text: string): HTMLSpanElement {
  const node = document.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

function button(className: string, text: string, onClick: (item: HTMLLIElement) => void): HTMLButtonElement {
  const node = document.createElement("button");
  node.type = "button";
  node.className = className;
  node.textContent = text;
  node.addEventListener("click", () => {
    const item = node.closest("li");
    if (item !== null) onClick(item);
  });
  return node;
}

function setText(item: HTMLElement, selector: string, text: string): void {
  const node = item.querySelector(selector);
  if (node !== null && node.textContent !== text) node.textContent = text;
}

/** Replaces the row's content with a name field until Enter saves or Escape (or leaving it) cancels. */
function startRename(item: HTMLLIElement, current: string, save: (name: string) => Promise<void>): void {
  if (item.dataset.renaming === "true") return;
  const saved = [...item.childNodes];
  const form = document.createElement("form");
  form.className = "rename row";
  const input = document.createElement("input");
  input.value = current;
  input.required = true;
  input.maxLength = 200;
  input.setAttribute("aria-label", "New name");
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = "Save";
  form.append(input, submit);
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    delete item.dataset.renaming;
    item.replaceChildren(...saved);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (name !== "" && name !== current) {
      // The live query redraws the row with the new name.
      setText(item, ".name", name);
      save(name).catch((error) => console.error("rename failed", error));
    }
    finish();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") finish();
  });
  form.addEventListener("focusout", (event) => {
    if (!form.contains(event.relatedTarget as Node | null)) finish();
  });
  item.dataset.renaming = "true";
  item.replaceChildren(form);
  input.focus();
  input.select();
}

function onSubmit(formId: string, handle: (name: string) => void): void {
  const form = element<HTMLFormElement>(formId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = form.elements.namedItem("name") as HTMLInputElement;
    const name = input.value.trim();
    if (name === "") return;
    input.value = "";
    handle(name);
  });
}

onSubmit("new-list", (name) => workspace?.addList(name));
onSubmit("new-todo", (name) => workspace?.addTodo(name));
element("sync-now").addEventListener("click", () => workspace?.syncNow());
element("sign-in-again").addEventListener("click", () => void workspace?.signInAgain());
// Automatic sync backs off while the network is down; the browser knows first when it returns.
window.addEventListener("online", () => workspace?.syncNow());

// The service worker keeps the app's files for opening it offline (service-worker.ts).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker
    .register("./sw.js")
    .then(() => navigator.serviceWorker.ready)
    .then(
      () => {
        document.body.dataset.offlineReady = "true";
      },
      () => undefined,
    );
}

const saved = savedSession();
if (saved === undefined) showSignIn();
else void openWorkspace(saved);
