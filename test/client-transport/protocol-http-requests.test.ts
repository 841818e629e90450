/**
 * protocol-http/requests.json through the real transport: each case's request is sent over HTTP
 * to the fake server rooted at the fixture's base path, and what arrived is compared with the
 * fixture (method, path with the base path, query, source header, parsed body or none).
 */
import type { SyncTransport } from "../../packages/client/src/transport/sync-transport.js";
import { type SnapshotSession, formatSnapshotChunkBody } from "@oversync/protocol";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { holdOpenReply, jsonReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { TEST_TOKEN, type TransportHarness, startTransportHarness } from "./transport-harness.js";

const FILE = "protocol-http/requests.json";

interface RequestCase {
  name: string;
  operation: string;
  sourceId: string;
  args?: Record<string, number | string | boolean>;
  expected: {
    method: string;
    path: string;
    query: Record<string, string>;
    sourceHeader: string;
    body: Record<string, unknown> | null;
    bodyMustNotContain?: string[];
  };
}
interface Fixture {
  baseUri: string;
  cases: RequestCase[];
}

/** The placeholder request hash the fixture's push create carries (§6 runner guide). */
const PLACEHOLDER_HASH = "a".repeat(64);
/** The row the chunk-upload case sends: the fixture pins only its wire form. */
const CHUNK_ROW = {
  schema: "main",
  table: "users",
  key: { id: "user-1" },
  op: "INSERT",
  base_row_version: 0,
  payload: { id: "user-1", name: "Ada" },
} as const;

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
let harness: TransportHarness;

beforeAll(async () => {
  if (!fixture) return;
  harness = await startTransportHarness({ basePath: new URL(fixture.baseUri).pathname });
  scriptAnswers(harness);
});
afterAll(async () => {
  await harness?.close();
});

/** Valid answers for the requests whose responses the backend cannot derive from its own state. */
function scriptAnswers({ server }: TransportHarness): void {
  server.route("pull", () =>
    jsonReply({
      stable_bundle_seq: 14,
      bundles: [{ bundle_seq: 14, source_id: "remote-source", source_bundle_id: 1, rows: [] }],
      has_more: false,
    }),
  );
  server.route("pushChunk", (_request, params) =>
    jsonReply({ push_id: params.push_id, next_expected_row_ordinal: 1 }),
  );
  server.route("pushCommit", (request) =>
    jsonReply({
      bundle_seq: 1,
      source_id: request.sourceId,
      source_bundle_id: 1,
      row_count: 1,
      bundle_hash: "h",
      canonical_request_hash: PLACEHOLDER_HASH,
    }),
  );
  server.route("committedRows", (request) =>
    jsonReply({
      bundle_seq: 9,
      source_id: request.sourceId,
      source_bundle_id: 1,
      row_count: 5,
      bundle_hash: "h",
      canonical_request_hash: PLACEHOLDER_HASH,
      rows: [],
      next_row_ordinal: 4,
      has_more: false,
    }),
  );
  server.route("snapshotChunk", (_request, params) => ({
    status: 200,
    headers: { "content-type": "application/json" },
    body: formatSnapshotChunkBody({
      snapshot_id: params.snapshot_id!,
      snapshot_bundle_seq: 6,
      rows: [],
      next_row_ordinal: 5,
      has_more: false,
    }),
  }));
  server.route("watch", () => holdOpenReply());
}

/** Sends the case's operation with the real transport. */
async function send(transport: SyncTransport, request: RequestCase): Promise<void> {
  const args = request.args ?? {};
  const number = (name: string) => args[name] as number;
  const string = (name: string) => args[name] as string;
  switch (request.operation) {
    case "capabilities":
      await transport.capabilities();
      return;
    case "connect":
      await transport.connect({ hasLocalPendingRows: args.hasLocalPendingRows as boolean });
      return;
    case "pull":
      await transport.pull({
        afterBundleSeq: number("afterBundleSeq"),
        maxBundles: number("maxBundles"),
        targetBundleSeq: number("targetBundleSeq"),
      });
      return;
    case "pushSessionCreate":
      await transport.createPushSession({
        sourceBundleId: number("sourceBundleId"),
        plannedRowCount: number("plannedRowCount"),
        canonicalRequestHash: PLACEHOLDER_HASH,
        initializationId: string("initializationId"),
      });
      return;
    case "pushSessionChunk":
      await transport.uploadPushChunk({
        pushId: string("pushId"),
        startRowOrdinal: number("startRowOrdinal"),
        rows: [CHUNK_ROW],
      });
      return;
    case "pushSessionCommit":
      await transport.commitPushSession({ pushId: string("pushId"), sourceBundleId: 1 });
      return;
    case "committedRows":
      await transport.fetchCommittedRows({
        committed: {
          bundle_seq: number("bundleSeq"),
          source_id: request.sourceId,
          source_bundle_id: 1,
          row_count: 5,
          bundle_hash: "h",
          canonical_request_hash: PLACEHOLDER_HASH,
        },
        afterRowOrdinal: number("afterRowOrdinal"),
        maxRows: number("maxRows"),
      });
      return;
    case "snapshotSession":
      await transport.createSnapshotSession();
      return;
    case "snapshotChunk": {
      const session: SnapshotSession = {
        snapshot_id: string("snapshotId"),
        snapshot_bundle_seq: number("snapshotBundleSeq"),
        row_count: number("afterRowOrdinal"),
        byte_count: 500,
        expires_at: "2099-01-01T00:00:00Z",
      };
      await transport.fetchSnapshotChunk({
        session,
        afterRowOrdinal: number("afterRowOrdinal"),
        bytesBefore: 500,
        maxRows: number("maxRows"),
        maxBytes: number("maxBytes"),
      });
      return;
    }
    case "sourceReplacement":
      await transport.createSnapshotSession({
        sourceReplacement: {
          previousSourceId: string("previousSourceId"),
          newSourceId: string("newSourceId"),
          reason: string("reason") as "source_retired",
        },
      });
      return;
    case "watch": {
      const stream = await transport.watch({ afterBundleSeq: number("afterBundleSeq") });
      stream.close();
      return;
    }
    default:
      throw new Error(`no transport call for operation ${request.operation}`);
  }
}

/** Every member name in a JSON value, at any depth. */
function memberNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(memberNames);
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([name, member]) => [name, ...memberNames(member)]);
}

describe.skipIf(!available)(`${FILE} through the transport`, () => {
  for (const request of fixture?.cases ?? []) {
    tally.it(FILE, request.name, async () => {
      const transport = harness.transportWith({ sourceId: () => request.sourceId });
      const before = harness.server.requests.length;
      await send(transport, request);
      expect(harness.server.requests).toHaveLength(before + 1);
      const sent = harness.server.requests.at(-1)!;
      const { expected } = request;
      expect(sent.method).toBe(expected.method);
      expect(sent.path).toBe(expected.path);
      expect(sent.query).toEqual(expected.query);
      expect(sent.sourceId).toBe(expected.sourceHeader);
      expect(sent.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
      expect(sent.headers["accept-encoding"]).toBe("gzip, identity");
      if (expected.body === null) {
        expect(sent.bodyText).toBe("");
        expect(sent.headers["content-type"]).toBeUndefined();
      } else {
        expect(sent.body).toEqual(expected.body);
        expect(sent.headers["content-type"]).toBe("application/json");
      }
      for (const member of expected.bodyMustNotContain ?? []) {
        expect(memberNames(sent.body)).not.toContain(member);
      }
    });
  }
});
