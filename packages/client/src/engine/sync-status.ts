/**
 * The client's observable status: one plain-JSON snapshot (numbers, ISO times, no bigint) that
 * changes as requests answer or fail, operations run and end, and local writes queue changes.
 * Listeners hear each change once (an update that changes nothing is not reported). Failures of
 * the automatic loops also reach `onError` listeners; a failure only the app can fix (see
 * `needsApp`) pauses the automatic loops until the app acts.
 */
import { HttpStatusError, OversyncError, ProtocolViolationError } from "@oversync/protocol";
import { OversyncClientError, type SyncClientErrorCode, isSyncClientError } from "../errors.js";
import { RetryExhaustedError, TransportError } from "../transport/index.js";

/** Whether the server answers: `connecting` before the first answer (or after going offline, while retrying). */
export type ConnectionState = "online" | "connecting" | "offline";

/**
 * `off` before `start()` and after `stop()`; `running`; `paused` after a failure only the app can
 * fix (`lastError` says which) until a sync call succeeds or `start()` is called again.
 */
export type AutomaticSyncState = "off" | "running" | "paused";

/** What failed: an automatic upload, an automatic download, or one of the app's own calls. */
export type SyncFailureSource = "automatic_upload" | "automatic_download" | "call";

/** A failure as the status and `onError` listeners describe it (plain JSON). */
export interface SyncErrorInfo {
  /** The error's code (`SyncClientErrorCode`), or `unexpected_error` for anything else. */
  readonly code: SyncClientErrorCode | "unexpected_error";
  readonly message: string;
  /** When it happened (ISO 8601). */
  readonly at: string;
  readonly source: SyncFailureSource;
  /**
   * True when only the app can fix it (401/403, rebuild or source recovery needed, an incompatible
   * server or a resolver's invalid answer): automatic sync pauses instead of retrying.
   */
  readonly needsApp: boolean;
}

/** The client's status; `JSON.stringify` works on it. */
export interface SyncClientStatus {
  readonly connection: ConnectionState;
  readonly automaticSync: AutomaticSyncState;
  /** A push is running (automatic or called). */
  readonly uploading: boolean;
  /** A pull or snapshot restore is running (automatic or called). */
  readonly downloading: boolean;
  /** Local changes not yet on the server (dirty plus frozen rows), as of the last count. */
  readonly pendingChangeCount: number;
  /** When a push, pull or sync last completed (ISO 8601), null before the first. */
  readonly lastSyncedAt: string | null;
  /** The latest failure; null once a later sync operation succeeds. */
  readonly lastError: SyncErrorInfo | null;
  /** The checkpoint can no longer be trusted: `rebuild()` (also set during source recovery). */
  readonly rebuildRequired: boolean;
  /** The server refused this source: `rebuild()` continues on a new one. */
  readonly sourceRecoveryRequired: boolean;
}

/** Receives each new status; it must not throw (an exception is dropped). */
export type SyncStatusListener = (status: SyncClientStatus) => void;

/** Receives the failures of automatic sync; it must not throw (an exception is dropped). */
export type SyncErrorListener = (error: unknown, info: SyncErrorInfo) => void;

const INITIAL_STATUS: SyncClientStatus = {
  connection: "connecting",
  automaticSync: "off",
  uploading: false,
  downloading: false,
  pendingChangeCount: 0,
  lastSyncedAt: null,
  lastError: null,
  rebuildRequired: false,
  sourceRecoveryRequired: false,
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Holds the status and tells listeners. */
export class SyncStatusTracker {
  private current: SyncClientStatus = INITIAL_STATUS;
  private readonly listeners = new Set<SyncStatusListener>();
  private readonly errorListeners = new Set<SyncErrorListener>();
  private readonly onlineListeners = new Set<() => void>();

  get status(): SyncClientStatus {
    return this.current;
  }

  subscribe(listener: SyncStatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribeErrors(listener: SyncErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Called whenever the server answers again after a failure (connectivity returned). */
  subscribeOnline(listener: () => void): () => void {
    this.onlineListeners.add(listener);
    return () => this.onlineListeners.delete(listener);
  }

  update(patch: Partial<Mutable<SyncClientStatus>>): void {
    const next = { ...this.current, ...patch };
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    const cameOnline = next.connection === "online" && this.current.connection !== "online";
    this.current = next;
    notify(this.listeners, (listener) => listener(next));
    if (cameOnline) notify(this.onlineListeners, (listener) => listener());
  }

  /** A request is about to go out. */
  requestStarted(): void {
    if (this.current.connection === "offline") this.update({ connection: "connecting" });
  }

  /** The server answered a request (any status). */
  responseArrived(): void {
    this.update({ connection: "online" });
  }

  /** A request got no answer (the network or the server is unreachable). */
  requestFailed(): void {
    this.update({ connection: "offline" });
  }

  /** A sync operation completed. */
  succeeded(): void {
    this.update({ lastSyncedAt: new Date().toISOString(), lastError: null });
  }

  /** Records a failure; automatic ones also reach the error listeners. Returns its description. */
  failed(error: unknown, source: SyncFailureSource): SyncErrorInfo {
    const info: SyncErrorInfo = {
      code: isSyncClientError(error) ? error.code : "unexpected_error",
      message: error instanceof Error ? error.message : String(error),
      at: new Date().toISOString(),
      source,
      needsApp: needsApp(error),
    };
    this.update({
      lastError: info,
      ...(isUnreachable(error) ? { connection: "offline" as const } : {}),
      ...(info.needsApp && source !== "call" && this.current.automaticSync === "running"
        ? { automaticSync: "paused" as const }
        : {}),
    });
    if (source !== "call") notify(this.errorListeners, (listener) => listener(error, info));
    return info;
  }
}

/**
 * Failures that retrying cannot fix: the server refuses the credentials (401) or the user (403),
 * the local state needs `rebuild()`, the server does not fit the configuration, or the app's
 * resolver gave an invalid answer (it would give it again).
 */
export function needsApp(error: unknown): boolean {
  const cause = error instanceof RetryExhaustedError ? error.cause : error;
  if (
    (cause instanceof OversyncError || cause instanceof HttpStatusError) &&
    (cause.status === 401 || cause.status === 403)
  ) {
    return true;
  }
  if (cause instanceof ProtocolViolationError) return cause.code === "source_sequence_mismatch";
  return cause instanceof OversyncClientError && APP_CODES.has(cause.code);
}

const APP_CODES: ReadonlySet<string> = new Set([
  "rebuild_required",
  "source_recovery_required",
  "source_replacement_diverged",
  "source_replacement_refused",
  "table_contract_mismatch",
  "attach_lifecycle_unsupported",
  "invalid_conflict_resolution",
  "store_invalid",
  "config_invalid",
]);

/** A request that got no answer in time. */
function isUnreachable(error: unknown): boolean {
  const cause = error instanceof RetryExhaustedError ? error.cause : error;
  return cause instanceof TransportError && (cause.code === "network_error" || cause.code === "timeout");
}

function notify<L>(listeners: ReadonlySet<L>, call: (listener: L) => void): void {
  for (const listener of [...listeners]) {
    try {
      call(listener);
    } catch {
      // A listener's failure is its own bug; sync and the other listeners go on.
    }
  }
}
