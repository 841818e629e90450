/**
 * A scripted fake sync server over real HTTP on loopback (node:http, 127.0.0.1, port 0), for the
 * client suites. It records every request and answers from routes that tests script.
 *
 * Engine (this file):
 *   const server = await startFakeSyncServer({ basePath: "/api/v1/" });
 *   server.baseUrl                          // "http://127.0.0.1:<port>/api/v1/"
 *   server.route("pull", handler)           // an endpoint of the protocol's ENDPOINTS table, served
 *                                           // at its method and path below basePath; its ":name"
 *                                           // segments become params; a later route for it wins
 *   server.requests                         // every RecordedRequest, in arrival order
 *   server.requestsTo("pushChunk")
 *   server.streams                          // every event stream opened (see FakeStream)
 *   await server.close()
 *
 * A handler is `(request, params) => FakeReply | Promise<FakeReply>`. A FakeReply has a status and
 * either `json` (sent compactly with Content-Type application/json), a raw `body`, or `stream`
 * (a streamed body, by default with the watch headers; the callback writes to it and may end it,
 * abort the connection, or leave it open). `gzip: true` compresses the body and sends
 * Content-Encoding: gzip. Unrouted requests get 404 {"error":"not_found"}. A handler that throws
 * gets 599 with the stack, so the client side fails loudly instead of hanging.
 *
 * Reply helpers live in `scripted-replies.ts` (json, error, sequence, failFirst, failNth, sse lines,
 * hold open); the stateful sync behaviours (push echo with computed bundle_hash, committed-rows
 * paging, pull from a bundle log, chunked snapshot sessions with byte_count, live watch events) in
 * `fake-sync-backend.ts`; fixture `serverScript.kind` set-ups in `fixture-scripts.ts`.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import {
  ENDPOINTS,
  ENDPOINT_NAMES,
  type EndpointName,
  WATCH_RESPONSE_HEADERS,
  matchPath,
} from "@oversync/protocol";

/** One request as the server received it. */
export interface RecordedRequest {
  readonly method: string;
  /** The full path, base path included: "/api/v1/sync/pull". */
  readonly path: string;
  /** The path below the base path: "sync/pull". */
  readonly route: string;
  /** The endpoint whose method and path the request has, if any. */
  readonly endpoint: EndpointName | undefined;
  /** That endpoint's path parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Query parameters (the last value of a repeated name). */
  readonly query: Readonly<Record<string, string>>;
  readonly searchParams: URLSearchParams;
  /** Headers with lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The Oversync-Source-ID header, when sent. */
  readonly sourceId: string | undefined;
  /** The raw body text; "" when none was sent. */
  readonly bodyText: string;
  /** The body parsed as JSON; null when none was sent, undefined when it is not JSON. */
  readonly body: unknown;
}

/** An open event stream (a FakeReply with `stream`). */
export interface FakeStream {
  readonly request: RecordedRequest;
  /** Writes raw text. Ignored once closed. */
  write(text: string): void;
  /** Writes raw bytes (to split a character across network chunks, for instance). */
  writeBytes(bytes: Uint8Array): void;
  /** Writes each line followed by "\n". */
  writeLines(lines: readonly string[]): void;
  /** Ends the stream from the server side. */
  end(): void;
  /** Destroys the connection mid-response, as a crashed server or a cut link would. */
  abort(): void;
  /** True once either side closed it. */
  readonly isClosed: boolean;
  /** Resolves with who closed the stream first. */
  readonly closed: Promise<"server" | "client">;
}

/** A scripted answer. */
export interface FakeReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON body, written with JSON.stringify and Content-Type application/json (unless set). */
  readonly json?: unknown;
  /** A raw body. */
  readonly body?: string | Uint8Array;
  /** Compress the body with gzip and send Content-Encoding: gzip. */
  readonly gzip?: boolean;
  /** Answer with an event stream instead; the callback writes to it. */
  readonly stream?: (stream: FakeStream) => void | Promise<void>;
}

/** Answers one request; `params` holds the endpoint's ":name" segments, decoded. */
export type FakeHandler = (
  request: RecordedRequest,
  params: Readonly<Record<string, string>>,
) => FakeReply | Promise<FakeReply>;

/** A running fake server. */
export interface FakeSyncServer {
  /** Base URL with the base path, ending in "/". */
  readonly baseUrl: string;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly requests: readonly RecordedRequest[];
  readonly streams: readonly FakeStream[];
  /** Answers `endpoint` with `handler`, replacing an earlier handler for it. */
  route(endpoint: EndpointName, handler: FakeHandler): void;
  /** The recorded requests for `endpoint`. */
  requestsTo(endpoint: EndpointName): RecordedRequest[];
  /** Streams still open. */
  openStreams(): FakeStream[];
  close(): Promise<void>;
}

