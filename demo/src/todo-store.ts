/**
 * The demo's data, and the only module that knows how it is stored and synced: one SQLite database
 * per signed-in user in this browser (sqlite-wasm on OPFS), kept in sync with the server that served
 * the page. Lists are the reference server's example table `teams` (id, name) and todos its
 * `team_members` (id, name, team_id; deleting a list deletes its todos), so KMP and Dart apps on
 * the same server see the same rows.
 *
 * The tabs of a browser share the user's database through `@oversync/client/tabs`: one of them
 * (the owner) opens it and its sync client (`openOwnDatabase`), the others send their reads and
 * writes to it and see its changes and sync status; when the owner's tab closes, another takes over.
 * The screen uses `TodoStore` only.
 */
// readme:imports
import { EXAMPLE_CLIENT_CONFIG, exampleClientSchemaSql } from "@oversync/cli/example-client";
import {
  type QueryListener,
  type SqliteValue,
  type SyncClient,
  type SyncClientStatus,
  createSyncClient,
  isClientError,
} from "@oversync/client";
import {
  type SqlitePersistence,
  type SqliteWasmDriver,
  openSqliteWasmDriver,
} from "@oversync/client/sqlite-wasm";
import { openTabSyncClient } from "@oversync/client/tabs";
// readme:imports-end

/** A list and how many todos it holds. */
export interface TodoList {
  readonly id: string;
  readonly name: string;
  readonly todoCount: number;
}

export interface Todo {
  readonly id: string;
  readonly name: string;
}

/**
 * Where the data is: "opfs", kept in this browser across reloads; "memory", lost when this tab
 * closes (a browser without OPFS); "another-tab", held by another tab of this browser.
 */
export type Storage = SqlitePersistence | "another-tab";

/** What the screen reads and writes. Writes land locally at once and sync in the background. */
export interface TodoStore {
  readonly storage: Storage;
  /** Calls `listener` when `storage` changes (this tab took the database over from a closed one). */
  onStorageChange(listener: () => void): () => void;
  /** The sync status of the tab that holds the database. */
  readonly status: SyncClientStatus;
  onStatus(listener: (status: SyncClientStatus) => void): () => void;
  /** Calls `listener` with the lists now and after every change, local or synced. */
  watchLists(listener: QueryListener<TodoList>): () => void;
  watchTodos(listId: string, listener: QueryListener<Todo>): () => void;
  addList(name: string): Promise<string>;
  renameList(id: string, name: string): Promise<void>;
  /** Deletes the list and its todos in one transaction (one change set on every device). */
  deleteList(id: string): Promise<void>;
  addTodo(listId: string, name: string): Promise<void>;
  renameTodo(id: string, name: string): Promise<void>;
  deleteTodo(id: string): Promise<void>;
  /** Uploads and downloads now (automatic sync does it anyway; this skips its back-off). */
  syncNow(): Promise<void>;
  close(): Promise<void>;
}

/** Who is signed in, and how to reach the server. */
export interface StoreAccount {
  /** The sync server's base URL: the page's own origin. */
  readonly serverUrl: string;
  readonly user: string;
  /** The current bearer token (it changes when the user signs in again). */
  readonly token: () => string;
}

/** The user's database could not be opened because another tab of this browser kept holding it. */
export function isHeldByAnotherTab(error: unknown): boolean {
  return isClientError(error, "database_already_owned");
}

export async function openTodoStore(account: StoreAccount): Promise<TodoStore> {
  const db = await openSyncedDatabase(account);
  return {
    get storage() {
      return db.storage;
    },
    onStorageChange: (listener) => db.onStorageChange(listener),
    get status() {
      return db.status;
    },
    onStatus: (listener) => db.onStatus(listener),
    watchLists: (listener) =>
      db.watchQuery<TodoList>(
        `SELECT t.id, t.name, (SELECT count(*) FROM team_members m WHERE m.team_id = t.id) AS todoCount
           FROM teams t ORDER BY t.name COLLATE NOCASE, t.id`,
        [],
        {
          onResult: (rows) =>
            listener.onResult(rows.map((row) => ({ ...row, todoCount: Number(row.todoCount) }))),
          onError: listener.onError,
        },
      ),
    watchTodos: (listId, listener) =>
      db.watchQuery<Todo>(
        "SELECT id, name FROM team_members WHERE team_id = ? ORDER BY name COLLATE NOCASE, id",
        [listId],
        listener,
      ),
    async addList(name) {
      const id = crypto.randomUUID();
      await db.batch([{ sql: "INSERT INTO teams (id, name) VALUES (?, ?)", params: [id, name] }]);
      return id;
    },
    renameList: (id, name) =>
      db.batch([{ sql: "UPDATE teams SET name = ? WHERE id = ?", params: [name, id] }]),
    // The todos are deleted explicitly rather than by the foreign key's cascade, so each delete is
    // a change of its own in the same bundle whatever the device's foreign-key setting.
    deleteList: (id) =>
      db.batch([
        { sql: "DELETE FROM team_members WHERE team_id = ?", params: [id] },
        { sql: "DELETE FROM teams WHERE id = ?", params: [id] },
      ]),
    addTodo: (listId, name) =>
      db.batch([
        {
          sql: "INSERT INTO team_members (id, name, team_id) VALUES (?, ?, ?)",
          params: [crypto.randomUUID(), name, listId],
        },
      ]),
    renameTodo: (id, name) =>
      db.batch([{ sql: "UPDATE team_members SET name = ? WHERE id = ?", params: [name, id] }]),
    deleteTodo: (id) => db.batch([{ sql: "DELETE FROM team_members WHERE id = ?", params: [id] }]),
    async syncNow() {
      await db.sync();
    },
    close: () => db.close(),
  };
}

