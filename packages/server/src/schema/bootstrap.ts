/**
 * Bootstrap: validate the registered tables, install, verify or upgrade the `sync` layout, record the table
 * catalog and (re)install the capture triggers — all in one transaction, serialized across
 * processes by an advisory lock, so a failure leaves the database as it was.
 */
import { installCaptureTriggers } from "../bundle/capture-triggers.js";
import { inTransaction } from "../db/session.js";
import type { SqlQueryable } from "../db/sql-pool.js";
import { type TableRegistration, validateRegisteredTables } from "./schema-validation.js";
import { BOOTSTRAP_LOCK_KEY, type LayoutOutcome, installSyncLayout } from "./sync-layout.js";
import { type TableDirectory, syncTableCatalog } from "./table-catalog.js";

/** What bootstrap did. */
export interface BootstrapResult {
  readonly layout: LayoutOutcome;
  readonly directory: TableDirectory;
}

/**
 * Runs bootstrap on `client`. Throws UnsupportedSchemaError when a registered table breaks a rule
 * and SyncLayoutError when the `sync` schema belongs to another layout.
 */
export async function bootstrapSyncSchema(
  client: SqlQueryable,
  registrations: readonly TableRegistration[],
): Promise<BootstrapResult> {
  return inTransaction(client, { attempts: 3 }, async () => {
    await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [BOOTSTRAP_LOCK_KEY]);
    const validated = await validateRegisteredTables(client, registrations);
    const layout = await installSyncLayout(client);
    const directory = await syncTableCatalog(client, validated);
    await installCaptureTriggers(client, directory.tables);
    return { layout, directory };
  });
}
