/**
 * Calling a handler from loopback and from another address, for the admin-route tests. The remote
 * caller is real when this machine has a non-loopback IPv4 interface address: the server listens on
 * all interfaces and the test connects to that address, so the socket's peer is not loopback.
 * Without one, the "remote" server is a loopback server whose listener hands the handler a fixed
 * remote address (SIMULATED_REMOTE_ADDRESS): it simulates only the address toNodeListener passes.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { type FetchHandler, toNodeListener } from "@oversync/server";

/** The peer address the simulated remote caller has (TEST-NET-3, RFC 5737). */
export const SIMULATED_REMOTE_ADDRESS = "203.0.113.7";

/** A non-loopback IPv4 address of this machine, or undefined when it has none. */
export function interfaceAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (!address.internal && address.family === "IPv4") return address.address;
    }
  }
  return undefined;
}

/** How the remote caller of this run reaches the server, for test titles. */
export function remoteCallerKind(): string {
  const address = interfaceAddress();
  return address === undefined ? `simulated as ${SIMULATED_REMOTE_ADDRESS}` : `real, at ${address}`;
}

/** A handler reachable from loopback (`local`) and from another address (`remote`). */
export interface LocalAndRemote {
  /** `http://127.0.0.1:<port>` */
  readonly local: string;
  /** `http://<interface address>:<port>`, or a second loopback server when simulated. */
  readonly remote: string;
  close(): Promise<void>;
}

/** Serves `handler` through toNodeListener for loopback and remote callers. */
export async function serveLocalAndRemote(handler: FetchHandler): Promise<LocalAndRemote> {
  const address = interfaceAddress();
  if (address !== undefined) {
    const server = createServer(toNodeListener(handler));
    const port = await listen(server, "0.0.0.0");
    return {
      local: `http://127.0.0.1:${port}`,
      remote: `http://${address}:${port}`,
      close: () => close(server),
    };
  }
  const local = createServer(toNodeListener(handler));
  const remote = createServer(
    toNodeListener((request) => handler(request, { remoteAddress: SIMULATED_REMOTE_ADDRESS })),
  );
  const localPort = await listen(local, "127.0.0.1");
  const remotePort = await listen(remote, "127.0.0.1");
  return {
    local: `http://127.0.0.1:${localPort}`,
    remote: `http://127.0.0.1:${remotePort}`,
    close: async () => {
      await close(local);
      await close(remote);
    },
  };
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}
