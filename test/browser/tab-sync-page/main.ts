/**
 * One tab of test/browser/tab-sync.test.ts: joins the tabs of a database through
 * `@oversync/client/tabs` (its `open()` opens the sqlite-wasm driver and a sync client against the
 * test's reference server), and offers the test its calls, its events and waits for them on
 * `window`. Values cross to the test as plain JSON (`{ bigint }`, `{ bytes }`), errors as their
 * code, class and message, so the test sees exactly what the page saw.
 */
import {
  OversyncClientError,
  SqliteError,
  type SqliteDriver,
  type SqliteValue,
  type SyncClient,
  type SyncConfig,
  createSyncClient,
  isSyncClientError,
} from "@oversync/client";
import { openSqliteWasmDriver } from "@oversync/client/sqlite-wasm";
import { type TabSyncClient, openTabSyncClient } from "@oversync/client/tabs";

/** What the test gives a tab. */
export interface TabSetup {
  /** The TabSyncOptions name. */
  readonly name: string;
  /** The OPFS pool and file of the database. */
  readonly pool: string;
  readonly file: string;
  readonly baseUrl: string;
  readonly token: string;
  readonly user: string;
  readonly schemaSql: string;
  readonly config: SyncConfig;
  /** `client.start({ uploads })` when this tab opens the database. */
  readonly uploads: "auto" | "off";
  /** TabSyncOptions.openRetryMillis. */
  readonly openRetryMillis?: number;
}

/** A value as JSON carries it: `{ bigint: "1" }` for a bigint, `{ bytes: [1, 2] }` for a Uint8Array. */
export type Plain = unknown;

export type Outcome =
  | { readonly ok: true; readonly value: Plain }
  | { readonly ok: false; readonly error: ErrorSeen };

/** An error as the page saw it. */
export interface ErrorSeen {
  readonly name: string;
  readonly code: unknown;
  readonly message: string;
  readonly sqliteCode?: unknown;
  readonly isSyncClientError: boolean;
  readonly isOversyncClientError: boolean;
  readonly isSqliteError: boolean;
}

export type CallKind = "query" | "run" | "sync";

/** What the page offers the test, on `window`. */
export interface TabSyncPage {
  open(setup: TabSetup): Promise<string>;
  /** Starts `open(setup)` without waiting; `settle("open")` waits for the role, or the failure. */
  startOpen(setup: TabSetup): void;
  role(): string;
  /** How often this tab's `open()` ran (it opens the database only when it owns it). */
  openCalls(): number;
  waitForOpenCalls(count: number): Promise<void>;
  /** Opens the database's OPFS pool directly (not through the tabs layer), holding it until `releasePool()`. */
  holdPool(file: string, pool: string): Promise<void>;
  releasePool(): Promise<void>;
  waitForRole(role: "owner" | "follower"): Promise<void>;
  query(sql: string, params?: Plain[]): Promise<Outcome>;
  run(sql: string, params?: Plain[]): Promise<Outcome>;
  batch(statements: { sql: string; params?: Plain[] }[]): Promise<Outcome>;
  sync(): Promise<Outcome>;
  pendingSyncStatus(): Promise<Outcome>;
  status(): Plain;
  /** Resolves with the status once every given member has the given value. */
  waitForStatus(match: Record<string, Plain>): Promise<Plain>;
  /** Starts a live query; its results are kept under `key`. */
  watch(key: string, sql: string, params?: Plain[]): void;
  /** Resolves once the live query `key` delivered exactly `rows`. */
  waitForWatch(key: string, rows: Plain): Promise<void>;
  tableChanges(): { tables: string[]; origin: string }[];
  waitForTableChange(table: string, origin: string): Promise<void>;
  /** Starts a call without waiting for it; `settle(key)` waits for its outcome. */
  start(key: string, kind: CallKind, sql?: string, params?: Plain[]): void;
  settle(key: string): Promise<Outcome>;
  /** Resolves once this tab, as owner, handed a statement containing `fragment` to its driver. */
  waitForOwnerStatement(fragment: string): Promise<void>;
  /** Counts the answers "not run" (a leaving owner's) seen on the channel of the tabs named `name`. */
  spyOnChannel(name: string): void;
  notRunReplies(): number;
  /** Starts close() without waiting; `settle("close")` waits for it. */
  startClose(): void;
  close(): Promise<Outcome>;
}

