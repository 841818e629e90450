/**
 * `useSyncStatus()`: the client's status (`client.status`, plain JSON) as component state,
 * re-rendering on each change `client.onStatus` reports: connection, uploading, downloading,
 * pending change count, last synced time, last error, rebuild or recovery needed.
 */
import type { SyncClientStatus } from "@oversync/client";
import { useCallback, useSyncExternalStore } from "react";
import { useOversyncClient } from "./provider.js";

/** The status of the provider's client, kept current. */
export function useSyncStatus(): SyncClientStatus {
  const client = useOversyncClient();
  const subscribe = useCallback((changed: () => void) => client.onStatus(() => changed()), [client]);
  const snapshot = useCallback(() => client.status, [client]);
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
