/**
 * `@oversync/client/tabs`: one database shared by the tabs of an origin. The opfs-sahpool database
 * can be open in one tab at a time, so exactly one tab, the owner, opens it and its sync client,
 * and the other tabs (followers) send their reads, writes and sync calls to it and hear its table
 * changes and sync status. When the owner tab goes away, a follower takes over.
 *
 *   const tabs = await openTabSyncClient({
 *     name: "app.db",
 *     open: async () => {
 *       const driver = await openSqliteWasmDriver("app.db");
 *       await driver.exec(schemaSql);
 *       const client = createSyncClient({ driver, config, baseUrl, tokenProvider });
 *       await client.open();
 *       await client.attach(userId);
 *       client.start();
 *       return { driver, client };
 *     },
 *   });
 *   tabs.watchQuery("SELECT * FROM todos", [], { onResult: render, onError: console.error });
 *   await tabs.run("INSERT INTO todos (id, title) VALUES (?, ?)", [id, title]);
 *
 * How it works:
 * - Ownership is a Web Lock (`navigator.locks`) named for the database, held for the owner's
 *   lifetime. Every other tab waits in the lock's queue; the browser releases the lock when the
 *   owner's tab goes away (closed, reloaded, crashed) or `close()` is called, and grants it to the
 *   next tab in the queue, which runs `open()` and announces itself.
 * - Tabs talk over a BroadcastChannel of the same name. A follower learns the owner from its
 *   announcement (sent when it takes over, and in answer to a new tab's `hello`), sends each call as
 *   a request addressed to that owner with an id of its own, and the owner answers a reply addressed
 *   to the requesting tab with the same id. Structured clone carries bigint and Uint8Array exactly.
 *   Calls made while no owner is known wait for the next announcement.
 * - A follower hears that the owner went away from a second lock the owner holds (watchOwner), and
 *   from then on keeps new calls until the next owner announces itself. The calls the old owner had
 *   not answered are settled only then (or when this tab has taken over), so that answers the old
 *   owner sent just before it went still arrive first: a read runs again on the new owner; a write
 *   or sync call may or may not have taken effect, so it is neither run again nor dropped: it fails
 *   with `owner_tab_lost`, whose message says to check and retry. An owner that leaves by `close()`
 *   finishes the calls it has accepted and answers later ones "not run", so they go to the next
 *   owner safely.
 * - Errors keep their class, `code`, message and fields across tabs (tab-errors.ts).
 */
import type { SyncClient } from "../client.js";
import type { RunResult, SqliteDriver, SqliteRow, SqliteValue } from "../drivers/sqlite-driver.js";
import { type QueryListener, type WatchQueryOptions, watchQuery } from "../engine/live-query.js";
import type { PendingSyncStatus, SyncReport } from "../engine/results.js";
import type { SyncClientStatus, SyncStatusListener } from "../engine/sync-status.js";
import type { TablesChanged, TablesChangedListener } from "../engine/table-changes.js";
import { OversyncClientError, isClientError } from "../errors.js";
import { type OpenedDatabase, OwnedDatabase } from "./owned-database.js";
import { decodeError, encodeError } from "./tab-errors.js";
import {
  type TabCall,
  type TabMessage,
  type TabOutcome,
  type TabResults,
  type TabStatement,
  isReadOnlySql,
} from "./tab-messages.js";

export type { TabStatement };

export interface TabSyncOptions {
  /** Names the shared database: its Web Lock and its BroadcastChannel (one name per database file). */
  readonly name: string;
  /**
   * Runs in the tab that becomes the owner (at start, or when the previous owner's tab goes away):
   * opens the database and its sync client — typically openSqliteWasmDriver, createSyncClient,
   * client.open(), client.attach(user), client.start(). Closed by the layer when `close()` is
   * called; when the tab goes away, the browser ends the driver's worker and releases the lock.
   * If it fails it must close what it opened. While it fails with `database_already_owned` (the
   * previous owner's worker may hold the OPFS pool for a moment after its tab went away) it is
   * called again, with backoff, for up to `openRetryMillis`.
   */
  readonly open: () => Promise<{ readonly driver: SqliteDriver; readonly client: SyncClient }>;
  /** How long `open()` is retried while it fails with `database_already_owned`. Default 10 000 ms. */
  readonly openRetryMillis?: number;
}

