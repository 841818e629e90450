import { describe, expect, it } from "vitest";
import { DEFAULT_BUNDLE_LIMITS, serverFeatures } from "../capabilities.js";
import { ProtocolViolationError } from "../protocol-violation.js";
import { decodeCapabilitiesBody } from "./capabilities.js";
import { decodeCommittedRowsRequest, decodeCommittedRowsResponse } from "./committed-rows.js";
import { decodeConnectRequest, decodeConnectResponse } from "./connect.js";
import { decodePullQuery, decodePullResponse } from "./pull.js";
import {
  decodeDummySigninRequest,
  decodeRetentionFloorRequest,
  decodeWatchSubscribersQuery,
} from "./test-helpers.js";
import { decodeWatchQuery } from "./watch.js";

const row = (bundleSeq: number, op = "INSERT") => ({
  schema: "main",
  table: "users",
  key: { id: `user-${bundleSeq}` },
  op,
  row_version: bundleSeq,
  ...(op === "DELETE" ? {} : { payload: { id: `user-${bundleSeq}`, enabled: true, note: null } }),
});
const bundle = (seq: number) => ({
  bundle_seq: seq,
  source_id: "device-a",
  source_bundle_id: seq,
  rows: [row(seq)],
});

describe("connect", () => {
  it("decodes requests and responses with their resolution rules", () => {
    expect(decodeConnectRequest('{"has_local_pending_rows":true}')).toEqual({ has_local_pending_rows: true });
    expect(() => decodeConnectRequest('{"has_local_pending_rows":"yes"}')).toThrow(
      expect.objectContaining({ code: "connect_invalid" }),
    );
    expect(decodeConnectResponse({ resolution: "initialize_empty", initialization_id: "" }).resolution).toBe(
      "initialize_empty",
    );
    expect(() => decodeConnectResponse({ resolution: "initialize_local" })).toThrow(/initialization_id/);
    expect(() =>
      decodeConnectResponse({
        resolution: "remote_authoritative",
        initialization_id: "22222222-2222-4222-8222-222222222222",
      }),
    ).toThrow(/must be absent/);
    expect(() => decodeConnectResponse({ resolution: "later" })).toThrow(/resolution/);
  });
});

describe("pull", () => {
  it("accepts pages that reach stable and pages that promise more", () => {
    expect(
      decodePullResponse(
        { stable_bundle_seq: 2, bundles: [bundle(1), bundle(2)], has_more: false },
        { afterBundleSeq: 0 },
      ).bundles,
    ).toHaveLength(2);
    expect(
      decodePullResponse(
        { stable_bundle_seq: 5, bundles: [bundle(4)], has_more: true },
        { afterBundleSeq: 3, targetBundleSeq: 5 },
      ).has_more,
    ).toBe(true);
    expect(
      decodePullResponse({ stable_bundle_seq: 3, bundles: [], has_more: false }, { afterBundleSeq: 3 })
        .bundles,
    ).toEqual([]);
  });

  it("rejects orderings and ceilings the clients reject", () => {
    const reject = (body: object, after: number, target?: number) =>
      expect(() => decodePullResponse(body, { afterBundleSeq: after, targetBundleSeq: target })).toThrow(
        ProtocolViolationError,
      );
    reject({ stable_bundle_seq: 2, bundles: [bundle(2), bundle(1)], has_more: false }, 0);
    reject({ stable_bundle_seq: 2, bundles: [bundle(1)], has_more: false }, 1);
    reject({ stable_bundle_seq: 1, bundles: [bundle(2)], has_more: false }, 0);
    reject({ stable_bundle_seq: 4, bundles: [bundle(2)], has_more: false }, 0);
    reject({ stable_bundle_seq: 4, bundles: [], has_more: true }, 0);
    reject({ stable_bundle_seq: 4, bundles: [bundle(4)], has_more: false }, 0, 5);
    reject({ stable_bundle_seq: 1, bundles: [{ ...bundle(1), source_id: "has space" }], has_more: false }, 0);
    reject(
      {
        stable_bundle_seq: 1,
        bundles: [{ ...bundle(1), rows: [{ ...row(1), payload: undefined }] }],
        has_more: false,
      },
      0,
    );
  });

  it("reads pull queries", () => {
    expect(
      decodePullQuery(new URLSearchParams("after_bundle_seq=3&max_bundles=11&target_bundle_seq=14")),
    ).toEqual({
      after_bundle_seq: 3,
      max_bundles: 11,
      target_bundle_seq: 14,
    });
    expect(decodePullQuery(new URLSearchParams("target_bundle_seq=0"))).toEqual({ after_bundle_seq: 0 });
    expect(() => decodePullQuery(new URLSearchParams("after_bundle_seq=-1"))).toThrow(
      expect.objectContaining({
        code: "invalid_request",
        message: expect.stringMatching(/^after_bundle_seq: /),
      }),
    );
  });
});

