/**
 * Committing arbitrary business writes as one bundle: the shared core of push commit and
 * server-originated writes (server-writes.ts). The caller owns the transaction, holds the scope's
 * lock and has already checked the scope and the source sequence.
 */
import { type CommittedBundleIdentity, isValidSourceId } from "@oversync/protocol";
import type { SqlQueryable } from "../db/sql-pool.js";
import type { TableDirectory } from "../schema/table-catalog.js";
import { recordSourceCommit } from "../scope/source-state.js";
import { type BundleIdentity, openBundleContext, sealBundle } from "./bundle-seal.js";

/**
 * Opens the bundle context, runs `work` (the business writes), then seals what it captured as the
 * scope's next bundle and advances the source. `bundle` is undefined when nothing was captured; the
 * source is then left as it was. A row above `maxSnapshotRowBytes` in a snapshot throws
 * SnapshotRowTooLargeError (snapshot-row-size.ts).
 */
export async function runSyncBundle<T>(
  client: SqlQueryable,
  directory: TableDirectory,
  target: BundleIdentity,
  maxSnapshotRowBytes: number,
  work: () => Promise<T>,
): Promise<{ value: T; bundle: CommittedBundleIdentity | undefined }> {
  // Clients (KMP) refuse a pulled bundle whose source_id is not visible ASCII.
  if (!isValidSourceId(target.sourceId)) {
    throw new TypeError(
      `bundle source_id ${JSON.stringify(target.sourceId)} must be visible ASCII (0x21-0x7E)`,
    );
  }
  await openBundleContext(client, target.scopeId);
  const value = await work();
  const bundle = await sealBundle(client, directory, target, maxSnapshotRowBytes);
  if (bundle !== undefined) {
    await recordSourceCommit(client, target.scopePk, target.sourceId, target.sourceBundleId);
  }
  return { value, bundle };
}