/** The database of all tabs, as one tab uses it (see the module comment). */
export interface TabSyncClient {
  /** This tab's role now; it changes from "follower" to "owner" when this tab takes over. */
  readonly role: "owner" | "follower";
  /** Calls `listener` when this tab's role changes; returns the function that removes it. */
  onRoleChange(listener: (role: "owner" | "follower") => void): () => void;
  /**
   * Runs one statement in the owner tab and returns its rows. If the owner goes away before it
   * answers, a statement that can only read (it starts with SELECT, VALUES, WITH or EXPLAIN and
   * names no INSERT, UPDATE, DELETE or REPLACE) runs again on the next owner; any other fails with
   * `owner_tab_lost`.
   */
  query<R = SqliteRow>(sql: string, params?: readonly SqliteValue[]): Promise<R[]>;
  /** Runs one statement in the owner tab; `owner_tab_lost` when the owner went away before answering. */
  run(sql: string, params?: readonly SqliteValue[]): Promise<RunResult>;
  /** Runs the statements in one transaction in the owner tab (all or nothing). */
  batch(
    statements: readonly { readonly sql: string; readonly params?: readonly SqliteValue[] }[],
  ): Promise<RunResult[]>;
  /**
   * A live query (as `SyncClient.watchQuery`): it runs in the owner tab, and again after each of the
   * owner's table changes that touch its tables; it ends with `close()`.
   */
  watchQuery<R = SqliteRow>(
    sql: string,
    params: readonly SqliteValue[],
    listener: QueryListener<R>,
    options?: WatchQueryOptions,
  ): () => void;
  /**
   * Calls `listener` after the owner's tables changed (as `SyncClient.onTablesChanged`). When the
   * owner changes, it hears one change naming every table (origin "sync"): the new owner's first
   * downloads ran before it could tell anyone, so everything should be read again.
   */
  onTablesChanged(listener: TablesChangedListener): () => void;
  /** `SyncClient.sync()` in the owner tab; `owner_tab_lost` when the owner went away before answering. */
  sync(): Promise<SyncReport>;
  /** `SyncClient.pendingSyncStatus()` in the owner tab. */
  pendingSyncStatus(): Promise<PendingSyncStatus>;
  /** The owner's sync status, mirrored in every tab. */
  readonly status: SyncClientStatus;
  onStatus(listener: SyncStatusListener): () => void;
  /** Leaves (an owner hands the database over to a waiting tab). */
  close(): Promise<void>;
}

/**
 * Joins the tabs sharing `options.name`: resolves once this tab owns the database (its `open()`
 * succeeded) or knows the owner (its announcement carried the owner's status), so it waits while
 * another tab is still opening the database. Rejects when this tab was to be the owner and `open()`
 * failed, and with `driver_unavailable` where there are no Web Locks or BroadcastChannel.
 */
export async function openTabSyncClient(options: TabSyncOptions): Promise<TabSyncClient> {
  if (
    typeof navigator === "undefined" ||
    navigator.locks === undefined ||
    typeof BroadcastChannel === "undefined"
  ) {
    throw new OversyncClientError(
      "driver_unavailable",
      "openTabSyncClient needs Web Locks and BroadcastChannel (a browser page or worker); elsewhere use a SyncClient directly",
    );
  }
  if (options.name.trim() === "") {
    throw new OversyncClientError("invalid_argument", "openTabSyncClient needs a non-blank name");
  }
  const tab = new Tab(options);
  await tab.start();
  return tab;
}

/** Lock and channel names; the version keeps tabs running another message format apart. */
const NAME_PREFIX = "oversync-tabs-v1:";
const DEFAULT_OPEN_RETRY_MILLIS = 10_000;
const OPEN_RETRY_FIRST_DELAY_MILLIS = 25;
const OPEN_RETRY_MAX_DELAY_MILLIS = 1_000;

/** A call this tab made and the owner has not answered. */
interface PendingCall {
  readonly call: TabCall;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** The owner it was sent to; undefined while it waits for an owner. */
  sentTo: string | undefined;
}

type Role = "owner" | "follower";

