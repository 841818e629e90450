/**
 * Bundle-change watch (protocol-latest §1.12, server digest §10): wake-ups for open `/sync/watch`
 * streams.
 *
 * Every committed bundle NOTIFYs a small payload on the watch channel inside its own transaction,
 * so PostgreSQL delivers it only when that transaction commits, and to every process LISTENing on
 * the database. Each process keeps one LISTEN (the host's NotificationSource) and a hub of the
 * streams it serves, by scope: every stream on a scope wakes for each of its bundles, whichever
 * user's device committed it. A stream holds at most one pending event: a newer bundle replaces it
 * and nothing at or below what the stream already sent is kept, so a slow reader gets the newest
 * seq and never a lower one. When the LISTEN session had to be replaced, notifications may have
 * been lost, so the hub re-reads the latest seq of every watched scope.
 */
import {
  type BundleChangeEvent,
  type CommittedBundleIdentity,
  OversyncError,
  isValidSourceId,
} from "@oversync/protocol";
import { toSafeInt } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { requireInitializedScope } from "../scope/scope-state.js";
import { ServiceConfigError } from "../service/service-options.js";
import type { Actor, BundleWatch } from "../service/sync-service.js";
import type { SyncLogger } from "../telemetry/sync-logger.js";
import { SYNC_METRICS } from "../telemetry/sync-metrics.js";
import type { TelemetryRecorder } from "../telemetry/telemetry-recorder.js";
import type { NotificationSource, Unlisten } from "./notification-listener.js";

/** The NOTIFY channel when the host names none. */
export const DEFAULT_WATCH_CHANNEL = "oversync_bundle_change_v1";

/** Idle time before a heartbeat comment when the host sets none (June's interval). */
export const DEFAULT_WATCH_HEARTBEAT_MS = 25_000;

/**
 * Open watch streams one process serves one user (across all the scopes they watch) when the host
 * sets no cap: room for many devices and tabs of one person, while one token cannot hold an
 * unbounded number of sockets and timers.
 */
export const DEFAULT_WATCH_MAX_STREAMS_PER_USER = 16;

/**
 * Source ids longer than this are left out of the NOTIFY payload (PostgreSQL refuses payloads of
 * 8000 bytes or more, and a failed NOTIFY would fail the commit); the event then carries only the
 * seq, which is all a client needs to pull.
 */
const MAX_NOTIFIED_SOURCE_ID_LENGTH = 1024;

/** Settings of `GET /sync/watch`; watch is enabled when the service is given them. */
export interface BundleChangeWatchOptions {
  /** This process's LISTEN source (one session per process; see notification-listener.ts). */
  readonly notifications: NotificationSource;
  /**
   * The NOTIFY channel, shared by every process serving the database: a lower-case identifier
   * ([a-z_][a-z0-9_]*, at most 63 bytes), so it means the same channel quoted or not. Default
   * `oversync_bundle_change_v1`.
   */
  readonly channel?: string;
  /** A stream idle this long gets a `: heartbeat` comment. Default 25000 ms. */
  readonly heartbeatIntervalMs?: number;
  /**
   * Most streams this process holds open for one user (`Actor.userId`, whatever scopes they
   * watch) at a time; one more is refused with 429 `bundle_change_watch_limit_exceeded` (and
   * `Retry-After`) until one of them closes. Counting by user, not by scope, lets every member of a
   * shared scope watch it. The count is per process, so behind a load balancer a user may hold this
   * many on each instance. Default 16.
   */
  readonly maxStreamsPerUser?: number;
  /**
   * May this actor watch? When it answers false, `/sync/watch` is 403
   * `bundle_change_watch_forbidden` and capabilities advertise `bundle_change_watch: false` to it.
   */
  readonly allow?: (actor: Actor) => boolean | Promise<boolean>;
}

/** Watch options with defaults applied. */
export interface ResolvedWatchOptions {
  readonly notifications: NotificationSource;
  readonly channel: string;
  readonly heartbeatIntervalMs: number;
  readonly maxStreamsPerUser: number;
  readonly allow: ((actor: Actor) => boolean | Promise<boolean>) | undefined;
}

