/**
 * The connect lifecycle (protocol-latest §1.2): how a source attaches to its scope.
 *
 * | scope | condition | outcome |
 * |---|---|---|
 * | initialized | — | remote_authoritative |
 * | uninitialized | local rows pending | initialize_local: a lease starts for this source |
 * | uninitialized | none pending | initialize_empty: the scope becomes initialized |
 * | initializing, this source | rows pending | initialize_local, same id, lease refreshed |
 * | initializing, this source | none pending | initialize_empty |
 * | initializing, other source | — | retry_later until the lease ends |
 *
 * A lapsed lease is expired lazily when the scope's row is loaded.
 */
import type { ConnectRequest, ConnectResponse } from "@oversync/protocol";
import type { SqlQueryable } from "../db/sql-pool.js";
import type { Actor } from "../service/sync-service.js";
import {
  loadScopeForWrite,
  lockScope,
  refreshLease,
  setInitialized,
  setInitializing,
} from "./scope-state.js";

/** Resolves a connect call inside the caller's transaction. */
export async function resolveConnect(
  client: SqlQueryable,
  actor: Actor,
  request: ConnectRequest,
  leaseSeconds: number,
): Promise<ConnectResponse> {
  await lockScope(client, actor.scopeId);
  const scope = await loadScopeForWrite(client, actor.scopeId);
  switch (scope.scopeState) {
    case "initialized":
      return { resolution: "remote_authoritative" };
    case "uninitialized": {
      if (!request.has_local_pending_rows) {
        await setInitialized(client, scope.scopePk, actor.sourceId);
        return { resolution: "initialize_empty" };
      }
      const leased = await setInitializing(
        client,
        scope.scopePk,
        actor.sourceId,
        crypto.randomUUID(),
        leaseSeconds,
      );
      return {
        resolution: "initialize_local",
        initialization_id: leased.initializationId!,
        lease_expires_at: leased.leaseExpiresAt!,
      };
    }
    case "initializing": {
      if (scope.initializerSourceId !== actor.sourceId) {
        return {
          resolution: "retry_later",
          retry_after_seconds: Math.max(1, scope.leaseSecondsLeft ?? 1),
          lease_expires_at: scope.leaseExpiresAt!,
        };
      }
      if (!request.has_local_pending_rows) {
        await setInitialized(client, scope.scopePk, actor.sourceId);
        return { resolution: "initialize_empty" };
      }
      const refreshed = await refreshLease(client, scope.scopePk, leaseSeconds);
      return {
        resolution: "initialize_local",
        initialization_id: refreshed.initializationId!,
        lease_expires_at: refreshed.leaseExpiresAt!,
      };
    }
  }
}