class Tab implements TabSyncClient {
  private readonly id = crypto.randomUUID();
  private readonly lockName: string;
  private readonly channel: BroadcastChannel;
  private currentRole: Role = "follower";
  /** Set while this tab owns the database. */
  private owned: OwnedDatabase | undefined;
  /** The owner this tab last heard announce itself (this tab's id while it owns); undefined once it went away. */
  private ownerId: string | undefined;
  /** Some tab owned the database since this tab joined (so an owner change may have hidden changes). */
  private hadOwner = false;
  /** Every table of the database as the owner listed them (see `onTablesChanged`). */
  private tables: readonly string[] = [];
  /** The owner's status as last heard (this tab's client's while it owns). */
  private mirroredStatus: SyncClientStatus | undefined;
  private readonly pending = new Map<number, PendingCall>();
  private nextCallId = 1;
  private readonly roleListeners = new Set<(role: Role) => void>();
  private readonly statusListeners = new Set<SyncStatusListener>();
  private readonly tableListeners = new Set<TablesChangedListener>();
  private stopOwnerEvents: (() => void) | undefined;
  /** Aborted by `close()`: ends live queries and a wait for the lock. */
  private readonly lifetime = new AbortController();
  private closed = false;
  /** Why this tab could not take over; it no longer waits for the lock. */
  private failure: unknown;
  /** Settles `start()`: this tab owns the database, knows the owner, or failed to take over. */
  private joined: { readonly resolve: () => void; readonly reject: (error: unknown) => void } | undefined;
  /** Ends this tab's hold on the lock (its callback waits for it). */
  private releaseLock: () => void = () => {};
  private readonly lockReleased = new Promise<void>((resolve) => {
    this.releaseLock = resolve;
  });

  constructor(private readonly options: TabSyncOptions) {
    this.lockName = `${NAME_PREFIX}${options.name}`;
    this.channel = new BroadcastChannel(this.lockName);
    this.channel.onmessage = (event: MessageEvent<TabMessage>) => this.receive(event.data);
  }

