/**
 * Running arbitrary business writes as one bundle: the shared core of push commit and (issue 4)
 * server-originated writes. The caller owns the transaction, holds the user's lock and has already
 * checked the scope and the source sequence.
 */
import { isValidSourceId } from "@oversync/protocol";
import type { SqlQueryable } from "../db/sql-pool.js";
import { type CommittedBundle, finalizeBundle, openBundleContext } from "./bundle-capture.js";
import { recordSourceCommit } from "./source-state.js";
import type { TableDirectory } from "./table-catalog.js";

/** The tuple a bundle commits, for the user whose row was loaded under the lock. */
export interface SyncBundleTarget {
  readonly userPk: number;
  readonly userId: string;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly canonicalRequestHash: string;
}

/**
 * Opens the bundle context, runs `work` (the business writes), then seals what it captured as the
 * user's next bundle and advances the source. `bundle` is undefined when nothing was captured; the
 * source is then left as it was. A row above `maxSnapshotRowBytes` in a snapshot throws
 * SnapshotRowTooLargeError (snapshot-row-size.ts).
 */
export async function runSyncBundle<T>(
  client: SqlQueryable,
  directory: TableDirectory,
  target: SyncBundleTarget,
  maxSnapshotRowBytes: number,
  work: () => Promise<T>,
): Promise<{ value: T; bundle: CommittedBundle | undefined }> {
  // Clients (KMP) refuse a pulled bundle whose source_id is not visible ASCII.
  if (!isValidSourceId(target.sourceId)) {
    throw new TypeError(
      `bundle source_id ${JSON.stringify(target.sourceId)} must be visible ASCII (0x21-0x7E)`,
    );
  }
  await openBundleContext(client, target.userId);
  const value = await work();
  const bundle = await finalizeBundle(client, directory, target, maxSnapshotRowBytes);
  if (bundle !== undefined) {
    await recordSourceCommit(client, target.userPk, target.sourceId, target.sourceBundleId);
  }
  return { value, bundle };
}
