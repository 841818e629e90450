/**
 * A real HTTP hop between a device and the server, for what a scenario cannot ask the server to
 * do: lose the network (`offline()` stops listening and cuts every open connection, so requests
 * fail with connection refused or reset, as on a phone in a tunnel; `online()` listens again on
 * the same port), or play an older server that does not advertise `bundle_change_watch`
 * (`hideWatch`). Everything else passes through unchanged, streams included.
 */
import { type IncomingMessage, type ServerResponse, createServer, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo, Socket } from "node:net";

/** A running proxy. */
export interface NetworkProxy {
  /** The URL devices use instead of the server's (same base path). */
  readonly url: string;
  /** Stops accepting connections and cuts the open ones, both towards devices and the server. */
  offline(): Promise<void>;
  /** Accepts connections again on the same port. */
  online(): Promise<void>;
  /** Stops the proxy for good. */
  close(): Promise<void>;
}

/** Options of startNetworkProxy. */
export interface NetworkProxyOptions {
  /** Rewrite `GET …/sync/capabilities` answers to advertise `bundle_change_watch: false`. */
  readonly hideWatch?: boolean;
}

/** Starts a proxy to `serverUrl` on a free loopback port. */
export async function startNetworkProxy(
  serverUrl: string,
  options: NetworkProxyOptions = {},
): Promise<NetworkProxy> {
  const target = new URL(serverUrl);
  const sockets = new Set<Socket>();
  const upstreams = new Set<{ destroy(): void }>();
  const server = createServer((incoming, outgoing) => forward(incoming, outgoing));
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  function forward(incoming: IncomingMessage, outgoing: ServerResponse): void {
    const rewrite =
      options.hideWatch === true &&
      incoming.method === "GET" &&
      /\/sync\/capabilities$/.test(incoming.url?.split("?")[0] ?? "");
    const headers = { ...incoming.headers, host: target.host };
    // The rewritten answer is read as JSON, so it must come uncompressed.
    if (rewrite) delete headers["accept-encoding"];
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const upstream = send(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers,
      },
      (answer) => {
        if (!rewrite || answer.statusCode !== 200) {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            features?: Record<string, boolean>;
          };
          body.features = { ...body.features, bundle_change_watch: false };
          const text = JSON.stringify(body);
          outgoing.writeHead(200, { ...answer.headers, "content-length": Buffer.byteLength(text) });
          outgoing.end(text);
        });
      },
    );
    upstreams.add(upstream);
    upstream.on("close", () => upstreams.delete(upstream));
    upstream.on("error", () => outgoing.destroy());
    // A device that goes away (a closed watch stream) takes its upstream request with it.
    outgoing.on("close", () => upstream.destroy());
    incoming.pipe(upstream);
  }

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stop = async () => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    for (const upstream of upstreams) upstream.destroy();
    await closed;
  };

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${target.pathname.replace(/\/$/, "")}`,
    offline: stop,
    online: () => listen(port),
    close: stop,
  };
}
