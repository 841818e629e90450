import { describe, expect, it } from "vitest";
import { OversyncError } from "../errors.js";
import { ProtocolViolationError } from "../protocol-violation.js";
import {
  decodePushChunkRequest,
  decodePushCommitResponse,
  decodePushCreateRequest,
  decodePushCreateResponse,
} from "./push.js";

const hash = "a".repeat(64);
const insert = {
  schema: "main",
  table: "users",
  key: { id: "user-1" },
  op: "INSERT",
  base_row_version: 0,
  payload: { id: "user-1", name: "Ada" },
};

function chunkError(rows: unknown[], extra: Record<string, unknown> = {}): OversyncError {
  try {
    decodePushChunkRequest(JSON.stringify({ start_row_ordinal: 0, rows, ...extra }));
  } catch (error) {
    if (error instanceof OversyncError) return error;
    throw error;
  }
  throw new Error("expected the chunk to be rejected");
}

describe("request validators name the field that is wrong", () => {
  it("wrong type", () => {
    const error = chunkError([{ ...insert, base_row_version: "0" }]);
    expect(error.code).toBe("push_chunk_invalid");
    expect(error.status).toBe(400);
    expect(error.message).toBe("rows[0].base_row_version: must be a number, got a string");
  });

  it("missing required field", () => {
    const { key: _key, ...withoutKey } = insert;
    expect(chunkError([insert, withoutKey]).message).toBe("rows[1].key: is required but missing");
  });

  it("unknown enum value", () => {
    expect(chunkError([{ ...insert, op: "UPSERT" }]).message).toMatch(
      /^rows\[0\]\.op: Invalid option: expected one of "INSERT"\|"UPDATE"\|"DELETE"/,
    );
  });

  it("64-bit integer beyond the safe range", () => {
    // Written as wire text: the literal cannot be a JavaScript number without losing digits.
    const body = JSON.stringify({ start_row_ordinal: 0, rows: [insert] }).replace(
      '"base_row_version":0',
      '"base_row_version":9223372036854775807',
    );
    expect(() => decodePushChunkRequest(body)).toThrow(
      /^rows\[0\]\.base_row_version: .*beyond ±\(2\^53−1\).*cannot be represented exactly/,
    );
    const create = () =>
      decodePushCreateRequest(
        `{"source_bundle_id":9007199254740993,"planned_row_count":1,"canonical_request_hash":"${hash}"}`,
      );
    expect(create).toThrow(/^source_bundle_id: .*cannot be represented exactly/);
  });

  it("unknown member", () => {
    expect(chunkError([{ ...insert, source_id: "x" }]).message).toBe(
      "rows[0].source_id: is not a known member",
    );
    expect(chunkError([insert], { source_id: "x" }).message).toBe("source_id: is not a known member");
  });
});

describe("push chunk request", () => {
  it("accepts DELETE rows without payload or with payload null", () => {
    const del = { schema: "main", table: "users", key: { id: "u" }, op: "DELETE", base_row_version: 3 };
    const decoded = decodePushChunkRequest(
      JSON.stringify({ start_row_ordinal: 4, rows: [del, { ...del, payload: null }] }),
    );
    expect(decoded.rows).toHaveLength(2);
  });

  it("rejects payload rules, values that are not strings, bad keys and empty chunks", () => {
    expect(chunkError([{ ...insert, op: "DELETE" }]).message).toBe(
      "rows[0].payload: payload must be absent or null for DELETE",
    );
    expect(chunkError([{ ...insert, payload: null }]).message).toBe(
      "rows[0].payload: payload is required for INSERT",
    );
    expect(chunkError([{ ...insert, payload: { id: "user-1", count: 42 } }]).message).toMatch(
      /^rows\[0\]\.payload\.count: /,
    );
    expect(chunkError([{ ...insert, payload: { id: "u", _sync_scope_id: "x" } }]).message).toMatch(
      /_sync_scope_id/,
    );
    expect(chunkError([{ ...insert, key: { id: "u", other: "v" } }]).message).toMatch(
      /^rows\[0\]\.key: key must have exactly one member/,
    );
    expect(chunkError([{ ...insert, key: { id: 5 } }]).message).toMatch(
      /^rows\[0\]\.key\.id: must be a string/,
    );
    expect(chunkError([{ ...insert, key: { id: " " } }]).message).toMatch(
      /^rows\[0\]\.key\.id: key value must be a non-empty string/,
    );
    expect(chunkError([]).message).toBe("rows: rows must not be empty");
    expect(chunkError([insert], { start_row_ordinal: -1 }).message).toBe(
      "start_row_ordinal: start_row_ordinal -1 must be non-negative",
    );
  });

  it("answers unparseable bodies with invalid_request", () => {
    expect(() => decodePushChunkRequest("{")).toThrow(expect.objectContaining({ code: "invalid_request" }));
  });
});

