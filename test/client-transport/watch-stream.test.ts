/**
 * The watch stream over real HTTP: watch/basic.json (capabilities, setup errors, SSE cases and the
 * runtime case) served by the fake server, plus live events, chunk boundaries, limits, idle
 * timeout, and closing promptly on abort or close().
 */
import { TransportError } from "@oversync/client";
import type { WatchStream } from "../../packages/client/src/transport/watch-stream.js";
import {
  type BundleChangeEvent,
  HttpStatusError,
  OversyncError,
  ProtocolViolationError,
  supportsBundleChangeWatch,
} from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FakeStream } from "../client-support/fake-sync-server.js";
import { holdOpenReply, jsonReply, sseLinesReply, statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { TEST_TOKEN, type TransportHarness, startTransportHarness } from "./transport-harness.js";

const FILE = "watch/basic.json";

interface Fixture {
  capabilitiesCases: {
    name: string;
    response: { status: number; body: unknown };
    expectedBundleChangeWatchSupported: boolean;
  }[];
  sseCases: { name: string; lines: string[]; expectedEvents?: unknown[]; expectError?: boolean }[];
  setupErrorResponses: { status: number; body: { error: string }; expectedError: string }[];
  runtimeCases: { name: string; response: { status: number; body: unknown } }[];
}

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(`${FILE} over HTTP`, name, check);

let harness: TransportHarness;
beforeEach(async () => {
  harness = await startTransportHarness({ basePath: "/api/v1/" });
});
afterEach(async () => {
  await harness.close();
});

/** Reads every event until the stream ends. */
async function collect(stream: WatchStream): Promise<BundleChangeEvent[]> {
  const events: BundleChangeEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Resolves with the server side of the next watch request once it is open. */
function nextServerStream(): Promise<FakeStream> {
  return new Promise((resolve) => harness.server.route("watch", () => holdOpenReply(resolve)));
}

describe.skipIf(!available)(FILE, () => {
  describe("capabilitiesCases", () => {
    for (const capabilities of fixture?.capabilitiesCases ?? []) {
      contractCase(capabilities.name, async () => {
        harness.server.route("capabilities", () =>
          jsonReply(capabilities.response.body, capabilities.response.status),
        );
        const decoded = await harness.transport.capabilities();
        expect(supportsBundleChangeWatch(decoded)).toBe(capabilities.expectedBundleChangeWatchSupported);
      });
    }
  });

  describe("sseCases", () => {
    for (const sse of fixture?.sseCases ?? []) {
      contractCase(sse.name, async () => {
        harness.server.route("watch", () => sseLinesReply(sse.lines));
        const stream = await harness.transport.watch({ afterBundleSeq: 0 });
        if (sse.expectError) await expect(collect(stream)).rejects.toThrow(ProtocolViolationError);
        else expect(await collect(stream)).toEqual(sse.expectedEvents);
      });
    }
  });

  describe("setupErrorResponses", () => {
    for (const setup of fixture?.setupErrorResponses ?? []) {
      contractCase(`setup ${setup.status} ${setup.expectedError}`, async () => {
        harness.server.route("watch", () => statusReply(setup.status, setup.body));
        const failure = await harness.transport.watch({ afterBundleSeq: 0 }).catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(OversyncError);
        expect(failure).toMatchObject({ code: setup.expectedError, status: setup.status });
      });
    }
  });

  describe("runtimeCases", () => {
    for (const runtime of fixture?.runtimeCases ?? []) {
      contractCase(runtime.name, async () => {
        harness.server.route("watch", () => statusReply(runtime.response.status, runtime.response.body));
        await expect(harness.transport.watch({ afterBundleSeq: 0 })).rejects.toMatchObject({
          status: runtime.response.status,
        });
        // The non-OK answer was read and released: no stream stays open on the server.
        expect(harness.server.openStreams()).toHaveLength(0);
      });
    }
  });
});

describe("watch stream", () => {
  it("sends the identity headers and the cursor, and asks for an event stream", async () => {
    const stream = await harness.transport.watch({ afterBundleSeq: 7 });
    stream.close();
    const [request] = harness.server.requestsTo("watch");
    expect(request).toMatchObject({
      path: "/api/v1/sync/watch",
      query: { after_bundle_seq: "7" },
      sourceId: "source-a",
    });
    expect(request!.headers).toMatchObject({
      authorization: `Bearer ${TEST_TOKEN}`,
      accept: "text/event-stream",
    });
  });

  it("yields the catch-up event and each live bundle as the backend commits it", async () => {
    harness.backend.appendBundle({ rows: [] });
    const stream = await harness.transport.watch({ afterBundleSeq: 0 });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual({ bundle_seq: 1 });
    harness.backend.appendBundle({ rows: [], sourceId: "device-b", sourceBundleId: 4 });
    expect((await iterator.next()).value).toEqual({
      bundle_seq: 2,
      source_id: "device-b",
      source_bundle_id: 4,
    });
    stream.close();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it("parses events split across arbitrary network chunks, multi-byte characters included", async () => {
    const text = 'event: bundle\ndata: {"bundle_seq":5,"note":"d\u00e9vice-\u{1F600}"}\n\n: heartbeat\n\n';
    const opened = nextServerStream();
    const stream = await harness.transport.watch({ afterBundleSeq: 0 });
    const server = await opened;
    const bytes = Buffer.from(text, "utf8");
    const events = collect(stream);
    // Three-byte pieces cut the emoji and the é across writes.
    for (let offset = 0; offset < bytes.length; offset += 3) {
      server.writeBytes(bytes.subarray(offset, offset + 3));
      await new Promise((resolve) => setImmediate(resolve));
    }
    server.end();
    expect(await events).toEqual([{ bundle_seq: 5 }]);
  });

  it("reassembles a valid event written byte by byte", async () => {
    const opened = nextServerStream();
    const stream = await harness.transport.watch({ afterBundleSeq: 0 });
    const server = await opened;
    const events = collect(stream);
    for (const byte of Buffer.from('event: bundle\ndata: {"bundle_seq":9}\n\n: heartbeat\n\n', "utf8")) {
      server.writeBytes(Uint8Array.of(byte));
    }
    server.end();
    expect(await events).toEqual([{ bundle_seq: 9 }]);
  });

  it("refuses a line longer than 1 MiB", async () => {
    const opened = nextServerStream();
    const stream = await harness.transport.watch({ afterBundleSeq: 0 });
    const server = await opened;
    const events = collect(stream);
    server.write(`data: ${"x".repeat(1 << 20)}`);
    await expect(events).rejects.toMatchObject({ code: "invalid_watch_event" });
    await server.closed;
  });

  it("refuses a success answer that is not an event stream", async () => {
    harness.server.route("watch", () => jsonReply({ bundle_seq: 1 }));
    await expect(harness.transport.watch({ afterBundleSeq: 0 })).rejects.toMatchObject({
      name: "TransportError",
      code: "invalid_content_type",
    });
  });

  it("treats a non-JSON setup error as an HTTP status error", async () => {
    harness.server.route("watch", () => ({ status: 502, body: "<html>bad gateway</html>" }));
    const failure = await harness.transport.watch({ afterBundleSeq: 0 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HttpStatusError);
    expect(failure).toMatchObject({ status: 502, code: "http_status", bodyCode: undefined });
  });

  it("close() ends a pending iteration without error and closes the connection", async () => {
    const opened = nextServerStream();
    const stream = await harness.transport.watch({ afterBundleSeq: 0 });
    const server = await opened;
    const events = collect(stream);
    stream.close();
    expect(await events).toEqual([]);
    expect(await server.closed).toBe("client");
  });

  it("an aborted signal rejects the iteration with its reason and closes the connection", async () => {
    const opened = nextServerStream();
    const controller = new AbortController();
    const stream = await harness.transport.watch({ afterBundleSeq: 0 }, { signal: controller.signal });
    const server = await opened;
    const events = collect(stream);
    const reason = new Error("worker stopped");
    controller.abort(reason);
    await expect(events).rejects.toBe(reason);
    expect(await server.closed).toBe("client");
  });

  it("a broken connection is a network error", async () => {
    const opened = nextServerStream();
    const stream = await harness.transport.watch({ afterBundleSeq: 0 });
    const server = await opened;
    const events = collect(stream);
    server.write(": heartbeat\n\n");
    server.abort();
    const failure = await events.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: "network_error" });
  });

  it("a stream silent past the idle limit times out", async () => {
    const transport = harness.transportWith({ timeouts: { watchIdleMillis: 50 } });
    const opened = nextServerStream();
    const stream = await transport.watch({ afterBundleSeq: 0 });
    const server = await opened;
    await expect(collect(stream)).rejects.toMatchObject({ name: "TransportError", code: "timeout" });
    expect(await server.closed).toBe("client");
  });
});