const WAIT_MILLIS = 30_000;

let tab: TabSyncClient | undefined;
let opens = 0;
const ownerStatements: string[] = [];
const watched = new Map<string, Plain[]>();
const tableChanges: { tables: string[]; origin: string }[] = [];
const started = new Map<string, Promise<Outcome>>();
let notRun = 0;

/** Waiters re-check their condition after every event of this page. */
const waiters = new Set<() => void>();
function changed(): void {
  for (const check of [...waiters]) check();
}

function until<T>(what: string, check: () => T | undefined, describe: () => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (value: T) => {
      waiters.delete(waiter);
      clearTimeout(timer);
      resolve(value);
    };
    const waiter = () => {
      const value = check();
      if (value !== undefined) done(value);
    };
    // A condition that never comes fails with what the page saw instead of stalling the test.
    const timer = setTimeout(() => {
      waiters.delete(waiter);
      reject(new Error(`no ${what} after ${WAIT_MILLIS} ms; last seen: ${JSON.stringify(describe())}`));
    }, WAIT_MILLIS);
    waiters.add(waiter);
    waiter();
  });
}

function requireTab(): TabSyncClient {
  if (tab === undefined) throw new Error("open() first");
  return tab;
}

async function outcome(work: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: toPlain(await work()) };
  } catch (error) {
    return { ok: false, error: seen(error) };
  }
}

function seen(error: unknown): ErrorSeen {
  const fields = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown; sqliteCode?: unknown };
  return {
    name: String(fields.name),
    code: fields.code,
    message: String(fields.message),
    ...(fields.sqliteCode === undefined ? {} : { sqliteCode: fields.sqliteCode }),
    isSyncClientError: isSyncClientError(error),
    isOversyncClientError: error instanceof OversyncClientError,
    isSqliteError: error instanceof SqliteError,
  };
}

function toPlain(value: unknown): Plain {
  if (typeof value === "bigint") return { bigint: value.toString() };
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Set) return [...value].map(toPlain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, toPlain(member)]));
  }
  return value;
}

function fromPlain(value: Plain): SqliteValue {
  if (value !== null && typeof value === "object") {
    if ("bigint" in value) return BigInt((value as { bigint: string }).bigint);
    if ("bytes" in value) return new Uint8Array((value as { bytes: number[] }).bytes);
  }
  return value as SqliteValue;
}

function params(values: Plain[] | undefined): SqliteValue[] {
  return (values ?? []).map(fromPlain);
}

/** The driver as the tabs layer uses it, noting each statement handed to it. */
function recording(driver: SqliteDriver): SqliteDriver {
  const note = (sql: string) => {
    ownerStatements.push(sql);
    changed();
  };
  return {
    name: driver.name,
    exec: (sql) => driver.exec(sql),
    query: (sql, values) => {
      note(sql);
      return driver.query(sql, values);
    },
    run: (sql, values) => {
      note(sql);
      return driver.run(sql, values);
    },
    transaction: (work, options) => driver.transaction(work, options),
    createFunction: (name, fn) => driver.createFunction(name, fn),
    close: () => driver.close(),
  };
}

async function openDatabase(setup: TabSetup): Promise<{ driver: SqliteDriver; client: SyncClient }> {
  opens += 1;
  changed();
  const driver = await openSqliteWasmDriver(setup.file, { pool: setup.pool });
  let client: SyncClient | undefined;
  try {
    await driver.exec(setup.schemaSql);
    client = createSyncClient({
      driver,
      config: setup.config,
      baseUrl: setup.baseUrl,
      tokenProvider: () => setup.token,
    });
    await client.open();
    await client.attach(setup.user);
    client.start({ uploads: setup.uploads });
    return { driver: recording(driver), client };
  } catch (error) {
    await client?.close().catch(() => {});
    await driver.close();
    throw error;
  }
}

async function join(setup: TabSetup): Promise<string> {
  tab = await openTabSyncClient({
    name: setup.name,
    open: () => openDatabase(setup),
    ...(setup.openRetryMillis === undefined ? {} : { openRetryMillis: setup.openRetryMillis }),
  });
  tab.onRoleChange(changed);
  tab.onStatus(changed);
  tab.onTablesChanged((change) => {
    tableChanges.push({ tables: [...change.tables].sort(), origin: change.origin });
    changed();
  });
  return tab.role;
}

