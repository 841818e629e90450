/**
 * The response rules of protocol-latest §0 as the transport enforces them over real HTTP: bounded
 * bodies, the JSON content type, identity/gzip encodings only, and the failures of the exchange
 * itself (network, timeout, torn body, cancellation, bad requests).
 */
import { TransportError } from "@oversync/client";
import { BODY_LIMITS, HttpStatusError, OversyncError, type SnapshotSession } from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { jsonReply, statusReply } from "../client-support/scripted-replies.js";
import { type TransportHarness, closedPortUrl, startTransportHarness } from "./transport-harness.js";

let harness: TransportHarness;
beforeEach(async () => {
  harness = await startTransportHarness();
});
afterEach(async () => {
  await harness.close();
});

/** A JSON object of about `bytes` bytes. */
function paddedBody(bytes: number): Record<string, unknown> {
  return { padding: "x".repeat(bytes) };
}

async function failureOf(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => expect.fail("the call succeeded"),
    (error: unknown) => error,
  );
}

const SESSION: SnapshotSession = {
  snapshot_id: "snap-1",
  snapshot_bundle_seq: 3,
  row_count: 1,
  byte_count: 10,
  expires_at: "2099-01-01T00:00:00Z",
};

describe("bounded bodies", () => {
  it("refuses a capabilities body over 4 MiB by its Content-Length", async () => {
    harness.server.route("capabilities", () => jsonReply(paddedBody(BODY_LIMITS.capabilities)));
    const failure = await failureOf(harness.transport.capabilities());
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: "body_too_large", status: 200, operation: "capabilities" });
  });

  it("counts decoded bytes: a small gzip body that inflates past 4 MiB is refused while reading", async () => {
    harness.server.route("capabilities", () => ({
      ...jsonReply(paddedBody(BODY_LIMITS.capabilities + 10)),
      gzip: true,
    }));
    await expect(harness.transport.capabilities()).rejects.toMatchObject({ code: "body_too_large" });
  });

  it("accepts a capabilities body under the limit", async () => {
    const capabilities = await harness.transport.capabilities();
    expect(capabilities.protocol_version).toBe("v1");
  });

  it("refuses a snapshot session body over 64 KiB", async () => {
    harness.server.route("snapshotCreate", () =>
      jsonReply({ ...SESSION, padding: "x".repeat(BODY_LIMITS.snapshotSession) }),
    );
    await expect(harness.transport.createSnapshotSession()).rejects.toMatchObject({ code: "body_too_large" });
  });

  it("refuses a snapshot chunk over max_bytes + max_rows + 65536", async () => {
    const maxBytes = 1000;
    const maxRows = 1;
    harness.server.route("snapshotChunk", () => jsonReply(paddedBody(maxBytes + maxRows + 65536)));
    const call = harness.transport.fetchSnapshotChunk({
      session: SESSION,
      afterRowOrdinal: 0,
      bytesBefore: 0,
      maxRows,
      maxBytes,
    });
    await expect(call).rejects.toMatchObject({ code: "body_too_large", operation: "snapshot chunk" });
  });

  it("refuses an error body over 64 KiB, keeping the status", async () => {
    harness.server.route("connect", () =>
      statusReply(503, { error: "service_unavailable", message: "x".repeat(BODY_LIMITS.error) }),
    );
    const failure = await failureOf(harness.transport.connect({ hasLocalPendingRows: false }));
    expect(failure).toMatchObject({ name: "TransportError", code: "body_too_large", status: 503 });
  });

  it("reads a push_conflict over 64 KiB: its server row may hold a large BLOB", async () => {
    const pushId = "0b7e4c8e-3f0a-4d55-9d8e-1a2b3c4d5e6f";
    const serverRow = { id: "f1", data: "A".repeat(2 * BODY_LIMITS.error) };
    const conflict = {
      schema: "business",
      table: "files",
      key: { id: "f1" },
      op: "UPDATE",
      base_row_version: 1,
      server_row_version: 2,
      server_row_deleted: false,
      server_row: serverRow,
    };
    harness.server.route("pushCommit", () =>
      statusReply(409, { error: "push_conflict", message: "conflict", conflict }),
    );
    const failure = await failureOf(harness.transport.commitPushSession({ pushId, sourceBundleId: 1 }));
    expect(failure).toBeInstanceOf(OversyncError);
    expect(failure).toMatchObject({ code: "push_conflict", extras: { conflict: { server_row: serverRow } } });
  });

  it("bounds row pages by the configured limit", async () => {
    const transport = harness.transportWith({ limits: { rowPageBodyBytes: 1000 } });
    harness.server.route("pull", () => jsonReply(paddedBody(2000)));
    await expect(transport.pull({ afterBundleSeq: 0, maxBundles: 10 })).rejects.toMatchObject({
      code: "body_too_large",
      operation: "pull",
    });
  });

  it("bounds control answers by the configured limit", async () => {
    const transport = harness.transportWith({ limits: { controlBodyBytes: 100 } });
    harness.server.route("connect", () => jsonReply({ resolution: "initialize_empty", ...paddedBody(200) }));
    await expect(transport.connect({ hasLocalPendingRows: false })).rejects.toMatchObject({
      code: "body_too_large",
    });
  });
});

