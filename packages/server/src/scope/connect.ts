/**
 * The connect lifecycle (protocol-latest §1.2): how a source attaches to its user's scope.
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
 * A lapsed lease is expired lazily when the user's row is loaded.
 */
import type { ConnectRequest, ConnectResponse } from "@oversync/protocol";
import type { SqlQueryable } from "../db/sql-pool.js";
import type { Actor } from "../service/sync-service.js";
import { loadUserForWrite, lockUser, refreshLease, setInitialized, setInitializing } from "./user-scope.js";

/** Resolves a connect call inside the caller's transaction. */
export async function resolveConnect(
  client: SqlQueryable,
  actor: Actor,
  request: ConnectRequest,
  leaseSeconds: number,
): Promise<ConnectResponse> {
  await lockUser(client, actor.userId);
  const user = await loadUserForWrite(client, actor.userId);
  switch (user.scopeState) {
    case "initialized":
      return { resolution: "remote_authoritative" };
    case "uninitialized": {
      if (!request.has_local_pending_rows) {
        await setInitialized(client, user.userPk, actor.sourceId);
        return { resolution: "initialize_empty" };
      }
      const leased = await setInitializing(
        client,
        user.userPk,
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
      if (user.initializerSourceId !== actor.sourceId) {
        return {
          resolution: "retry_later",
          retry_after_seconds: Math.max(1, user.leaseSecondsLeft ?? 1),
          lease_expires_at: user.leaseExpiresAt!,
        };
      }
      if (!request.has_local_pending_rows) {
        await setInitialized(client, user.userPk, actor.sourceId);
        return { resolution: "initialize_empty" };
      }
      const refreshed = await refreshLease(client, user.userPk, leaseSeconds);
      return {
        resolution: "initialize_local",
        initialization_id: refreshed.initializationId!,
        lease_expires_at: refreshed.leaseExpiresAt!,
      };
    }
  }
}