describe("push create request", () => {
  it("accepts initialization_id absent, null or canonical", () => {
    const base = { source_bundle_id: 7, planned_row_count: 2, canonical_request_hash: hash };
    expect(decodePushCreateRequest(JSON.stringify(base)).initialization_id).toBeUndefined();
    expect(
      decodePushCreateRequest(JSON.stringify({ ...base, initialization_id: null })).initialization_id,
    ).toBeUndefined();
    const id = "22222222-2222-4222-8222-222222222222";
    expect(
      decodePushCreateRequest(JSON.stringify({ ...base, initialization_id: id })).initialization_id,
    ).toBe(id);
  });

  it("rejects non-canonical tokens and hashes with push_session_invalid", () => {
    const base = { source_bundle_id: 7, planned_row_count: 2, canonical_request_hash: hash };
    const bad = (body: object) => () => decodePushCreateRequest(JSON.stringify(body));
    expect(bad({ ...base, initialization_id: "22222222-2222-4222-8222-22222222222A" })).toThrow(
      expect.objectContaining({
        code: "push_session_invalid",
        message: expect.stringMatching(/^initialization_id: /),
      }),
    );
    expect(bad({ ...base, canonical_request_hash: hash.toUpperCase() })).toThrow(/^canonical_request_hash: /);
    expect(bad({ ...base, planned_row_count: 0 })).toThrow(
      "planned_row_count: planned_row_count 0 must be positive",
    );
  });
});

describe("push responses", () => {
  const request = { source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: hash };

  it("reports a differing request hash as a source sequence mismatch", () => {
    const staging = {
      status: "staging",
      push_id: "11111111-1111-4111-8111-111111111111",
      planned_row_count: 1,
    };
    expect(decodePushCreateResponse({ ...staging, canonical_request_hash: hash }, request, "s").status).toBe(
      "staging",
    );
    expect(() =>
      decodePushCreateResponse({ ...staging, canonical_request_hash: "b".repeat(64) }, request, "s"),
    ).toThrow(expect.objectContaining({ code: "source_sequence_mismatch" }));
  });

  it("requires staging push_id to be a canonical token and next_expected_row_ordinal 0", () => {
    const staging = { status: "staging", planned_row_count: 1, canonical_request_hash: hash };
    expect(() => decodePushCreateResponse({ ...staging, push_id: "not-a-uuid" }, request, "s")).toThrow(
      /push_id/,
    );
    expect(() =>
      decodePushCreateResponse(
        { ...staging, push_id: "11111111-1111-4111-8111-111111111111", next_expected_row_ordinal: 1 },
        request,
        "s",
      ),
    ).toThrow(/must be 0/);
    expect(() => decodePushCreateResponse({ ...staging, status: "pending" }, request, "s")).toThrow(/status/);
  });

  it("checks commit answers against the session", () => {
    const commit = {
      bundle_seq: 1,
      source_id: "source-fixture",
      source_bundle_id: 1,
      row_count: 1,
      bundle_hash: "h",
      canonical_request_hash: hash,
    };
    expect(decodePushCommitResponse(commit, { sourceId: "source-fixture", sourceBundleId: 1 })).toEqual(
      commit,
    );
    expect(() => decodePushCommitResponse(commit, { sourceId: "other", sourceBundleId: 1 })).toThrow(
      ProtocolViolationError,
    );
    expect(() =>
      decodePushCommitResponse(
        { ...commit, bundle_hash: "" },
        { sourceId: "source-fixture", sourceBundleId: 1 },
      ),
    ).toThrow(/bundle_hash/);
  });
});