const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Applies defaults and checks the watch options. Throws ServiceConfigError. */
export function resolveWatchOptions(options: BundleChangeWatchOptions): ResolvedWatchOptions {
  if (typeof options.notifications?.listen !== "function") {
    throw new ServiceConfigError(
      "watch.notifications must be a NotificationSource (an object with listen())",
    );
  }
  const channel = options.channel ?? DEFAULT_WATCH_CHANNEL;
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new ServiceConfigError(
      `watch.channel ${JSON.stringify(channel)} must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)`,
    );
  }
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_WATCH_HEARTBEAT_MS;
  if (!Number.isSafeInteger(heartbeatIntervalMs) || heartbeatIntervalMs <= 0) {
    throw new ServiceConfigError(
      `watch.heartbeatIntervalMs ${heartbeatIntervalMs} must be a positive whole number of milliseconds`,
    );
  }
  const maxStreamsPerUser = options.maxStreamsPerUser ?? DEFAULT_WATCH_MAX_STREAMS_PER_USER;
  if (!Number.isSafeInteger(maxStreamsPerUser) || maxStreamsPerUser <= 0) {
    throw new ServiceConfigError(
      `watch.maxStreamsPerUser ${maxStreamsPerUser} must be a positive whole number of streams`,
    );
  }
  return {
    notifications: options.notifications,
    channel,
    heartbeatIntervalMs,
    maxStreamsPerUser,
    allow: options.allow,
  };
}

/** The header of a committed bundle, as a NOTIFY announces it. */
export type CommittedBundleHeader = Pick<
  CommittedBundleIdentity,
  "bundle_seq" | "source_id" | "source_bundle_id"
>;

/**
 * NOTIFYs a committed bundle of `scopeId` on `channel`. Call it inside the bundle's transaction:
 * PostgreSQL delivers the payload only if that transaction commits. The payload names the scope by
 * its key under the layout's name (`user_pk`), which every process of every version decodes.
 */
export async function notifyBundleCommitted(
  client: SqlQueryable,
  channel: string,
  scopeId: string,
  bundle: CommittedBundleHeader,
): Promise<void> {
  const withSource = bundle.source_id.length <= MAX_NOTIFIED_SOURCE_ID_LENGTH;
  await client.query(
    `SELECT pg_notify($1, json_strip_nulls(json_build_object(
              'user_pk', user_pk, 'bundle_seq', $3::bigint,
              'source_id', $4::text, 'source_bundle_id', $5::bigint))::text)
       FROM sync.user_state WHERE user_id = $2`,
    [
      channel,
      scopeId,
      bundle.bundle_seq,
      withSource ? bundle.source_id : null,
      withSource ? bundle.source_bundle_id : null,
    ],
  );
}

/** A NOTIFY payload decoded: whose bundle (the scope's key), and the event to send. Undefined when malformed. */
export function decodeWatchPayload(
  payload: string,
): { scopePk: number; event: BundleChangeEvent } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { user_pk, bundle_seq, source_id, source_bundle_id } = value as Record<string, unknown>;
  if (!isPositiveInt(user_pk) || !isPositiveInt(bundle_seq)) return undefined;
  const event: { bundle_seq: number; source_id?: string; source_bundle_id?: number } = { bundle_seq };
  if (typeof source_id === "string" && isValidSourceId(source_id) && isPositiveInt(source_bundle_id)) {
    event.source_id = source_id;
    event.source_bundle_id = source_bundle_id;
  }
  return { scopePk: user_pk, event };
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/**
 * One open watch stream. It keeps at most one pending event, the newest above what it has sent;
 * `next()` hands it over or waits for one.
 */
export class WatchSubscription implements BundleWatch {
  readonly heartbeatIntervalMs: number;
  /** The highest seq sent (or known to the client); lower and equal events are dropped. */
  #sent = 0;
  #pending: BundleChangeEvent | undefined;
  #waiter: ((item: BundleChangeEvent | "idle" | "closed") => void) | undefined;
  #closed = false;
  readonly #onClose: (subscription: WatchSubscription) => void;

