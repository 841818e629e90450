/** A transport wired to a fresh fake server (and its stateful backend) on loopback. */
import {
  type SyncTransport,
  type SyncTransportOptions,
  createSyncTransport,
} from "../../packages/client/src/transport/sync-transport.js";
import { FakeSyncBackend, type FakeSyncBackendOptions } from "../client-support/fake-sync-backend.js";
import { type FakeSyncServer, startFakeSyncServer } from "../client-support/fake-sync-server.js";

/** The bearer token every harness transport sends. */
export const TEST_TOKEN = "token-for-tests";

/** A server, its backend and a transport pointed at it. */
export interface TransportHarness {
  readonly server: FakeSyncServer;
  readonly backend: FakeSyncBackend;
  readonly transport: SyncTransport;
  /** Another transport to the same server with options changed. */
  transportWith(overrides: Partial<SyncTransportOptions>): SyncTransport;
  close(): Promise<void>;
}

/** Starts the fake server at `basePath` with a backend and a transport from source `sourceId`. */
export async function startTransportHarness(options?: {
  basePath?: string;
  sourceId?: string;
  backend?: FakeSyncBackendOptions;
  transport?: Partial<SyncTransportOptions>;
}): Promise<TransportHarness> {
  const server = await startFakeSyncServer({ basePath: options?.basePath ?? "/api/v1/" });
  const backend = new FakeSyncBackend(server, options?.backend);
  const base: SyncTransportOptions = {
    baseUrl: server.baseUrl,
    tokenProvider: async () => TEST_TOKEN,
    sourceId: () => options?.sourceId ?? "source-a",
    ...options?.transport,
  };
  return {
    server,
    backend,
    transport: createSyncTransport(base),
    transportWith: (overrides) => createSyncTransport({ ...base, ...overrides }),
    close: () => server.close(),
  };
}

/** A loopback URL nothing listens on (a server was bound there and closed). */
export async function closedPortUrl(): Promise<string> {
  const server = await startFakeSyncServer();
  const url = server.baseUrl;
  await server.close();
  return url;
}