  async start(): Promise<void> {
    const joined = new Promise<void>((resolve, reject) => {
      this.joined = { resolve, reject };
    });
    try {
      if (await this.requestOwnership(true)) return;
      this.post({ type: "hello", from: this.id });
      this.requestOwnership(false).catch((error: unknown) => this.takeOverFailed(error));
      await joined;
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  // ---- TabSyncClient ----------------------------------------------------------------------------

  get role(): Role {
    return this.currentRole;
  }

  get status(): SyncClientStatus {
    // Set before start() resolves: by this tab's client, or by the owner's announcement.
    return this.mirroredStatus!;
  }

  onRoleChange(listener: (role: Role) => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  onStatus(listener: SyncStatusListener): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  onTablesChanged(listener: TablesChangedListener): () => void {
    this.tableListeners.add(listener);
    return () => this.tableListeners.delete(listener);
  }

  query<R = SqliteRow>(sql: string, params: readonly SqliteValue[] = []): Promise<R[]> {
    return this.call({ op: "query", sql, params, rerunnable: isReadOnlySql(sql) }) as Promise<R[]>;
  }

  run(sql: string, params: readonly SqliteValue[] = []): Promise<RunResult> {
    return this.call({ op: "run", sql, params });
  }

  batch(statements: readonly TabStatement[]): Promise<RunResult[]> {
    return this.call({ op: "batch", statements });
  }

  sync(): Promise<SyncReport> {
    return this.call({ op: "sync" });
  }

  pendingSyncStatus(): Promise<PendingSyncStatus> {
    return this.call({ op: "pendingSyncStatus" });
  }

  watchQuery<R = SqliteRow>(
    sql: string,
    params: readonly SqliteValue[],
    listener: QueryListener<R>,
    options?: WatchQueryOptions,
  ): () => void {
    if (this.closed) throw closedError();
    const query = <T>(text: string, values: readonly SqliteValue[] = []) =>
      // A live query only reads (its plan, sqlite_master, its SELECT), so it may always run again.
      this.call({ op: "query", sql: text, params: values, rerunnable: true }) as Promise<T[]>;
    const source = {
      db: {
        query,
        run: (text: string, values?: readonly SqliteValue[]) => this.run(text, values),
        exec: async (text: string) => {
          await this.run(text);
        },
      },
      subscribe: (changed: TablesChangedListener) => this.onTablesChanged(changed),
      closed: this.lifetime.signal,
    };
    return watchQuery<R>(source, sql, params, listener, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const owned = this.owned;
    try {
      if (owned !== undefined) {
        this.stopOwnerEvents?.();
        await owned.close();
      }
    } finally {
      this.owned = undefined;
      // Only now, with the driver closed and the OPFS pool free, may the next tab take over.
      this.releaseLock();
      this.lifetime.abort();
      this.settleAll(closedError());
      this.channel.close();
    }
  }

  // ---- Calls --------------------------------------------------------------------------------------

  private call<C extends TabCall>(call: C): Promise<TabResults[C["op"]]> {
    if (this.closed) return Promise.reject(closedError());
    if (this.owned !== undefined) return this.owned.run(call);
    if (this.failure !== undefined && this.ownerId === undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const id = this.nextCallId++;
      this.pending.set(id, {
        call,
        resolve: resolve as (result: unknown) => void,
        reject,
        sentTo: undefined,
      });
      this.send(id);
    });
  }

  /** Sends a waiting call to the owner, if one is known. */
  private send(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined || this.ownerId === undefined) return;
    pending.sentTo = this.ownerId;
    this.post({ type: "request", from: this.id, to: this.ownerId, id, call: pending.call });
  }

  /**
   * The owner changed: calls sent to an earlier owner and not answered run again (reads) or fail
   * with `owner_tab_lost` (everything else); waiting calls go to the new owner.
   */
  private resendAfterOwnerChange(): void {
    for (const [id, pending] of [...this.pending]) {
      if (pending.sentTo === undefined || pending.sentTo === this.ownerId) continue;
      if (mayRunAgain(pending.call)) {
        pending.sentTo = undefined;
        continue;
      }
      this.pending.delete(id);
      pending.reject(ownerLostError(pending.call));
    }
    for (const [id, pending] of [...this.pending]) {
      if (pending.sentTo !== undefined) continue;
      if (this.owned !== undefined) {
        this.pending.delete(id);
        this.owned.run(pending.call).then(pending.resolve, pending.reject);
      } else {
        this.send(id);
      }
    }
  }

  private settleAll(error: unknown): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  // ---- Messages -----------------------------------------------------------------------------------

  private post(message: TabMessage): void {
    this.channel.postMessage(message);
  }

  private receive(message: TabMessage): void {
    if (this.closed) {
      // A leaving owner runs no new call; the next owner will.
      if (message.type === "request" && message.to === this.id) {
        this.post({
          type: "reply",
          from: this.id,
          to: message.from,
          id: message.id,
          outcome: { kind: "not_run" },
        });
      }
      return;
    }
    switch (message.type) {
      case "hello":
        if (this.owned !== undefined && !this.owned.leaving) this.announce();
        return;
      case "owner":
        if (this.owned !== undefined) return;
        if (message.from !== this.ownerId) this.followOwner(message.from, message.status, message.tables);
        return;
      case "request":
        if (message.to === this.id) void this.serve(message.from, message.id, message.call);
        return;
      case "reply":
        if (message.to === this.id) this.answered(message.from, message.id, message.outcome);
        return;
      case "status":
        if (message.from === this.ownerId && this.owned === undefined) this.setStatus(message.status);
        return;
      case "tables":
        if (message.from === this.ownerId && this.owned === undefined) {
          this.emitTables({ tables: new Set(message.tables), origin: message.origin });
        }
        return;
    }
  }

  /** A new owner announced itself (so the previous one, if any, has gone). */
  private followOwner(owner: string, status: SyncClientStatus, tables: readonly string[]): void {
    const changed = this.hadOwner;
    this.hadOwner = true;
    this.ownerId = owner;
    this.tables = tables;
    this.watchOwner(owner);
    this.resendAfterOwnerChange();
    this.setStatus(status);
    if (changed) this.emitTables({ tables: new Set(tables), origin: "sync" });
    this.joined?.resolve();
    this.joined = undefined;
  }

  /**
   * Learns when `owner` goes away: it holds a lock of its own for as long as it owns the database,
   * so a shared request for that lock is granted then. From that moment new calls wait for the next
   * owner instead of going to one that cannot answer; calls it had not answered are settled when the
   * next owner announces itself (resendAfterOwnerChange).
   */
  private watchOwner(owner: string): void {
    navigator.locks
      .request(ownerLockName(this.lockName, owner), { mode: "shared", signal: this.lifetime.signal }, () => {
        if (this.ownerId === owner) this.ownerId = undefined;
      })
      .catch(() => {
        // Aborted by close(): this tab no longer cares.
      });
  }

  private answered(from: string, id: number, outcome: TabOutcome): void {
    const pending = this.pending.get(id);
    // An answer from an owner the call is no longer with (it was already settled or re-sent) is stale.
    if (pending === undefined || pending.sentTo !== from) return;
    if (outcome.kind === "not_run") {
      // That owner is leaving: the call waits for the next one.
      pending.sentTo = undefined;
      if (this.ownerId === from) this.ownerId = undefined;
      return;
    }
    this.pending.delete(id);
    if (outcome.kind === "ok") pending.resolve(outcome.result);
    else pending.reject(decodeError(outcome.error));
  }

  /** Runs a follower's call in this (owner) tab and answers it. */
  private async serve(from: string, id: number, call: TabCall): Promise<void> {
    const owned = this.owned;
    let outcome: TabOutcome;
    if (owned === undefined || owned.leaving) {
      outcome = { kind: "not_run" };
    } else {
      try {
        outcome = { kind: "ok", result: await owned.run(call) };
      } catch (error) {
        outcome = { kind: "failed", error: encodeError(error) };
      }
    }
    const reply = (answer: TabOutcome) =>
      this.post({ type: "reply", from: this.id, to: from, id, outcome: answer });
    try {
      reply(outcome);
    } catch (error) {
      // A result structured clone cannot carry (DataCloneError): the caller gets that failure.
      reply({ kind: "failed", error: encodeError(error) });
    }
  }

  // ---- Ownership ----------------------------------------------------------------------------------

  /**
   * Asks for the lock: at once (`ifAvailable`, false when another tab holds it) or by waiting in its
   * queue. Once granted, opens the database; the lock is then held until `close()`.
   */
  private requestOwnership(ifAvailable: boolean): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const granted = async (lock: Lock | null): Promise<void> => {
        if (lock === null) {
          resolve(false);
          return;
        }
        try {
          await this.takeOver();
        } catch (error) {
          // Returning releases the lock, so the next tab in the queue can try.
          reject(error);
          return;
        }
        resolve(true);
        await this.lockReleased;
      };
      // A signal may not be combined with ifAvailable; that request never waits anyway.
      const options: LockOptions = ifAvailable ? { ifAvailable: true } : { signal: this.lifetime.signal };
      navigator.locks.request(this.lockName, options, granted).catch(reject);
    });
  }

  /** This tab holds the lock: opens the database and starts serving every tab. */
  private async takeOver(): Promise<void> {
    const opened = await openWithRetry(
      this.options.open,
      this.options.openRetryMillis ?? DEFAULT_OPEN_RETRY_MILLIS,
      this.lifetime.signal,
    );
    if (this.closed) {
      await closeOpened(opened);
      throw closedError();
    }
    let tables: readonly string[];
    try {
      tables = (
        await opened.driver.query<{ name: string }>(
          "SELECT lower(name) AS name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
      ).map((row) => row.name);
      await this.holdOwnerLock();
    } catch (error) {
      await closeOpened(opened);
      throw error;
    }
    const owned = new OwnedDatabase(opened);
    const hadOwner = this.hadOwner;
    this.hadOwner = true;
    this.owned = owned;
    this.ownerId = this.id;
    this.tables = tables;
    const stopStatus = opened.client.onStatus((status) => {
      this.post({ type: "status", from: this.id, status });
      this.setStatus(status);
    });
    const stopTables = opened.client.onTablesChanged((change) => {
      this.post({ type: "tables", from: this.id, tables: [...change.tables], origin: change.origin });
      this.emitTables(change);
    });
    this.stopOwnerEvents = () => {
      stopStatus();
      stopTables();
    };
    this.announce();
    this.resendAfterOwnerChange();
    const role = this.currentRole;
    this.currentRole = "owner";
    this.setStatus(opened.client.status);
    if (hadOwner) this.emitTables({ tables: new Set(tables), origin: "sync" });
    if (role !== "owner") this.notify(this.roleListeners, "owner" as const);
    this.joined?.resolve();
    this.joined = undefined;
  }

  /** Takes this owner's own lock (see watchOwner), held until `close()`; resolves once it is held. */
  private holdOwnerLock(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      navigator.locks
        .request(ownerLockName(this.lockName, this.id), async () => {
          resolve();
          await this.lockReleased;
        })
        .catch(reject);
    });
  }

  private announce(): void {
    const owned = this.owned;
    if (owned === undefined) return;
    this.post({ type: "owner", from: this.id, status: owned.client.status, tables: this.tables });
  }

  /**
   * Taking over failed after its retries: the lock has gone to the next tab, and this tab does not
   * ask for it again. Its calls fail with the cause while no other tab owns the database; a call the
   * previous owner had not answered fails as in resendAfterOwnerChange.
   */
  private takeOverFailed(error: unknown): void {
    if (this.closed) return;
    this.failure = error;
    if (this.joined !== undefined) {
      this.joined.reject(error);
      this.joined = undefined;
    }
    // This tab held the lock, so the owner it knew has gone.
    this.ownerId = undefined;
    for (const pending of this.pending.values()) {
      pending.reject(
        pending.sentTo !== undefined && !mayRunAgain(pending.call) ? ownerLostError(pending.call) : error,
      );
    }
    this.pending.clear();
  }

  // ---- Events -------------------------------------------------------------------------------------

  private setStatus(status: SyncClientStatus): void {
    this.mirroredStatus = status;
    this.notify(this.statusListeners, status);
  }

  private emitTables(change: TablesChanged): void {
    this.notify(this.tableListeners, change);
  }

  private notify<T>(listeners: ReadonlySet<(value: T) => void>, value: T): void {
    for (const listener of [...listeners]) {
      try {
        listener(value);
      } catch {
        // A listener's failure is its own bug; the other listeners and the tabs go on.
      }
    }
  }
}