  constructor(heartbeatIntervalMs: number, onClose: (subscription: WatchSubscription) => void) {
    this.heartbeatIntervalMs = heartbeatIntervalMs;
    this.#onClose = onClose;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sets where the stream starts: the client has seen `afterBundleSeq` (taken as `latest` when it
   * claims more than exists), and when `latest` is above it one event is sent at once.
   */
  start(afterBundleSeq: number, latest: number): void {
    this.#sent = Math.min(afterBundleSeq, latest);
    if (this.#pending !== undefined && this.#pending.bundle_seq <= this.#sent) this.#pending = undefined;
    if (latest > afterBundleSeq) this.offer({ bundle_seq: latest });
  }

  /** Queues `event` unless the stream already sent or holds one at least as new. */
  offer(event: BundleChangeEvent): void {
    if (this.#closed) return;
    if (event.bundle_seq <= Math.max(this.#sent, this.#pending?.bundle_seq ?? 0)) return;
    const waiter = this.#waiter;
    if (waiter === undefined) {
      this.#pending = event;
      return;
    }
    this.#waiter = undefined;
    this.#sent = event.bundle_seq;
    waiter(event);
  }

  next(timeoutMs: number): Promise<BundleChangeEvent | "idle" | "closed"> {
    if (this.#closed) return Promise.resolve("closed");
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      this.#sent = pending.bundle_seq;
      return Promise.resolve(pending);
    }
    if (this.#waiter !== undefined) throw new Error("BundleWatch.next() called while a call is pending");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve("idle");
      }, timeoutMs);
      this.#waiter = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.("closed");
    this.#onClose(this);
  }
}

/**
 * The streams one process serves, by scope, and the LISTEN that wakes them; the stream cap counts
 * them by user.
 */
export class BundleWatchHub {
  readonly #pool: SqlQueryable;
  readonly #options: ResolvedWatchOptions;
  readonly #logger: SyncLogger;
  readonly #telemetry: TelemetryRecorder;
  readonly #byScopePk = new Map<number, Set<WatchSubscription>>();
  /** Open streams by user (the cap) and by scope id (`subscriberCount`). */
  readonly #perUser = new StreamCounts();
  readonly #perScope = new StreamCounts();
  #listening: Promise<Unlisten> | undefined;
  #catchUpTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    pool: SqlQueryable,
    options: ResolvedWatchOptions,
    logger: SyncLogger,
    telemetry: TelemetryRecorder,
  ) {
    this.#pool = pool;
    this.#options = options;
    this.#logger = logger;
    this.#telemetry = telemetry;
  }

  /**
   * Opens a stream on the actor's scope, which must be initialized (409 scope_uninitialized or
   * scope_initializing otherwise), within the actor's user's stream cap (429
   * bundle_change_watch_limit_exceeded beyond it). The stream takes its place in the count before
   * anything is awaited, so concurrent opens cannot overrun the cap, and a refused one costs no
   * database work. It is registered before the latest seq is read, so a bundle committed meanwhile
   * is either counted in that read or delivered by its notification.
   */
  async subscribe(actor: Pick<Actor, "scopeId" | "userId">, afterBundleSeq: number): Promise<BundleWatch> {
    if (this.#closed) throw new OversyncError("service_unavailable", "the sync service is shutting down");
    const { scopeId, userId } = actor;
    const open = this.#perUser.get(userId);
    if (open >= this.#options.maxStreamsPerUser) {
      throw new OversyncError(
        "bundle_change_watch_limit_exceeded",
        `this user already has ${open} open watch streams, the most this server allows; close one or retry later`,
      );
    }
    // The open-streams figure moves with the counts, so it is exactly what the counts hold.
    this.#perUser.add(userId);
    this.#perScope.add(scopeId);
    this.#telemetry.record(SYNC_METRICS.openWatchStreams, 1, {});
    const release = () => {
      this.#perUser.remove(userId);
      this.#perScope.remove(scopeId);
      this.#telemetry.record(SYNC_METRICS.openWatchStreams, -1, {});
    };
    let subscription: WatchSubscription | undefined;
    try {
      await this.#listen();
      const scope = await requireInitializedScope(this.#pool, scopeId);
      const scopePk = scope.scopePk;
      subscription = new WatchSubscription(this.#options.heartbeatIntervalMs, (closed) =>
        this.#remove(scopePk, closed, release),
      );
      let subscribers = this.#byScopePk.get(scopePk);
      if (subscribers === undefined) {
        subscribers = new Set();
        this.#byScopePk.set(scopePk, subscribers);
      }
      subscribers.add(subscription);
      const latest = await this.#latestSeqs([scopePk]);
      // close() may have run while this subscriber was being set up; it must not outlive it.
      if (this.#closed) throw new OversyncError("service_unavailable", "the sync service is shutting down");
      subscription.start(afterBundleSeq, latest.get(scopePk) ?? 0);
    } catch (error) {
      if (subscription === undefined) release();
      else subscription.close();
      throw error;
    }
    return subscription;
  }

  /** Open streams on `scopeId` in this process, whichever users hold them. */
  subscriberCount(scopeId: string): number {
    return this.#perScope.get(scopeId);
  }

  /** Ends every stream and stops listening. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#catchUpTimer);
    for (const subscribers of [...this.#byScopePk.values()]) {
      for (const subscription of [...subscribers]) subscription.close();
    }
    const listening = this.#listening;
    this.#listening = undefined;
    const unlisten = await listening?.catch(() => undefined);
    await unlisten?.().catch(() => undefined);
  }

  /** Starts the LISTEN once; a failed start is tried again by the next subscriber. */
  #listen(): Promise<Unlisten> {
    this.#listening ??= this.#options.notifications
      .listen(
        this.#options.channel,
        (payload) => this.#onPayload(payload),
        () => this.#catchUp(),
      )
      .catch((error: unknown) => {
        this.#listening = undefined;
        throw error;
      });
    return this.#listening;
  }

  #onPayload(payload: string): void {
    const decoded = decodeWatchPayload(payload);
    if (decoded === undefined) {
      this.#logger.warn?.("ignored a malformed bundle-change notification", {
        payload: payload.slice(0, 200),
      });
      return;
    }
    for (const subscription of this.#byScopePk.get(decoded.scopePk) ?? []) subscription.offer(decoded.event);
  }

  /** Offers every watched scope's latest seq (after notifications may have been lost); retried until it succeeds. */
  #catchUp(): void {
    clearTimeout(this.#catchUpTimer);
    const scopePks = [...this.#byScopePk.keys()];
    if (this.#closed || scopePks.length === 0) return;
    this.#latestSeqs(scopePks).then(
      (latest) => {
        for (const [scopePk, seq] of latest) {
          if (seq === 0) continue;
          for (const subscription of this.#byScopePk.get(scopePk) ?? [])
            subscription.offer({ bundle_seq: seq });
        }
      },
      (error: unknown) => {
        this.#logger.error("watch catch-up read failed; retrying", { error });
        this.#catchUpTimer = setTimeout(() => this.#catchUp(), 1000);
      },
    );
  }

  async #latestSeqs(scopePks: readonly number[]): Promise<Map<number, number>> {
    const { rows } = await this.#pool.query<{ user_pk: unknown; latest: unknown }>(
      "SELECT user_pk, next_bundle_seq - 1 AS latest FROM sync.user_state WHERE user_pk = ANY($1::bigint[])",
      [scopePks],
    );
    return new Map(rows.map((row) => [toSafeInt(row.user_pk), toSafeInt(row.latest)]));
  }

  /** Unregisters a closed stream and gives back its places in the counts (once). */
  #remove(scopePk: number, subscription: WatchSubscription, release: () => void): void {
    const subscribers = this.#byScopePk.get(scopePk);
    if (subscribers === undefined || !subscribers.delete(subscription)) return;
    if (subscribers.size === 0) this.#byScopePk.delete(scopePk);
    release();
  }
}

/** Open stream counts by id; an id whose count drops to 0 is forgotten. */
class StreamCounts {
  readonly #counts = new Map<string, number>();

  get(id: string): number {
    return this.#counts.get(id) ?? 0;
  }

  add(id: string): void {
    this.#counts.set(id, this.get(id) + 1);
  }

  remove(id: string): void {
    const count = this.get(id) - 1;
    if (count > 0) this.#counts.set(id, count);
    else this.#counts.delete(id);
  }
}
