import {
  OversyncError,
  ProtocolViolationError,
  type SnapshotSession,
  decodeErrorBody,
  decodePullResponse,
  decodeSnapshotChunkBody,
  decodeSnapshotCreateRequest,
  decodeSnapshotSessionBody,
  snapshotRowJson,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

const FILE = "pull-snapshot/basic.json";

interface ErrorResponse {
  status: number;
  body: unknown;
}
interface ChunkFixture {
  rows: {
    schema: string;
    table: string;
    key: Record<string, string>;
    row_version: number;
    payload: Record<string, string>;
  }[];
  byte_count: number;
}
interface PullSnapshotCase {
  name: string;
  afterBundleSeq?: number;
  pullResponse?: unknown;
  snapshotSession?: unknown;
  snapshotChunkResponse?: ChunkFixture;
  snapshotSessionCreateRequest?: unknown;
  historyPrunedResponse?: ErrorResponse;
  checkpointAheadResponse?: ErrorResponse;
  sourceReplacementInvalidResponse?: ErrorResponse;
  expectedPullErrorContains?: string;
  expectedSnapshotSessionErrorContains?: string;
  expectedSnapshotChunkErrorContains?: string;
}

const available = requireContracts();
const fixture = available ? readContract<{ cases: PullSnapshotCase[] }>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

/** Runs `decode`; with a fragment it must throw a ProtocolViolationError containing it, else succeed. */
function expectOutcome<T>(decode: () => T, fragment: string | undefined): T | undefined {
  if (fragment === undefined) return decode();
  expect(decode).toThrow(ProtocolViolationError);
  expect(decode).toThrow(fragment);
  return undefined;
}

/** The client's default chunk request sizes (1000 rows, 4 MiB). */
const CHUNK_LIMITS = { maxRows: 1000, maxBytes: 4194304 };

describe.skipIf(!available)(FILE, () => {
  for (const testCase of fixture?.cases ?? []) {
    contractCase(testCase.name, () => {
      if (testCase.pullResponse !== undefined) {
        expectOutcome(
          () => decodePullResponse(testCase.pullResponse, { afterBundleSeq: testCase.afterBundleSeq ?? 0 }),
          testCase.expectedPullErrorContains,
        );
      }
      for (const [response, code] of [
        [testCase.historyPrunedResponse, "history_pruned"],
        [testCase.checkpointAheadResponse, "checkpoint_ahead"],
        [testCase.sourceReplacementInvalidResponse, "source_replacement_invalid"],
      ] as const) {
        if (response === undefined) continue;
        const error = decodeErrorBody(response.status, response.body);
        expect(error).toBeInstanceOf(OversyncError);
        expect(error.code).toBe(code);
      }
      if (testCase.snapshotSessionCreateRequest !== undefined) {
        decodeSnapshotCreateRequest(JSON.stringify(testCase.snapshotSessionCreateRequest));
      }
      let session: SnapshotSession | undefined;
      if (testCase.snapshotSession !== undefined) {
        session = expectOutcome(
          () => decodeSnapshotSessionBody(JSON.stringify(testCase.snapshotSession)),
          testCase.expectedSnapshotSessionErrorContains,
        );
      }
      const chunk = testCase.snapshotChunkResponse;
      if (chunk !== undefined) {
        // The fixture's members are in wire order, so compact JSON is the body a server sends.
        const body = JSON.stringify(chunk);
        const context = { session: session!, afterRowOrdinal: 0, bytesBefore: 0, ...CHUNK_LIMITS };
        expectOutcome(
          () => decodeSnapshotChunkBody(body, context),
          testCase.expectedSnapshotChunkErrorContains,
        );
        // §3.4 byte vectors: a single row's byte_count is its compact row text in wire member order.
        if (chunk.rows.length === 1)
          expect(snapshotRowJson(chunk.rows[0]!).byteLength).toBe(chunk.byte_count);
      }
    });
  }

  contractCase("single-row byte_count vectors 130/115/116/136/110", () => {
    const vectors = (fixture?.cases ?? [])
      .filter((testCase) => testCase.snapshotChunkResponse?.rows.length === 1)
      .map((testCase) => snapshotRowJson(testCase.snapshotChunkResponse!.rows[0]!).byteLength);
    expect(new Set(vectors)).toEqual(new Set([130, 115, 116, 136, 110]));
  });
});