/** Runs `open`, again with backoff while the OPFS pool is still held (by the previous owner's worker). */
async function openWithRetry(
  open: () => Promise<OpenedDatabase>,
  budgetMillis: number,
  signal: AbortSignal,
): Promise<OpenedDatabase> {
  const started = Date.now();
  let delay = OPEN_RETRY_FIRST_DELAY_MILLIS;
  for (;;) {
    try {
      return await open();
    } catch (error) {
      if (!isClientError(error, "database_already_owned") || signal.aborted) throw error;
      if (Date.now() - started + delay > budgetMillis) {
        throw new OversyncClientError(
          "database_already_owned",
          `this tab took over the database, but it stayed held elsewhere for ${budgetMillis} ms (${error.message})`,
          { cause: error },
        );
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, delay);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
    delay = Math.min(delay * 2, OPEN_RETRY_MAX_DELAY_MILLIS);
  }
}

async function closeOpened(opened: OpenedDatabase): Promise<void> {
  try {
    await opened.client.close();
  } finally {
    await opened.driver.close();
  }
}

/** The lock an owner holds for as long as it owns the database (a name only it uses). */
function ownerLockName(lockName: string, owner: string): string {
  return `${lockName}#owner:${owner}`;
}

function closedError(): OversyncClientError {
  return new OversyncClientError(
    "client_closed",
    "this tab's sync client is closed; call openTabSyncClient again to use the database",
  );
}

/** A call that only reads: it may run again on the next owner when its owner went away before answering. */
function mayRunAgain(call: TabCall): boolean {
  return call.op === "query" && call.rerunnable;
}

function ownerLostError(call: TabCall): OversyncClientError {
  const what = call.op === "sync" ? "sync()" : call.op === "batch" ? "the batch" : "the statement";
  return new OversyncClientError(
    "owner_tab_lost",
    `the tab that owned the database went away while it ran ${what}, so whether it took effect is unknown: check (read the rows, or pendingSyncStatus()) and retry it if needed`,
  );
}
