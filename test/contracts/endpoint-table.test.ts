/**
 * The protocol's endpoint table (ENDPOINTS) against the error catalogue, the server's router and the
 * client's transport: every code is answered somewhere, every failure code belongs to one endpoint,
 * the real handler serves every entry with the entry's failure code, and the transport calls every
 * sync endpoint and nothing else.
 */
import { signInRoute, testHelperRoutes } from "@oversync/cli";
import {
  type SyncTransport,
  createSyncTransport,
} from "../../packages/client/src/transport/sync-transport.js";
import {
  ENDPOINTS,
  ENDPOINT_NAMES,
  ERROR_CODES,
  ERROR_STATUS,
  type EndpointContract,
  type EndpointName,
  type ErrorCode,
  PATH_PARAMETERS,
  ROUTER_ERROR_CODES,
  SYNC_ENDPOINT_NAMES,
  endpointErrorCodes,
  fillPath,
  pathParameterNames,
} from "@oversync/protocol";
import { SYNC_ROUTES, type SyncService, createSyncHandler } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeSyncServer, startFakeSyncServer } from "../client-support/fake-sync-server.js";
import { type LoopbackServer, call, serveOnLoopback } from "../server-http/http-support.js";

const entries = ENDPOINT_NAMES.map((name) => [name, ENDPOINTS[name] as EndpointContract] as const);

describe("the endpoint table against ERROR_STATUS", () => {
  it("answers every code from some endpoint or from the router", () => {
    const answered = new Set<ErrorCode>(ROUTER_ERROR_CODES);
    for (const [, endpoint] of entries) for (const code of endpointErrorCodes(endpoint)) answered.add(code);
    expect(ERROR_CODES.filter((code) => !answered.has(code))).toEqual([]);
  });

  it("gives each failure code a 5xx status and exactly one endpoint", () => {
    const owners = new Map<ErrorCode, EndpointName[]>();
    for (const [name, endpoint] of entries) {
      if (endpoint.failureCode === undefined) continue;
      expect(ERROR_STATUS[endpoint.failureCode], `${name} ${endpoint.failureCode}`).toBeGreaterThanOrEqual(
        500,
      );
      owners.set(endpoint.failureCode, [...(owners.get(endpoint.failureCode) ?? []), name]);
    }
    for (const [code, names] of owners) expect(names, code).toHaveLength(1);
    // Every other 500 code is some endpoint's: the generic internal_error is the router's fallback.
    const orphans = ERROR_CODES.filter(
      (code) => ERROR_STATUS[code] === 500 && code !== "internal_error" && !owners.has(code),
    );
    expect(orphans).toEqual([]);
  });

  it("lists each endpoint's own codes once, apart from its failure code", () => {
    for (const [name, endpoint] of entries) {
      expect(new Set(endpoint.errors).size, name).toBe(endpoint.errors.length);
      if (endpoint.failureCode !== undefined)
        expect(endpoint.errors, name).not.toContain(endpoint.failureCode);
    }
  });

  it("has one entry per method and path, authenticated exactly on /sync/*, with known path parameters", () => {
    const routes = entries.map(([, endpoint]) => `${endpoint.method} ${endpoint.path}`);
    expect(new Set(routes).size).toBe(routes.length);
    const used = new Set<string>();
    for (const [name, endpoint] of entries) {
      expect(endpoint.auth === "actor", name).toBe(endpoint.path.startsWith("/sync/"));
      for (const param of pathParameterNames(endpoint.path)) {
        expect(Object.keys(PATH_PARAMETERS), name).toContain(param);
        used.add(param);
      }
    }
    expect([...used].sort()).toEqual(Object.keys(PATH_PARAMETERS).sort());
  });
});

/** STUB (fault injection only): every call fails unexpectedly, so each route answers its failure code. */
const failingService = new Proxy({} as SyncService, {
  get: () => () => {
    throw new Error("stub: unexpected fault");
  },
});

function fail(): never {
  throw new Error("stub: unexpected fault");
}

const SAMPLE_PARAMS = {
  push_id: "0190f1a2-7b3c-7d4e-8f50-123456789abc",
  bundle_seq: "1",
  snapshot_id: "0190f1a2-7b3c-7d4e-8f50-000000000001",
};

/** Valid requests for the unauthenticated endpoints, so each reaches the failing stub behind it. */
const SAMPLE_REQUESTS: Partial<Record<EndpointName, { readonly body?: unknown; readonly query?: string }>> = {
  dummySignin: { body: { user: "ada", password: "any" } },
  retentionFloor: { body: { user_id: "ada", retained_bundle_floor: 1 } },
  watchSubscribers: { query: "?user_id=ada" },
};

