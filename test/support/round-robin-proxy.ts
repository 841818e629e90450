/**
 * A load balancer for tests: one loopback HTTP listener that hands each request to the next of
 * several upstream servers in turn (per request, not per connection, so one device's push create,
 * chunk and commit land on different processes). Responses stream through as they arrive, so a
 * `GET /sync/watch` stream stays open and its events pass at once. It records which upstream
 * answered what, for the test's checks and numbers.
 */
import { Agent, type IncomingMessage, type ServerResponse, createServer, request } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One request as the proxy forwarded it. */
export interface ProxiedRequest {
  /** Index of the upstream that served it. */
  readonly upstream: number;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The upstream's status, or 502 when it could not be reached. */
  status: number;
}

/** A running proxy. */
export interface RoundRobinProxy {
  readonly url: string;
  /** Every request so far, in the order they arrived. */
  readonly requests: readonly ProxiedRequest[];
  close(): Promise<void>;
}

/** Headers that describe one hop's connection, not the request. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/** Starts a proxy over `upstreams` (base URLs such as `http://127.0.0.1:8080`) on a free loopback port. */
export async function startRoundRobinProxy(upstreams: readonly string[]): Promise<RoundRobinProxy> {
  const targets = upstreams.map((url) => new URL(url));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let next = 0;

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const index = next;
    next = (next + 1) % targets.length;
    const target = targets[index]!;
    const record: ProxiedRequest = {
      upstream: index,
      method: incoming.method ?? "GET",
      path: (incoming.url ?? "/").split("?")[0]!,
      status: 0,
    };
    requests.push(record);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers.host = target.host;
    const upstream = request(
      {
        agent,
        hostname: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers,
      },
      (answer) => {
        record.status = answer.statusCode ?? 502;
        const answerHeaders: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) answerHeaders[name] = value;
        }
        outgoing.writeHead(record.status, answerHeaders);
        // Event streams must reach the client before their first event.
        outgoing.flushHeaders();
        answer.pipe(outgoing);
      },
    );
    upstream.on("error", () => {
      if (record.status === 0) record.status = 502;
      if (!outgoing.headersSent) outgoing.writeHead(502).end();
      else outgoing.destroy();
    });
    // A client that goes away (a closed watch stream) takes its upstream request with it.
    outgoing.on("close", () => upstream.destroy());
    incoming.pipe(upstream);
  };

  const server = createServer(forward);
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}
