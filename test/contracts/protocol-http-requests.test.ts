import {
  OversyncError,
  decodeCommittedRowsRequest,
  decodeConnectRequest,
  decodePullQuery,
  decodePushChunkRequest,
  decodePushCreateRequest,
  decodeSnapshotChunkQuery,
  decodeSnapshotCreateRequest,
  decodeWatchQuery,
  isCanonicalUuid,
  isValidSourceId,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

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

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

/** Operations whose request may carry a JSON body (commit never does). */
const BODY_OPERATIONS = new Set([
  "connect",
  "pushSessionCreate",
  "pushSessionChunk",
  "snapshotSession",
  "sourceReplacement",
]);

/** The server-side decoder of each operation's body (text) and query, with the path it is routed by. */
function decodeAs(request: RequestCase): unknown {
  const { expected } = request;
  const query = new URLSearchParams(expected.query);
  const body = expected.body === null ? "" : JSON.stringify(expected.body);
  const route = expected.path.slice(new URL(fixture!.baseUri).pathname.length);
  switch (request.operation) {
    case "capabilities":
      expect(route).toBe("sync/capabilities");
      return null;
    case "connect":
      expect(route).toBe("sync/connect");
      return decodeConnectRequest(body);
    case "pull":
      expect(route).toBe("sync/pull");
      return decodePullQuery(query);
    case "pushSessionCreate":
      expect(route).toBe("sync/push-sessions");
      return decodePushCreateRequest(body);
    case "pushSessionChunk": {
      const [, pushId] = /^sync\/push-sessions\/([^/]+)\/chunks$/.exec(route)!;
      expect(isCanonicalUuid(pushId)).toBe(true);
      return decodePushChunkRequest(body);
    }
    case "pushSessionCommit": {
      const [, pushId] = /^sync\/push-sessions\/([^/]+)\/commit$/.exec(route)!;
      expect(isCanonicalUuid(pushId)).toBe(true);
      return null;
    }
    case "committedRows": {
      const [, bundleSeq] = /^sync\/committed-bundles\/([^/]+)\/rows$/.exec(route)!;
      return decodeCommittedRowsRequest(bundleSeq!, query);
    }
    case "snapshotSession":
    case "sourceReplacement":
      expect(route).toBe("sync/snapshot-sessions");
      return decodeSnapshotCreateRequest(body);
    case "snapshotChunk":
      expect(route).toMatch(/^sync\/snapshot-sessions\/[^/]+$/);
      return decodeSnapshotChunkQuery(query);
    case "watch":
      expect(route).toBe("sync/watch");
      return decodeWatchQuery(query);
    default:
      throw new Error(`no decoder for operation ${request.operation}`);
  }
}

describe.skipIf(!available)(FILE, () => {
  for (const request of fixture?.cases ?? []) {
    contractCase(request.name, () => {
      const { expected } = request;
      expect(expected.sourceHeader).toBe(request.sourceId);
      expect(isValidSourceId(expected.sourceHeader)).toBe(true);
      const decoded = decodeAs(request);
      switch (request.operation) {
        case "connect":
          expect(decoded).toEqual({ has_local_pending_rows: request.args!.hasLocalPendingRows });
          break;
        case "pull":
          expect(decoded).toEqual({
            after_bundle_seq: request.args!.afterBundleSeq,
            max_bundles: request.args!.maxBundles,
            target_bundle_seq: request.args!.targetBundleSeq,
          });
          break;
        case "pushSessionCreate":
          expect(decoded).toMatchObject({
            source_bundle_id: request.args!.sourceBundleId,
            planned_row_count: request.args!.plannedRowCount,
            initialization_id: request.args!.initializationId,
          });
          break;
        case "committedRows":
          expect(decoded).toEqual({
            bundle_seq: request.args!.bundleSeq,
            after_row_ordinal: request.args!.afterRowOrdinal,
            max_rows: request.args!.maxRows,
          });
          break;
        case "snapshotChunk":
          expect(decoded).toEqual({
            after_row_ordinal: request.args!.afterRowOrdinal,
            max_rows: request.args!.maxRows,
            max_bytes: request.args!.maxBytes,
          });
          break;
        case "watch":
          expect(decoded).toEqual({ after_bundle_seq: request.args!.afterBundleSeq });
          break;
      }
      // Source identity travels in the header only: a body that carries it is refused.
      for (const member of expected.bodyMustNotContain ?? []) {
        if (expected.body !== null) expect(expected.body).not.toHaveProperty(member);
        if (!BODY_OPERATIONS.has(request.operation)) continue;
        const polluted = { ...request, expected: { ...expected, body: { ...expected.body, [member]: "x" } } };
        expect(() => decodeAs(polluted)).toThrow(OversyncError);
      }
    });
  }
});
