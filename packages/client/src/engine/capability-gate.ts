/**
 * The capability gate run before attach and before every push, pull, sync, rebuild and
 * syncThenDetach: the server must speak protocol v1 (the transport refuses anything else) and
 * register exactly the configured tables with the same sync keys.
 *
 * Attach, rebuild, syncThenDetach and snapshot negotiation always fetch capabilities. The everyday
 * gate of push, pull and sync reuses a check up to
 * CAPABILITIES_MAX_AGE_MILLIS old, which saves a round trip on every push and pull; the client drops
 * the cached check whenever an operation fails, so a server that changed (new tables, new limits)
 * is seen by the next operation after the first error it causes, or after the age runs out.
 */
import {
  type CapabilitiesResponse,
  CLIENT_SNAPSHOT_DEFAULTS,
  type SnapshotNegotiation,
  compareTableContract,
  negotiateSnapshotLimits,
  supportsConnectLifecycle,
} from "@oversync/protocol";
import { OversyncClientError } from "../errors.js";
import type { SyncSchema } from "../store/table-metadata.js";
import { type EngineContext, openStore } from "./engine-context.js";
import { TableContractMismatchError } from "./sync-errors.js";

/** How long the everyday gate trusts a capability check. */
export const CAPABILITIES_MAX_AGE_MILLIS = 60_000;

/** The gate of push, pull and sync: a recent enough check, or a fresh one. */
export async function checkedCapabilities(ctx: EngineContext): Promise<CapabilitiesResponse> {
  const cached = ctx.capabilities;
  if (cached !== undefined && Date.now() - cached.checkedAt < CAPABILITIES_MAX_AGE_MILLIS) {
    return cached.value;
  }
  return fetchCheckedCapabilities(ctx);
}

/** Fetches capabilities and checks the registered-table contract. */
export async function fetchCheckedCapabilities(ctx: EngineContext): Promise<CapabilitiesResponse> {
  const schema = openStore(ctx, "capability check").schema;
  ctx.capabilities = undefined;
  const capabilities = await ctx.transport.capabilities();
  const result = compareTableContract(localTableSpecs(schema), capabilities.registered_table_specs);
  if (result.kind === "invalid") {
    throw new TableContractMismatchError(`server table contract is invalid: ${result.reason}`);
  }
  if (result.kind === "mismatch") {
    const parts = [
      result.serverOnlyTables.length > 0 ? `server-only tables ${result.serverOnlyTables.join(", ")}` : "",
      result.clientOnlyTables.length > 0 ? `client-only tables ${result.clientOnlyTables.join(", ")}` : "",
      ...result.syncKeyMismatches.map(
        (mismatch) =>
          `${mismatch.qualifiedTable} key ${mismatch.clientSyncKeyColumns.join(",")} locally but ${mismatch.serverSyncKeyColumns.join(",")} on the server`,
      ),
    ].filter((part) => part !== "");
    throw new TableContractMismatchError(
      `the server's registered tables differ from the configured ones (${parts.join("; ")}); configure the same tables and keys on both sides`,
      result.serverOnlyTables,
      result.clientOnlyTables,
      result.syncKeyMismatches.map((mismatch) => ({
        table: mismatch.qualifiedTable,
        clientSyncKeyColumns: mismatch.clientSyncKeyColumns,
        serverSyncKeyColumns: mismatch.serverSyncKeyColumns,
      })),
    );
  }
  ctx.capabilities = { value: capabilities, checkedAt: Date.now() };
  return capabilities;
}

/** The attach gate: the checked capabilities must advertise `connect_lifecycle`. */
export async function fetchAttachCapabilities(ctx: EngineContext): Promise<CapabilitiesResponse> {
  const capabilities = await fetchCheckedCapabilities(ctx);
  if (!supportsConnectLifecycle(capabilities)) {
    throw new OversyncClientError(
      "attach_lifecycle_unsupported",
      "the server does not advertise the connect_lifecycle feature; attach needs a server with the connect lifecycle",
    );
  }
  return capabilities;
}

/**
 * Fetches capabilities again and settles the snapshot chunk sizes: the client's budgets capped by
 * the server's maxima (protocol-latest §4).
 */
export async function negotiateSnapshot(ctx: EngineContext): Promise<SnapshotNegotiation> {
  const capabilities = await fetchCheckedCapabilities(ctx);
  return negotiateSnapshotLimits(capabilities.bundle_limits, {
    chunkRows: ctx.options.snapshotChunkRows,
    chunkBytes: ctx.options.snapshotChunkBytes,
    applyBatchBytes: CLIENT_SNAPSHOT_DEFAULTS.applyBatchBytes,
  });
}

function localTableSpecs(schema: SyncSchema) {
  return schema.tables.map((table) => ({
    schema: schema.schema,
    table: table.name,
    sync_key_columns: [table.keyColumn.payloadName],
  }));
}