let heldPool: SqliteDriver | undefined;

const page: TabSyncPage = {
  open: join,
  startOpen(setup) {
    started.set(
      "open",
      outcome(() => join(setup)),
    );
  },
  role: () => requireTab().role,
  openCalls: () => opens,
  async waitForOpenCalls(count) {
    await until(
      `${count} calls of open()`,
      () => (opens >= count ? true : undefined),
      () => opens,
    );
  },
  async holdPool(file, pool) {
    heldPool = await openSqliteWasmDriver(file, { pool });
  },
  async releasePool() {
    await heldPool?.close();
  },
  async waitForRole(role) {
    await until(
      `role ${role}`,
      () => (requireTab().role === role ? true : undefined),
      () => requireTab().role,
    );
  },
  query: (sql, values) => outcome(() => requireTab().query(sql, params(values))),
  run: (sql, values) => outcome(() => requireTab().run(sql, params(values))),
  batch: (statements) =>
    outcome(() =>
      requireTab().batch(
        statements.map((statement) => ({ sql: statement.sql, params: params(statement.params) })),
      ),
    ),
  sync: () => outcome(() => requireTab().sync()),
  pendingSyncStatus: () => outcome(() => requireTab().pendingSyncStatus()),
  status: () => toPlain(requireTab().status),
  waitForStatus(match) {
    return until(
      `status ${JSON.stringify(match)}`,
      () => {
        const status = toPlain(requireTab().status) as Record<string, Plain>;
        const fits = Object.entries(match).every(
          ([key, value]) => JSON.stringify(status[key]) === JSON.stringify(value),
        );
        return fits ? status : undefined;
      },
      () => requireTab().status,
    );
  },
  watch(key, sql, values) {
    const results: Plain[] = [];
    watched.set(key, results);
    requireTab().watchQuery(sql, params(values), {
      onResult: (rows) => {
        results.push(toPlain(rows));
        changed();
      },
      onError: (error) => {
        results.push({ error: seen(error) });
        changed();
      },
    });
  },
  async waitForWatch(key, rows) {
    const expected = JSON.stringify(rows);
    await until(
      `live query result ${expected}`,
      () => (watched.get(key)?.some((result) => JSON.stringify(result) === expected) ? true : undefined),
      () => watched.get(key),
    );
  },
  tableChanges: () => tableChanges,
  async waitForTableChange(table, origin) {
    await until(
      `a ${origin} change of ${table}`,
      () =>
        tableChanges.some((change) => change.origin === origin && change.tables.includes(table))
          ? true
          : undefined,
      () => tableChanges,
    );
  },
  start(key, kind, sql, values) {
    const client = requireTab();
    const work =
      kind === "sync"
        ? () => client.sync()
        : kind === "query"
          ? () => client.query(sql ?? "", params(values))
          : () => client.run(sql ?? "", params(values));
    started.set(key, outcome(work));
  },
  async settle(key) {
    const pending = started.get(key);
    if (pending === undefined) throw new Error(`nothing started as ${key}`);
    return pending;
  },
  async waitForOwnerStatement(fragment) {
    await until(
      `an owner statement with ${fragment}`,
      () => (ownerStatements.some((sql) => sql.includes(fragment)) ? true : undefined),
      () => ownerStatements.slice(-5),
    );
  },
  spyOnChannel(name) {
    // The layer's channel name (tab-sync-client.ts); a second BroadcastChannel object of the same
    // name in this page hears what the other tabs post.
    const spy = new BroadcastChannel(`oversync-tabs-v1:${name}`);
    spy.onmessage = (event: MessageEvent<{ type: string; outcome?: { kind: string } }>) => {
      if (event.data.type === "reply" && event.data.outcome?.kind === "not_run") {
        notRun += 1;
        changed();
      }
    };
  },
  notRunReplies: () => notRun,
  startClose() {
    started.set(
      "close",
      outcome(() => requireTab().close()),
    );
  },
  close: () => outcome(() => requireTab().close()),
};
Object.assign(window, { oversyncTabPage: page });
