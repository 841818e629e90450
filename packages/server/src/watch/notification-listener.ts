/**
 * The LISTEN seam bundle-change watch wakes on, and a PostgreSQL implementation of it that keeps one
 * dedicated session and replaces it when it is lost.
 *
 * A notification is a wake-up hint, not a queue: payloads sent while a session is being replaced
 * are lost. A source that can lose its session therefore calls `onResync` once LISTEN is back in
 * effect, and the consumer re-reads from the database whatever it was waiting for. PGlite's
 * in-process session (the CLI's PglitePool) never loses its session and simply never calls it.
 */
import { quoteIdent } from "../db/session.js";
import { type SyncLogger, consoleLogger } from "../telemetry/sync-logger.js";

/** Stops delivery to one listener; idempotent. */
export type Unlisten = () => Promise<void>;

/** A source of NOTIFY payloads by channel. */
export interface NotificationSource {
  /**
   * Delivers every payload NOTIFY'd on `channel` to `onPayload`, never while one of the caller's
   * statements is running. Resolves once LISTEN is in effect. `onResync`, when the source can lose
   * its session, is called after LISTEN is in effect again on a new one.
   */
  listen(channel: string, onPayload: (payload: string) => void, onResync?: () => void): Promise<Unlisten>;
}

/** The members of a node-postgres `Client` a LISTEN session uses. */
export interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  end(): Promise<void>;
}

/** Options of PgNotificationListener. */
export interface PgNotificationListenerOptions {
  /** A new, not yet connected client, e.g. `() => new pg.Client({ connectionString })`. */
  readonly createClient: () => ListenClient;
  /** Pause before the first reconnection attempt, doubled after each failed one. Default 100 ms. */
  readonly minReconnectDelayMs?: number;
  /** Longest pause between reconnection attempts. Default 2000 ms. */
  readonly maxReconnectDelayMs?: number;
  /** Where lost sessions and callbacks that threw are reported. Defaults to the console. */
  readonly logger?: SyncLogger;
}

interface Entry {
  readonly onPayload: (payload: string) => void;
  readonly onResync: (() => void) | undefined;
}

/**
 * LISTEN on PostgreSQL through one dedicated session, opened by the first listen(). When the
 * session fails it is replaced after a growing pause (while anyone still listens), every channel
 * is listened to again, and each listener's `onResync` runs.
 */
export class PgNotificationListener implements NotificationSource {
  readonly #options: PgNotificationListenerOptions;
  readonly #logger: SyncLogger;
  readonly #channels = new Map<string, Set<Entry>>();
  #client: ListenClient | undefined;
  #connecting: Promise<ListenClient> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** A session was lost and its replacement has not opened yet. */
  #resyncDue = false;
  #closed = false;

  constructor(options: PgNotificationListenerOptions) {
    this.#options = options;
    this.#logger = options.logger ?? consoleLogger;
  }

  async listen(
    channel: string,
    onPayload: (payload: string) => void,
    onResync?: () => void,
  ): Promise<Unlisten> {
    if (this.#closed) throw new Error("the notification listener is closed; create a new one");
    const entry: Entry = { onPayload, onResync };
    let entries = this.#channels.get(channel);
    const first = entries === undefined;
    if (entries === undefined) {
      entries = new Set();
      this.#channels.set(channel, entries);
    }
    entries.add(entry);
    if (first) {
      try {
        await (await this.#session()).query(`LISTEN ${quoteIdent(channel)}`);
      } catch (error) {
        this.#remove(channel, entry);
        throw error;
      }
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      if (!this.#remove(channel, entry)) return;
      await this.#client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => undefined);
    };
  }

  /** Ends the session; later listen() calls fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#channels.clear();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Removes one entry; true when its channel has no entries left. */
  #remove(channel: string, entry: Entry): boolean {
    const entries = this.#channels.get(channel);
    if (entries === undefined || !entries.delete(entry) || entries.size > 0) return false;
    this.#channels.delete(channel);
    return true;
  }

  /** The live session, or the attempt under way to open one. */
  #session(): Promise<ListenClient> {
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Connects a new session and listens to every current channel on it. */
  async #open(): Promise<ListenClient> {
    const client = this.#options.createClient();
    client.on("notification", (message) => this.#deliver(message.channel, message.payload ?? ""));
    // Unhandled, an "error" event would end the process; both events mean the session is gone.
    client.on("error", (error) => this.#lost(client, error));
    client.on("end", () => this.#lost(client, new Error("the LISTEN session ended")));
    try {
      await client.connect();
      for (const channel of this.#channels.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      throw new Error("the notification listener was closed while connecting");
    }
    this.#client = client;
    if (this.#resyncDue) {
      this.#resyncDue = false;
      this.#resynced();
    }
    return client;
  }

  #deliver(channel: string, payload: string): void {
    for (const entry of this.#channels.get(channel) ?? []) {
      setTimeout(
        () => this.#guard("notification callback threw", channel, () => entry.onPayload(payload)),
        0,
      );
    }
  }

  #guard(message: string, channel: string, callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#logger.error(message, { channel, error });
    }
  }

  /** Handles the loss of `client`: when it was the live session, starts replacing it. */
  #lost(client: ListenClient, error: Error): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    if (this.#closed || this.#channels.size === 0) return;
    this.#resyncDue = true;
    this.#logger.error("LISTEN session lost; reconnecting", { error: error.message });
    this.#reconnect(0);
  }

  /** Tries to open a new session after the pause for `attempt`, again and again until one opens. */
  #reconnect(attempt: number): void {
    const min = this.#options.minReconnectDelayMs ?? 100;
    const delay = Math.min(this.#options.maxReconnectDelayMs ?? 2000, min * 2 ** attempt);
    this.#retryTimer = setTimeout(() => {
      if (this.#closed || this.#client !== undefined) return;
      this.#session().catch((error: Error) => {
        this.#logger.error("LISTEN reconnection failed; retrying", { error: error.message, attempt });
        this.#reconnect(attempt + 1);
      });
    }, delay);
  }

  /** Tells every listener that payloads may have been lost while the session was replaced. */
  #resynced(): void {
    for (const [channel, entries] of this.#channels) {
      for (const entry of entries) {
        const onResync = entry.onResync;
        if (onResync !== undefined) {
          setTimeout(() => this.#guard("resync callback threw", channel, onResync), 0);
        }
      }
    }
  }
}