/** One SQL statement with its parameters. */
interface Statement {
  readonly sql: string;
  readonly params: readonly SqliteValue[];
}

/** What the store needs from the user's database: the tab layer's client, seen from this tab. */
interface SyncedDatabase {
  readonly storage: Storage;
  onStorageChange(listener: () => void): () => void;
  readonly status: SyncClientStatus;
  onStatus(listener: (status: SyncClientStatus) => void): () => void;
  /** Runs the statements in one transaction. */
  batch(statements: readonly Statement[]): Promise<void>;
  watchQuery<R>(sql: string, params: readonly SqliteValue[], listener: QueryListener<R>): () => void;
  sync(): Promise<unknown>;
  close(): Promise<void>;
}

/** Opens the user's database as this tab shares it with the browser's other tabs. */
async function openSyncedDatabase(account: StoreAccount): Promise<SyncedDatabase> {
  // Set in the tab that opens the database; the others reach it through that tab.
  let persistence: SqlitePersistence | undefined;
  // readme:begin tabs
  const tabs = await openTabSyncClient({
    name: `oversync-demo/${account.user}`,
    open: async () => {
      const opened = await openOwnDatabase(account);
      persistence = opened.driver.persistence;
      return opened;
    },
  });
  // readme:end tabs
  return {
    get storage() {
      return tabs.role === "owner" && persistence !== undefined ? persistence : "another-tab";
    },
    onStorageChange: (listener) => tabs.onRoleChange(() => listener()),
    get status() {
      return tabs.status;
    },
    onStatus: (listener) => tabs.onStatus(listener),
    async batch(statements) {
      await tabs.batch(statements);
    },
    watchQuery: (sql, params, listener) => tabs.watchQuery(sql, params, listener),
    sync: () => tabs.sync(),
    close: () => tabs.close(),
  };
}

/**
 * Opens the user's database in this tab, the owner: the example tables, a sync client attached to
 * the user (the first time it restores the user's rows from the server; later it needs no network)
 * and automatic two-way sync. Each user has an OPFS pool of their own (its files open in one tab
 * at a time), so the tabs of two users of one browser do not wait for each other.
 */
async function openOwnDatabase(
  account: StoreAccount,
): Promise<{ driver: SqliteWasmDriver; client: SyncClient }> {
  // readme:begin owner
  const driver = await openSqliteWasmDriver(`${encodeURIComponent(account.user)}.db`, {
    pool: `oversync-demo-${fingerprint(account.user)}`,
  });
  const client = createSyncClient({
    driver,
    config: EXAMPLE_CLIENT_CONFIG,
    baseUrl: account.serverUrl,
    tokenProvider: account.token,
  });
  try {
    await driver.exec(exampleClientSchemaSql());
    await client.open();
    for (;;) {
      const attached = await client.attach(account.user);
      if (attached.status === "connected") break;
      // Another device is setting the account up on the server right now.
      await new Promise((resolve) => setTimeout(resolve, attached.retryAfterSeconds * 1000));
    }
    client.start();
    return { driver, client };
  } catch (error) {
    await client.close().catch(() => undefined);
    await driver.close().catch(() => undefined);
    throw error;
  }
  // readme:end owner
}

/** A short hex fingerprint (FNV-1a) of a user name, for the pool's name (a VFS and directory name). */
function fingerprint(text: string): string {
  let value = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) value = Math.imul(value ^ byte, 0x01000193) >>> 0;
  return value.toString(16).padStart(8, "0");
}