describe("the server implements every entry", () => {
  let server: LoopbackServer;

  beforeAll(async () => {
    server = await serveOnLoopback(
      createSyncHandler({
        service: failingService,
        // Authenticated routes fail here, before any decoding: the answer is the route's failure code.
        authenticate: async () => fail(),
        logger: { error: () => {} },
        routes: [
          signInRoute({ issueToken: async () => fail(), authenticate: async () => fail() }),
          ...testHelperRoutes({ setRetainedFloor: async () => fail(), watchSubscriberCount: fail }),
        ],
      }),
    );
  });

  afterAll(() => server?.close());

  it.each(entries)("%s: its method and path answer its failure code", async (name, endpoint) => {
    const sample = SAMPLE_REQUESTS[name];
    const reply = await call(
      server.origin,
      `${fillPath(endpoint.path, SAMPLE_PARAMS)}${sample?.query ?? ""}`,
      {
        method: endpoint.method,
        headers: { authorization: "Bearer x", "oversync-source-id": "device-a" },
        ...(sample?.body === undefined ? {} : { body: JSON.stringify(sample.body) }),
      },
    );
    const code = endpoint.failureCode ?? "internal_error";
    expect(reply.body).toMatchObject({ error: code });
    expect(reply.status).toBe(ERROR_STATUS[code]);
  });

  it("serves no built-in route the table does not list", () => {
    for (const route of SYNC_ROUTES) {
      const entry = entries.find(
        ([, endpoint]) => endpoint.method === route.method && endpoint.path === route.path,
      );
      expect(entry, `${route.method} ${route.path}`).toBeDefined();
      expect(entry![1].group).not.toBe("test");
    }
  });
});

const SESSION = {
  snapshot_id: SAMPLE_PARAMS.snapshot_id,
  snapshot_bundle_seq: 1,
  row_count: 1,
  byte_count: 10,
  expires_at: "2099-01-01T00:00:00Z",
};

/** One call of each transport method; a method missing here fails the test below. */
const SAMPLE_CALLS: Record<string, (transport: SyncTransport) => Promise<unknown>> = {
  capabilities: (t) => t.capabilities(),
  connect: (t) => t.connect({ hasLocalPendingRows: false }),
  createPushSession: (t) =>
    t.createPushSession({ sourceBundleId: 1, plannedRowCount: 1, canonicalRequestHash: "0".repeat(64) }),
  uploadPushChunk: (t) =>
    t.uploadPushChunk({
      pushId: SAMPLE_PARAMS.push_id,
      startRowOrdinal: 0,
      rows: [{ schema: "main", table: "users", key: { id: "1" }, op: "DELETE", base_row_version: 1 }],
    }),
  commitPushSession: (t) => t.commitPushSession({ pushId: SAMPLE_PARAMS.push_id, sourceBundleId: 1 }),
  deletePushSession: (t) => t.deletePushSession(SAMPLE_PARAMS.push_id),
  fetchCommittedRows: (t) =>
    t.fetchCommittedRows({
      committed: {
        bundle_seq: 1,
        source_id: "device-a",
        source_bundle_id: 1,
        row_count: 1,
        bundle_hash: "h",
        canonical_request_hash: "0".repeat(64),
      },
      maxRows: 10,
    }),
  pull: (t) => t.pull({ afterBundleSeq: 0, maxBundles: 10 }),
  createSnapshotSession: (t) => t.createSnapshotSession(),
  fetchSnapshotChunk: (t) =>
    t.fetchSnapshotChunk({
      session: SESSION,
      afterRowOrdinal: 0,
      bytesBefore: 0,
      maxRows: 10,
      maxBytes: 100,
    }),
  deleteSnapshotSession: (t) => t.deleteSnapshotSession(SAMPLE_PARAMS.snapshot_id),
  watch: (t) => t.watch({ afterBundleSeq: 0 }),
};

describe("the client transport implements every sync entry", () => {
  let server: FakeSyncServer;

  beforeAll(async () => {
    // No route is scripted: every call gets 404, and the fake records which endpoint it addressed.
    server = await startFakeSyncServer({ basePath: "/api/v1/" });
  });

  afterAll(() => server?.close());

  it("calls each sync endpoint from some method, at the entry's method and path", async () => {
    const transport = createSyncTransport({
      baseUrl: server.baseUrl,
      tokenProvider: () => "token",
      sourceId: () => "device-a",
    });
    const methods = Object.keys(transport).filter(
      (key) => typeof transport[key as keyof SyncTransport] === "function",
    );
    expect(methods.sort()).toEqual(Object.keys(SAMPLE_CALLS).sort());
    for (const method of methods) await SAMPLE_CALLS[method]!(transport).catch(() => undefined);
    expect(server.requests.filter((request) => request.endpoint === undefined)).toEqual([]);
    expect(new Set(server.requests.map((request) => request.endpoint))).toEqual(new Set(SYNC_ENDPOINT_NAMES));
  });
});