describe("content type", () => {
  it("refuses a JSON success body labelled text/plain", async () => {
    harness.server.route("connect", () => ({
      status: 200,
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ resolution: "initialize_empty" }),
    }));
    const failure = await failureOf(harness.transport.connect({ hasLocalPendingRows: false }));
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: "invalid_content_type", status: 200 });
  });

  it("refuses a success body without a content type", async () => {
    harness.server.route("connect", () => ({
      status: 200,
      body: JSON.stringify({ resolution: "initialize_empty" }),
    }));
    await expect(harness.transport.connect({ hasLocalPendingRows: false })).rejects.toMatchObject({
      code: "invalid_content_type",
    });
  });

  it("accepts application/json with parameters", async () => {
    harness.server.route("connect", () => ({
      status: 200,
      headers: { "content-type": "Application/JSON; charset=utf-8" },
      body: JSON.stringify({ resolution: "initialize_empty" }),
    }));
    expect(await harness.transport.connect({ hasLocalPendingRows: false })).toEqual({
      resolution: "initialize_empty",
    });
  });

  it("handles a non-JSON error answer by its status alone", async () => {
    harness.server.route("pull", () => ({
      status: 502,
      headers: { "content-type": "text/html" },
      body: "<html>bad gateway</html>",
    }));
    const failure = await failureOf(harness.transport.pull({ afterBundleSeq: 0, maxBundles: 10 }));
    expect(failure).toBeInstanceOf(HttpStatusError);
    expect(failure).toMatchObject({ status: 502, code: "http_status", bodyCode: undefined });
  });

  it("decodes a known error code into an OversyncError with its extras", async () => {
    harness.server.route("pushCreate", (request) =>
      statusReply(409, {
        error: "source_retired",
        message: "source retired",
        source_id: request.sourceId,
        replaced_by_source_id: "source-b",
      }),
    );
    const failure = await failureOf(
      harness.transport.createPushSession({
        sourceBundleId: 1,
        plannedRowCount: 1,
        canonicalRequestHash: "a".repeat(64),
      }),
    );
    expect(failure).toBeInstanceOf(OversyncError);
    expect(failure).toMatchObject({
      code: "source_retired",
      status: 409,
      extras: { source_id: "source-a", replaced_by_source_id: "source-b" },
    });
  });

  it("refuses a source_retired answer that names another source", async () => {
    harness.server.route("snapshotCreate", () =>
      statusReply(409, { error: "source_retired", message: "retired", source_id: "someone-else" }),
    );
    await expect(harness.transport.createSnapshotSession()).rejects.toMatchObject({
      name: "ProtocolViolationError",
      code: "invalid_response",
    });
  });

  it("refuses a success body that is not JSON as a protocol violation", async () => {
    harness.server.route("connect", () => ({
      status: 200,
      headers: { "content-type": "application/json" },
      body: "{not json",
    }));
    await expect(harness.transport.connect({ hasLocalPendingRows: false })).rejects.toMatchObject({
      name: "ProtocolViolationError",
      code: "invalid_response",
    });
  });
});

describe("content encoding", () => {
  it("asks for gzip or identity and decodes a gzip body", async () => {
    harness.server.route("connect", () => ({
      ...jsonReply({ resolution: "initialize_empty" }),
      gzip: true,
    }));
    expect(await harness.transport.connect({ hasLocalPendingRows: true })).toEqual({
      resolution: "initialize_empty",
    });
    expect(harness.server.requests.at(-1)!.headers["accept-encoding"]).toBe("gzip, identity");
  });

  it("accepts an explicit identity encoding", async () => {
    harness.server.route("connect", () => ({
      ...jsonReply({ resolution: "initialize_empty" }),
      headers: { "content-encoding": "identity" },
    }));
    expect(await harness.transport.connect({ hasLocalPendingRows: true })).toEqual({
      resolution: "initialize_empty",
    });
  });

  for (const encoding of ["br", "deflate", "compress"]) {
    it(`refuses Content-Encoding ${encoding}`, async () => {
      harness.server.route("connect", () => ({
        status: 200,
        headers: { "content-type": "application/json", "content-encoding": encoding },
        body: Uint8Array.of(1, 2, 3),
      }));
      const failure = await failureOf(harness.transport.connect({ hasLocalPendingRows: true }));
      expect(failure).toBeInstanceOf(TransportError);
      expect(failure).toMatchObject({ code: "invalid_content_encoding", status: 200 });
    });
  }

  it("refuses an unsupported encoding on an error answer too", async () => {
    harness.server.route("pull", () => ({
      status: 503,
      headers: { "content-type": "application/json", "content-encoding": "br" },
      body: Uint8Array.of(1, 2, 3),
    }));
    await expect(harness.transport.pull({ afterBundleSeq: 0, maxBundles: 1 })).rejects.toMatchObject({
      code: "invalid_content_encoding",
      status: 503,
    });
  });
});

