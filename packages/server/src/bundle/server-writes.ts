/**
 * Server-originated writes (server digest §11): business-table writes made by the host's own code,
 * committed as bundles exactly as pushes are, so every client pulls them (and watchers are woken).
 *
 * - `withinSyncBundle` is the low-level form: the caller names the source tuple, which must be that
 *   source's next expected one, and the scope must already be initialized. A callback that changes
 *   nothing commits no bundle.
 * - `ScopeManager.execWrite` picks the writer's next tuple itself, initializes a scope nobody has
 *   initialized yet, and refuses a callback that changes nothing.
 *
 * Both hold the scope's lock for the whole transaction, defer deferrable constraints until the
 * bundle is sealed, never retry (the callback may have effects outside the database), and roll
 * everything back when the callback or the bundle fails. Writer ids are source ids: they share the
 * namespace of client devices, so pick ids no device uses (e.g. `server:billing`).
 */
import {
  type CommittedBundleIdentity,
  OversyncError,
  sourceIdProblem,
  scopeIdProblem,
} from "@oversync/protocol";
import { sessionOf } from "../db/named-statements.js";
import type { SqlQueryable, SqlResult } from "../db/sql-pool.js";
import type { TableDirectory } from "../schema/table-catalog.js";
import { checkCreateSequence, loadSourceState, sourceRetiredError } from "../scope/source-state.js";
import { type ScopeRecord, loadScopeForWrite, lockScope, setInitialized } from "../scope/scope-state.js";
import { SnapshotRowTooLargeError } from "../snapshot/snapshot-row-size.js";
import { runSyncBundle } from "./bundle-commit.js";

/** The handle a write callback gets: statements on the bundle's transaction, valid until the callback returns. */
export interface BundleTransaction {
  /**
   * Runs one statement in the bundle's transaction. Writes to registered tables become rows of the
   * bundle (their `_sync_scope_id` is filled in when left out). Do not COMMIT or ROLLBACK here:
   * throw to roll back.
   */
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<SqlResult<Row>>;
}

/**
 * A bundle a server-originated write committed (`bundle_seq`, `source_id`, `source_bundle_id`,
 * `row_count`, `bundle_hash`), with the wire names pull uses.
 */
export type ServerWriteBundle = Omit<CommittedBundleIdentity, "canonical_request_hash">;

/** The source tuple a `withinSyncBundle` call commits. */
export interface SyncBundleSource {
  /** Visible ASCII (0x21–0x7E), like every source id. */
  readonly sourceId: string;
  /** Exactly the source's next expected id: 1 for a new source, then one more than its last bundle. */
  readonly sourceBundleId: number;
}

/** What `withinSyncBundle` returns: the callback's value and the bundle, if anything was captured. */
export interface SyncBundleResult<T> {
  readonly value: T;
  readonly bundle: ServerWriteBundle | undefined;
}

/** Options of `execWrite`. */
export interface ScopeWriteOptions {
  /** The source id the bundles are committed under (trimmed; visible ASCII). */
  readonly writerId: string;
}

/** What `execWrite` returns. */
export interface ScopeWriteResult<T> {
  /** True when this write initialized a scope that was uninitialized. */
  readonly autoInitialized: boolean;
  readonly bundle: ServerWriteBundle;
  readonly value: T;
}

/** Server-originated writes addressed by scope id. */
export interface ScopeManager {
  /**
   * Runs `write` in one transaction and commits what it changed as one bundle from `writerId`'s
   * next source bundle id. An uninitialized scope is initialized (by `writerId`) first. Throws
   * ServerWriteError `invalid_server_write` for bad ids, `no_captured_changes` when the callback
   * changed no registered row and `snapshot_row_too_large` when a row it wrote could not be served
   * in a snapshot (everything is rolled back); OversyncError `scope_initializing` while
   * a device is seeding the scope, `source_retired` for a retired writer id, `service_unavailable`
   * unless the service is running; and whatever the callback throws.
   */
  execWrite<T>(
    scopeId: string,
    options: ScopeWriteOptions,
    write: (tx: BundleTransaction) => Promise<T>,
  ): Promise<ScopeWriteResult<T>>;
}

/** Why a server-originated write was refused. */
export type ServerWriteErrorCode =
  | "invalid_server_write"
  | "no_captured_changes"
  | "transaction_closed"
  /** A written row would take more than `max_bytes_per_snapshot_row` in a snapshot. */
  | "snapshot_row_too_large";

/** A server-originated write the runtime refused (not a wire error). */
export class ServerWriteError extends Error {
  override readonly name = "ServerWriteError";
  readonly code: ServerWriteErrorCode;