/** Starts a fake server whose routes live below `basePath` (default "/"). */
export async function startFakeSyncServer(options?: { basePath?: string }): Promise<FakeSyncServer> {
  let basePath = options?.basePath ?? "/";
  if (!basePath.startsWith("/")) basePath = `/${basePath}`;
  if (!basePath.endsWith("/")) basePath = `${basePath}/`;
  const routes = new Map<EndpointName, FakeHandler>();
  const requests: RecordedRequest[] = [];
  const streams: FakeStream[] = [];

  async function handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const url = new URL(incoming.url ?? "/", "http://fake.invalid");
    const bodyText = await readBody(incoming);
    if (!url.pathname.startsWith(basePath)) {
      outgoing.writeHead(404, { "content-type": "text/plain" }).end("outside the base path");
      return;
    }
    const recorded = recordRequest(incoming, url, url.pathname.slice(basePath.length), bodyText);
    requests.push(recorded);
    const handler = recorded.endpoint === undefined ? undefined : routes.get(recorded.endpoint);
    const reply: FakeReply = handler
      ? await handler(recorded, recorded.params)
      : {
          status: 404,
          json: { error: "not_found", message: `no route for ${recorded.method} ${recorded.route}` },
        };
    if (reply.stream) {
      const stream = openStream(recorded, outgoing, reply);
      streams.push(stream);
      await reply.stream(stream);
      return;
    }
    writeReply(outgoing, reply);
  }

  const server: Server = createServer((incoming, outgoing) => {
    handle(incoming, outgoing).catch((error: unknown) => {
      // A handler bug must fail the test loudly, not hang it: answer 599 with the message.
      if (!outgoing.headersSent) outgoing.writeHead(599, { "content-type": "text/plain" });
      outgoing.end(`fake server handler failed: ${(error as Error).stack ?? String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    baseUrl: `${origin}${basePath}`,
    origin,
    requests,
    streams,
    route(endpoint, handler) {
      routes.set(endpoint, handler);
    },
    requestsTo(endpoint) {
      return requests.filter((request) => request.endpoint === endpoint);
    },
    openStreams: () => streams.filter((stream) => !stream.isClosed),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const stream of streams) stream.end();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** The endpoint `method` and `route` (below the base path) address, with its decoded parameters. */
function findEndpoint(
  method: string,
  route: string,
): { endpoint: EndpointName | undefined; params: Record<string, string> } {
  for (const name of ENDPOINT_NAMES) {
    if (ENDPOINTS[name].method !== method) continue;
    const params = matchPath(ENDPOINTS[name].path, `/${route}`);
    if (params === undefined) continue;
    return {
      endpoint: name,
      params: Object.fromEntries(
        Object.entries(params).map(([key, value]) => [key, decodeURIComponent(value)]),
      ),
    };
  }
  return { endpoint: undefined, params: {} };
}

async function readBody(incoming: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function recordRequest(
  incoming: IncomingMessage,
  url: URL,
  route: string,
  bodyText: string,
): RecordedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  let body: unknown = null;
  if (bodyText !== "") {
    try {
      body = JSON.parse(bodyText);
    } catch {
      body = undefined;
    }
  }
  const method = incoming.method ?? "GET";
  return {
    method,
    path: url.pathname,
    route,
    ...findEndpoint(method, route),
    query: Object.fromEntries(url.searchParams),
    searchParams: url.searchParams,
    headers,
    sourceId: headers["oversync-source-id"],
    bodyText,
    body,
  };
}

function writeReply(outgoing: ServerResponse, reply: FakeReply): void {
  const headers: Record<string, string> = {};
  let body: Uint8Array | undefined;
  if (reply.json !== undefined) {
    headers["content-type"] = "application/json";
    body = Buffer.from(JSON.stringify(reply.json), "utf8");
  } else if (reply.body !== undefined) {
    body = typeof reply.body === "string" ? Buffer.from(reply.body, "utf8") : reply.body;
  }
  Object.assign(headers, lowerCaseNames(reply.headers));
  if (body !== undefined && reply.gzip) {
    body = gzipSync(body);
    headers["content-encoding"] = "gzip";
  }
  if (body !== undefined) headers["content-length"] = String(body.byteLength);
  outgoing.writeHead(reply.status, headers);
  outgoing.end(body);
}

function openStream(request: RecordedRequest, outgoing: ServerResponse, reply: FakeReply): FakeStream {
  let closedBy: "server" | "client" | undefined;
  let settle: (by: "server" | "client") => void = () => undefined;
  const closed = new Promise<"server" | "client">((resolve) => {
    settle = resolve;
  });
  const markClosed = (by: "server" | "client") => {
    if (closedBy !== undefined) return;
    closedBy = by;
    settle(by);
  };
  outgoing.on("close", () => markClosed("client"));
  // The watch headers by default; a reply may replace them to send a torn JSON body, for instance.
  outgoing.writeHead(reply.status, {
    ...lowerCaseNames(WATCH_RESPONSE_HEADERS),
    ...lowerCaseNames(reply.headers),
  });
  outgoing.flushHeaders();
  return {
    request,
    write(text) {
      if (closedBy === undefined) outgoing.write(text);
    },
    writeBytes(bytes) {
      if (closedBy === undefined) outgoing.write(bytes);
    },
    writeLines(lines) {
      if (closedBy === undefined) outgoing.write(lines.map((line) => `${line}\n`).join(""));
    },
    end() {
      if (closedBy !== undefined) return;
      markClosed("server");
      outgoing.end();
    },
    abort() {
      if (closedBy !== undefined) return;
      markClosed("server");
      outgoing.destroy();
    },
    get isClosed() {
      return closedBy !== undefined;
    },
    closed,
  };
}

function lowerCaseNames(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
}
