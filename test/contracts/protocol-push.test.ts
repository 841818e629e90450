import {
  type CommittedBundleIdentity,
  OversyncError,
  type PushCreateRequest,
  decodeCommittedRowsResponse,
  decodeErrorBody,
  decodePushChunkRequest,
  decodePushChunkResponse,
  decodePushCommitResponse,
  decodePushCreateRequest,
  decodePushCreateResponse,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

const FILE = "push/basic-insert.json";
/** The header source the fixture's committed answers name. */
const SOURCE_ID = "source-fixture";

interface PushCase {
  name: string;
  pushSessionCreateRequest?: unknown;
  pushSessionCreateResponse?: unknown;
  pushChunkRequest?: unknown;
  pushChunkResponse?: unknown;
  pushCommitResponse?: unknown;
  committedBundleRowsResponse?: unknown;
  pushConflictResponse?: unknown;
  expectedFinalState: { error?: string };
}

const available = requireContracts();
const fixture = available ? readContract<{ cases: PushCase[] }>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

describe.skipIf(!available)(FILE, () => {
  for (const push of fixture?.cases ?? []) {
    // Bodies decode with the protocol validators; placeholder bundle hashes are not recomputed.
    contractCase(push.name, () => {
      let request: PushCreateRequest | undefined;
      let committed: CommittedBundleIdentity | undefined;
      if (push.pushSessionCreateRequest !== undefined) {
        request = decodePushCreateRequest(JSON.stringify(push.pushSessionCreateRequest));
      }
      let pushId: string | undefined;
      if (push.pushSessionCreateResponse !== undefined) {
        const decode = () => decodePushCreateResponse(push.pushSessionCreateResponse, request!, SOURCE_ID);
        if (push.expectedFinalState.error === "source_sequence_mismatch") {
          expect(decode).toThrow(expect.objectContaining({ code: "source_sequence_mismatch" }));
          // The answer itself is well formed: only its stored hash differs from the prepared one.
          const stored = {
            ...request!,
            canonical_request_hash: (push.pushSessionCreateResponse as PushCreateRequest)
              .canonical_request_hash,
          };
          const response = decodePushCreateResponse(push.pushSessionCreateResponse, stored, SOURCE_ID);
          if (response.status === "already_committed") committed = response;
        } else {
          const response = decode();
          if (response.status === "staging") pushId = response.push_id;
          else committed = response;
        }
      }
      if (push.pushChunkRequest !== undefined) {
        const chunk = decodePushChunkRequest(JSON.stringify(push.pushChunkRequest));
        decodePushChunkResponse(push.pushChunkResponse, {
          pushId: pushId!,
          startRowOrdinal: chunk.start_row_ordinal,
          rowCount: chunk.rows.length,
        });
      }
      if (push.pushCommitResponse !== undefined) {
        // Without a create request in the case, the local outbox holds source bundle 1.
        committed = decodePushCommitResponse(push.pushCommitResponse, {
          sourceId: SOURCE_ID,
          sourceBundleId: request?.source_bundle_id ?? 1,
        });
      }
      if (push.committedBundleRowsResponse !== undefined) {
        const page = decodeCommittedRowsResponse(push.committedBundleRowsResponse, {
          committed: committed!,
          afterRowOrdinal: undefined,
        });
        expect(page.has_more).toBe(false);
      }
      if (push.pushConflictResponse !== undefined) {
        const error = decodeErrorBody(409, push.pushConflictResponse);
        expect(error).toBeInstanceOf(OversyncError);
        expect((error as OversyncError).code).toBe("push_conflict");
        expect((error as OversyncError).extras.conflict).toBeDefined();
      }
    });
  }
});