  constructor(code: ServerWriteErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Runs inside each committed bundle's transaction (the watch NOTIFY and the like). */
export type BundleCommittedHook = (
  client: SqlQueryable,
  scopeId: string,
  bundle: ServerWriteBundle,
) => Promise<void>;

/** `withinSyncBundle` inside the caller's transaction on `client`. */
export async function writeWithinSyncBundle<T>(
  client: SqlQueryable,
  directory: TableDirectory,
  committed: BundleCommittedHook,
  maxSnapshotRowBytes: number,
  scopeId: string,
  source: SyncBundleSource,
  write: (tx: BundleTransaction) => Promise<T>,
): Promise<SyncBundleResult<T>> {
  checkScopeId(scopeId, "the scope id of a sync bundle");
  checkWriterId(source.sourceId, "sourceId");
  if (!Number.isSafeInteger(source.sourceBundleId) || source.sourceBundleId < 1) {
    throw new ServerWriteError(
      "invalid_server_write",
      `sourceBundleId ${source.sourceBundleId} must be a positive integer: the source's next expected bundle id`,
    );
  }
  await lockScope(client, scopeId);
  const scope = await loadScopeForWrite(client, scopeId);
  if (scope.scopeState === "uninitialized") {
    throw new OversyncError(
      "scope_uninitialized",
      `scope ${scopeId} is not initialized; a device must connect first, or write through execWrite`,
    );
  }
  if (scope.scopeState === "initializing") throw initializingError(scopeId);
  checkCreateSequence(
    source.sourceId,
    source.sourceBundleId,
    await loadSourceState(client, scope.scopePk, source.sourceId),
  );
  const { value, bundle } = await runBundle(client, directory, maxSnapshotRowBytes, scope, source, write);
  if (bundle !== undefined) await committed(client, scopeId, bundle);
  return { value, bundle };
}

/** `execWrite` inside the caller's transaction on `client`. */
export async function execScopeWrite<T>(
  client: SqlQueryable,
  directory: TableDirectory,
  committed: BundleCommittedHook,
  maxSnapshotRowBytes: number,
  requestedScopeId: string,
  options: ScopeWriteOptions,
  write: (tx: BundleTransaction) => Promise<T>,
): Promise<ScopeWriteResult<T>> {
  const scopeId = checkScopeId(
    typeof requestedScopeId === "string" ? requestedScopeId.trim() : requestedScopeId,
    "scopeId",
  );
  const writerId = checkWriterId(
    typeof options?.writerId === "string" ? options.writerId.trim() : "",
    "writerId",
  );
  await lockScope(client, scopeId);
  let scope = await loadScopeForWrite(client, scopeId);
  if (scope.scopeState === "initializing") throw initializingError(scopeId);
  const autoInitialized = scope.scopeState === "uninitialized";
  if (autoInitialized) scope = await setInitialized(client, scope.scopePk, writerId);
  const source = await loadSourceState(client, scope.scopePk, writerId);
  if (source.state === "retired") throw sourceRetiredError(writerId, source);
  const tuple = { sourceId: writerId, sourceBundleId: source.maxCommittedSourceBundleId + 1 };
  const { value, bundle } = await runBundle(client, directory, maxSnapshotRowBytes, scope, tuple, write);
  if (bundle === undefined) {
    throw new ServerWriteError(
      "no_captured_changes",
      `the write to scope ${scopeId} changed no registered row, so no bundle was committed and the transaction was rolled back`,
    );
  }
  await committed(client, scopeId, bundle);
  return { autoInitialized, bundle, value };
}

/** The scope id rules (protocol identity.ts), which are the user id rules. */
function checkScopeId(id: unknown, name: string): string {
  const problem = scopeIdProblem(id);
  if (problem !== undefined) throw new ServerWriteError("invalid_server_write", `${name} ${problem}`);
  return id as string;
}

function checkWriterId(id: string, name: string): string {
  const problem = sourceIdProblem(id);
  if (problem !== undefined) {
    throw new ServerWriteError("invalid_server_write", `${name} ${problem}; it is a source id`);
  }
  return id;
}

function initializingError(scopeId: string): OversyncError {
  return new OversyncError(
    "scope_initializing",
    `a device is initializing scope ${scopeId}; write again once its initialization has finished or its lease has lapsed`,
  );
}

/** Runs the callback with a handle that stops working when it returns, and seals the bundle. */
async function runBundle<T>(
  client: SqlQueryable,
  directory: TableDirectory,
  maxSnapshotRowBytes: number,
  scope: ScopeRecord,
  source: SyncBundleSource,
  write: (tx: BundleTransaction) => Promise<T>,
): Promise<{ value: T; bundle: ServerWriteBundle | undefined }> {
  let open = true;
  const tx: BundleTransaction = {
    query: <Row>(text: string, values?: unknown[]) => {
      if (!open) {
        return Promise.reject(
          new ServerWriteError(
            "transaction_closed",
            "this bundle transaction has ended; run statements only while the write callback runs",
          ),
        );
      }
      // The host's texts may be built per call, so they are not kept as named statements.
      return sessionOf(client).query<Row>(text, values);
    },
  };
  const target = {
    scopePk: scope.scopePk,
    scopeId: scope.scopeId,
    sourceId: source.sourceId,
    sourceBundleId: source.sourceBundleId,
    canonicalRequestHash: "",
  };
  const { value, bundle } = await runSyncBundle(client, directory, target, maxSnapshotRowBytes, async () => {
    try {
      return await write(tx);
    } finally {
      open = false;
    }
  }).catch((error: unknown) => {
    throw error instanceof SnapshotRowTooLargeError
      ? new ServerWriteError("snapshot_row_too_large", error.message)
      : error;
  });
  return { value, bundle: bundle === undefined ? undefined : toServerWriteBundle(bundle) };
}

/** The committed identity without the request hash, which only a push has. */
function toServerWriteBundle(bundle: CommittedBundleIdentity): ServerWriteBundle {
  return {
    bundle_seq: bundle.bundle_seq,
    source_id: bundle.source_id,
    source_bundle_id: bundle.source_bundle_id,
    row_count: bundle.row_count,
    bundle_hash: bundle.bundle_hash,
  };
}