describe("exchange failures", () => {
  it("a refused connection is a network error", async () => {
    const transport = harness.transportWith({ baseUrl: await closedPortUrl() });
    const failure = await failureOf(transport.capabilities());
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: "network_error", status: undefined });
  });

  it("a body torn off mid-way is a network error", async () => {
    harness.server.route("connect", () => ({
      status: 200,
      headers: { "content-type": "application/json" },
      stream: (stream) => {
        stream.write('{"resolution":');
        stream.abort();
      },
    }));
    await expect(harness.transport.connect({ hasLocalPendingRows: false })).rejects.toMatchObject({
      name: "TransportError",
      code: "network_error",
    });
  });

  it("a server that never answers times out", async () => {
    const transport = harness.transportWith({ timeouts: { requestMillis: 50 } });
    harness.server.route("pull", () => new Promise(() => undefined));
    await expect(transport.pull({ afterBundleSeq: 0, maxBundles: 1 })).rejects.toMatchObject({
      name: "TransportError",
      code: "timeout",
    });
  });

  it("the time limit covers the body as well as the headers", async () => {
    const transport = harness.transportWith({ timeouts: { requestMillis: 50 } });
    harness.server.route("connect", () => ({
      status: 200,
      headers: { "content-type": "application/json" },
      stream: (stream) => stream.write('{"resolution":'),
    }));
    await expect(transport.connect({ hasLocalPendingRows: false })).rejects.toMatchObject({
      code: "timeout",
    });
  });

  it("a per-call time limit overrides the default", async () => {
    harness.server.route("pull", () => new Promise(() => undefined));
    await expect(
      harness.transport.pull({ afterBundleSeq: 0, maxBundles: 1 }, { timeoutMillis: 30 }),
    ).rejects.toMatchObject({ code: "timeout" });
  });

  it("a cancelled call rejects with the caller's reason", async () => {
    harness.server.route("pull", () => new Promise(() => undefined));
    const controller = new AbortController();
    const call = harness.transport.pull({ afterBundleSeq: 0, maxBundles: 1 }, { signal: controller.signal });
    const reason = new Error("stop syncing");
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
  });

  it("an invalid source id is refused before anything is sent", async () => {
    const transport = harness.transportWith({ sourceId: () => "has space" });
    await expect(transport.capabilities()).rejects.toMatchObject({ code: "request_invalid" });
    expect(harness.server.requests).toHaveLength(0);
  });

  it("integers outside the envelope range are refused before anything is sent", async () => {
    await expect(harness.transport.pull({ afterBundleSeq: -1, maxBundles: 1 })).rejects.toMatchObject({
      code: "request_invalid",
    });
    await expect(harness.transport.pull({ afterBundleSeq: 2 ** 53, maxBundles: 1 })).rejects.toMatchObject({
      code: "request_invalid",
    });
    expect(harness.server.requests).toHaveLength(0);
  });

  it("a dot segment cannot stand for an id", async () => {
    await expect(harness.transport.deleteSnapshotSession("..")).rejects.toMatchObject({
      code: "request_invalid",
    });
    expect(harness.server.requests).toHaveLength(0);
  });

  it("the token provider's failure reaches the caller unchanged", async () => {
    const failure = new Error("signed out");
    const transport = harness.transportWith({ tokenProvider: () => Promise.reject(failure) });
    await expect(transport.capabilities()).rejects.toBe(failure);
  });

  it("a base URL that is not http(s) is refused at creation", () => {
    expect(() => harness.transportWith({ baseUrl: "ftp://example.test/" })).toThrow(TransportError);
    expect(() => harness.transportWith({ baseUrl: "https://example.test/api?x=1" })).toThrow(/query/);
  });
});
