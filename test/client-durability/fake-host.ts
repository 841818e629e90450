/**
 * The fake counterpart of rebuild-crash.test.ts: the stateful fake backend over loopback HTTP. It
 * serves snapshots of the live rows its clients pushed, exactly as they sent them, so values still
 * make the full client encode → wire → decode trip.
 */
import type { FakeHandler } from "../client-support/fake-sync-server.js";
import { type FakeSyncServer, startFakeSyncServer } from "../client-support/fake-sync-server.js";
import { type BackendRoute, FakeSyncBackend } from "../client-support/fake-sync-backend.js";
import { statusReply } from "../client-support/scripted-replies.js";
import { SCHEMA } from "./schema.js";

/** A running fake backend with the `durable` tables. */
export interface FakeHost {
  readonly server: FakeSyncServer;
  readonly backend: FakeSyncBackend;
  readonly baseUrl: string;
  close(): Promise<void>;
}

export async function startFakeHost(): Promise<FakeHost> {
  const server = await startFakeSyncServer();
  const backend = new FakeSyncBackend(server, {
    tables: ["files", "samples"].map((table) => ({ schema: SCHEMA, table, keyColumn: "id" })),
  });
  return { server, backend, baseUrl: server.baseUrl, close: () => server.close() };
}

/**
 * Springs `spring` when the `nth` request to `route` arrives, before handling it (the client died
 * having sent it); the request is then answered 503 to a dead connection. Returns how many times
 * it sprang so far.
 */
export function trapRoute(
  host: FakeHost,
  route: BackendRoute,
  nth: number,
  spring: () => Promise<void>,
): () => number {
  let seen = 0;
  let sprang = 0;
  host.backend.override(
    route,
    (next): FakeHandler =>
      async (request, params) => {
        if (++seen !== nth) return next(request, params);
        sprang++;
        await spring();
        return statusReply(503, { error: "client_gone", message: "trap sprang before handling" });
      },
  );
  return () => sprang;
}