describe("committed rows", () => {
  const committed = {
    bundle_seq: 9,
    source_id: "device-a",
    source_bundle_id: 3,
    row_count: 3,
    bundle_hash: "h",
    canonical_request_hash: "a".repeat(64),
  };
  const page = (rows: object[], next: number, hasMore: boolean) => ({
    ...committed,
    rows,
    next_row_ordinal: next,
    has_more: hasMore,
  });

  it("follows the last-returned-ordinal cursor, -1 before any row", () => {
    const first = decodeCommittedRowsResponse(page([row(9), row(9)], 1, true), {
      committed,
      afterRowOrdinal: undefined,
    });
    expect(first.rows).toHaveLength(2);
    expect(
      decodeCommittedRowsResponse(page([row(9, "DELETE")], 2, false), { committed, afterRowOrdinal: 1 })
        .rows[0]!.payload,
    ).toBeUndefined();
    expect(
      decodeCommittedRowsResponse(page([], -1, false), { committed, afterRowOrdinal: undefined }).rows,
    ).toEqual([]);
    expect(() =>
      decodeCommittedRowsResponse(page([], 0, false), { committed, afterRowOrdinal: undefined }),
    ).toThrow(/expected -1/);
    expect(() => decodeCommittedRowsResponse(page([], 4, true), { committed, afterRowOrdinal: 4 })).toThrow(
      /has_more=true/,
    );
  });

  it("compares the bundle identity and reports a request-hash change as a sequence mismatch", () => {
    expect(() =>
      decodeCommittedRowsResponse(
        { ...page([], -1, false), bundle_hash: "x" },
        { committed, afterRowOrdinal: undefined },
      ),
    ).toThrow(expect.objectContaining({ code: "invalid_response" }));
    expect(() =>
      decodeCommittedRowsResponse(
        { ...page([], -1, false), canonical_request_hash: "b".repeat(64) },
        { committed, afterRowOrdinal: undefined },
      ),
    ).toThrow(expect.objectContaining({ code: "source_sequence_mismatch" }));
  });

  it("reads the path and query", () => {
    expect(decodeCommittedRowsRequest("9", new URLSearchParams("after_row_ordinal=4&max_rows=17"))).toEqual({
      bundle_seq: 9,
      after_row_ordinal: 4,
      max_rows: 17,
    });
    expect(() => decodeCommittedRowsRequest("9", new URLSearchParams("max_rows=0"))).toThrow(
      expect.objectContaining({ code: "committed_bundle_chunk_invalid" }),
    );
  });
});

describe("capabilities", () => {
  const body = {
    protocol_version: "v1",
    schema_version: 1,
    app_name: "nethttp-server-example",
    registered_tables: ["main.users"],
    registered_table_specs: [{ schema: "main", table: "users", sync_key_columns: ["id"] }],
    features: serverFeatures({ bundleChangeWatch: true }),
    bundle_limits: DEFAULT_BUNDLE_LIMITS,
  };

  it("decodes what our server advertises", () => {
    expect(decodeCapabilitiesBody(JSON.stringify(body)).features.bundle_change_watch).toBe(true);
  });

  it("rejects non-boolean features, missing required limits, 32-bit overflow and duplicate members", () => {
    const reject = (text: string, pattern: RegExp) =>
      expect(() => decodeCapabilitiesBody(text)).toThrow(pattern);
    reject(
      JSON.stringify({ ...body, features: { connect_lifecycle: 1 } }),
      /features\.connect_lifecycle: must be a boolean/,
    );
    const { max_bytes_per_snapshot_row: _dropped, ...limits } = DEFAULT_BUNDLE_LIMITS;
    reject(
      JSON.stringify({ ...body, bundle_limits: limits }),
      /bundle_limits\.max_bytes_per_snapshot_row: is required/,
    );
    reject(
      JSON.stringify({
        ...body,
        bundle_limits: { ...DEFAULT_BUNDLE_LIMITS, max_rows_per_snapshot_chunk: 2147483648 },
      }),
      /exceeds the maximum 2147483647/,
    );
    reject(
      JSON.stringify(body).replace('"schema_version":1', '"schema_version":1,"schema_version":2'),
      /duplicate member/,
    );
  });
});

describe("watch and test-helper requests", () => {
  it("reads queries and bodies", () => {
    expect(decodeWatchQuery(new URLSearchParams("after_bundle_seq=12"))).toEqual({ after_bundle_seq: 12 });
    expect(() => decodeWatchQuery(new URLSearchParams("after_bundle_seq=x"))).toThrow(
      /after_bundle_seq must be a non-negative integer/,
    );
    expect(decodeDummySigninRequest('{"user":"u-1","password":"any","device":"dev-1"}').user).toBe("u-1");
    expect(() => decodeDummySigninRequest('{"password":"any"}')).toThrow(/^user: is required/);
    expect(
      decodeRetentionFloorRequest('{"user_id":"u","retained_bundle_floor":3}').retained_bundle_floor,
    ).toBe(3);
    expect(() => decodeRetentionFloorRequest('{"user_id":"u","retained_bundle_floor":-1}')).toThrow(
      expect.objectContaining({ code: "invalid_request" }),
    );
    expect(() => decodeWatchSubscribersQuery(new URLSearchParams(""))).toThrow(/^user_id: is required/);
  });
});
