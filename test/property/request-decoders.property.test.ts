/**
 * The server's request decoders (protocol wire/*.ts) under random and mutated bodies, query strings
 * and path segments: they refuse only with OversyncError carrying the endpoint's documented 400
 * code, they accept exactly what the protocol grammar allows where that grammar is simple enough to
 * restate, and a valid request decodes to itself.
 */
import {
  type ErrorCode,
  OversyncError,
  decodeCommittedRowsRequest,
  decodeConnectRequest,
  decodeDummySigninRequest,
  decodePullQuery,
  decodePushChunkRequest,
  decodePushCreateRequest,
  decodeRetentionFloorRequest,
  decodeSnapshotChunkQuery,
  decodeSnapshotCreateRequest,
  decodeWatchQuery,
  decodeWatchSubscribersQuery,
  userIdProblem,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { safeDecode } from "../../packages/protocol/src/wire/shared.js";
import { isPlainPushChunkRequest, pushChunkRequestSchema } from "../../packages/protocol/src/wire/push.js";
import {
  edgeNumberToken,
  hostileBody,
  hostileJson,
  hostileValue,
  render,
  textOf,
  trickyString,
} from "./hostile-json.js";
import { runs } from "./property-runs.js";
import {
  connectRequest,
  dummySigninRequest,
  pushChunkRequest,
  pushCreateRequest,
  queryIntText,
  retentionFloorRequest,
  snapshotCreateRequest,
} from "./valid-wire.js";

/** Calls `decode` and returns the OversyncError it refused with, or undefined when it accepted. */
function refusal(decode: () => unknown): OversyncError | undefined {
  try {
    decode();
    return undefined;
  } catch (error) {
    if (error instanceof OversyncError) return error;
    throw error;
  }
}

/** Asserts `error` is one of `codes`, sent as a 400 with a message. */
function expectRefusedWith(error: OversyncError, codes: readonly ErrorCode[]): void {
  expect(codes).toContain(error.code);
  expect(error.status).toBe(400);
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.toErrorBody()).toStrictEqual({ error: error.code, message: error.message });
}

interface BodyDecoder {
  readonly name: string;
  readonly decode: (body: string) => unknown;
  readonly valid: fc.Arbitrary<Record<string, unknown>>;
  /** The code a schema violation gets. */
  readonly invalidCode: ErrorCode;
  /** The code text that is not JSON gets. */
  readonly unparseableCode: ErrorCode;
  /** Members a body must have. */
  readonly required: readonly string[];
  /** What a valid body decodes to. */
  readonly expected?: (body: Record<string, unknown>) => unknown;
}

const BODY_DECODERS: readonly BodyDecoder[] = [
  {
    name: "connect",
    decode: decodeConnectRequest,
    valid: connectRequest,
    invalidCode: "connect_invalid",
    unparseableCode: "invalid_request",
    required: ["has_local_pending_rows"],
  },
  {
    name: "push session create",
    decode: decodePushCreateRequest,
    valid: pushCreateRequest,
    invalidCode: "push_session_invalid",
    unparseableCode: "invalid_request",
    required: ["source_bundle_id", "planned_row_count", "canonical_request_hash"],
    // A null initialization_id is read as absent.
    expected: (body) => ({ ...body, initialization_id: body.initialization_id ?? undefined }),
  },
  {
    name: "push chunk",
    decode: decodePushChunkRequest,
    valid: pushChunkRequest,
    invalidCode: "push_chunk_invalid",
    unparseableCode: "invalid_request",
    required: ["start_row_ordinal", "rows"],
  },
  {
    name: "snapshot session create",
    decode: decodeSnapshotCreateRequest,
    valid: snapshotCreateRequest,
    invalidCode: "snapshot_session_invalid",
    unparseableCode: "snapshot_session_invalid",
    required: [],
  },
  {
    name: "dummy sign-in",
    decode: decodeDummySigninRequest,
    valid: dummySigninRequest,
    invalidCode: "invalid_request",
    unparseableCode: "invalid_request",
    required: ["user", "password"],
  },
  {
    name: "retention floor",
    decode: decodeRetentionFloorRequest,
    valid: retentionFloorRequest,
    invalidCode: "invalid_request",
    unparseableCode: "invalid_request",
    required: ["user_id", "retained_bundle_floor"],
  },
];

describe.each(BODY_DECODERS)("$name request body", (decoder) => {
  const codes = [decoder.invalidCode, decoder.unparseableCode];

  it("refuses any random or mutated body only with its documented 400 codes", () => {
    fc.assert(
      fc.property(hostileBody(decoder.valid), (body) => {
        const error = refusal(() => decoder.decode(body));
        if (error !== undefined) expectRefusedWith(error, codes);
      }),
      runs(400),
    );
  });

  it("decodes every valid body to itself", () => {
    fc.assert(
      fc.property(decoder.valid, (body) => {
        expect(decoder.decode(JSON.stringify(body))).toEqual(decoder.expected?.(body) ?? body);
      }),
      runs(200),
    );
  });

  it("refuses text that is not JSON with the unparseable code", () => {
    fc.assert(
      fc.property(decoder.valid, fc.nat(), (body, at) => {
        const text = JSON.stringify(body);
        // Any proper prefix of a JSON object is incomplete; an empty one is a plain snapshot create.
        const cut = text.slice(0, at % text.length);
        fc.pre(cut.trim() !== "" || decoder.name !== "snapshot session create");
        const error = refusal(() => decoder.decode(cut));
        expect(error?.code).toBe(decoder.unparseableCode);
      }),
      runs(100),
    );
  });

  // The snapshot create body has no required member, so it gets no such test.
  if (decoder.required.length > 0) {
    it("refuses a body missing a required member", () => {
      fc.assert(
        fc.property(decoder.valid, fc.constantFrom(...decoder.required), (body, member) => {
          const { [member]: _dropped, ...rest } = body;
          expect(refusal(() => decoder.decode(JSON.stringify(rest)))?.code).toBe(decoder.invalidCode);
        }),
        runs(100),
      );
    });
  }

  it("refuses a member of the wrong JSON type", () => {
    fc.assert(
      fc.property(decoder.valid, fc.nat(), hostileValue, (body, pick, value) => {
        const names = Object.keys(body);
        fc.pre(names.length > 0);
        const member = names[pick % names.length]!;
        const replaced = JSON.parse(render(value)) as unknown;
        // Only a value of another JSON type is sure to be wrong (a string may be a valid string).
        fc.pre(jsonType(replaced) !== jsonType(body[member]));
        // Optional members may be null (initialization_id): null replacing one, or a valid value
        // replacing a null, is not wrong.
        fc.pre(!decoder.required.includes(member) ? replaced !== null && body[member] !== null : true);
        const text = render({
          kind: "object",
          members: Object.entries(body).map(
            ([name, v]) => [name, name === member ? value : textOf(v)] as const,
          ),
        });
        expect(refusal(() => decoder.decode(text))?.code).toBe(decoder.invalidCode);
      }),
      runs(200),
    );
  });

  it("refuses an unknown member", () => {
    fc.assert(
      fc.property(decoder.valid, trickyString(12), hostileValue, (body, name, value) => {
        fc.pre(!Object.hasOwn(body, name) && name !== "__proto__" && !KNOWN_MEMBERS.has(name));
        const text = render({
          kind: "object",
          members: [...Object.entries(body).map(([n, v]) => [n, textOf(v)] as const), [name, value]],
        });
        expect(refusal(() => decoder.decode(text))?.code).toBe(decoder.invalidCode);
      }),
      runs(100),
    );
  });
});

/** Every top-level member name any request body defines, so "unknown" really is unknown. */
const KNOWN_MEMBERS = new Set([
  "has_local_pending_rows",
  "source_bundle_id",
  "planned_row_count",
  "canonical_request_hash",
  "initialization_id",
  "start_row_ordinal",
  "rows",
  "source_replacement",
  "user",
  "password",
  "device",
  "user_id",
  "retained_bundle_floor",
]);

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** A query parameter rule: integer bounds, or a user id. */
type QueryRule = "non_negative" | "positive" | "user_id";

interface QueryDecoder {
  readonly name: string;
  readonly decode: (params: URLSearchParams) => Record<string, unknown>;
  readonly code: ErrorCode;
  readonly params: Readonly<Record<string, QueryRule>>;
  readonly required: readonly string[];
}

const QUERY_DECODERS: readonly QueryDecoder[] = [
  {
    name: "pull",
    decode: decodePullQuery,
    code: "invalid_request",
    params: { after_bundle_seq: "non_negative", max_bundles: "positive", target_bundle_seq: "non_negative" },
    required: [],
  },
  {
    name: "watch",
    decode: decodeWatchQuery,
    code: "invalid_request",
    params: { after_bundle_seq: "non_negative" },
    required: [],
  },
  {
    name: "snapshot chunk",
    decode: decodeSnapshotChunkQuery,
    code: "snapshot_chunk_invalid",
    params: { after_row_ordinal: "non_negative", max_rows: "positive", max_bytes: "positive" },
    required: [],
  },
  {
    name: "committed rows",
    decode: (params) => decodeCommittedRowsRequest("1", params),
    code: "committed_bundle_chunk_invalid",
    params: { after_row_ordinal: "non_negative", max_rows: "positive" },
    required: [],
  },
  {
    name: "watch subscribers",
    decode: decodeWatchSubscribersQuery,
    code: "invalid_request",
    params: { user_id: "user_id" },
    required: ["user_id"],
  },
];

/** Whether `value` satisfies `rule` as the protocol states it. */
function satisfies(rule: QueryRule, value: string): boolean {
  if (rule === "user_id") return value.trim() !== "" && userIdProblem(value) === undefined;
  if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(Number(value))) return false;
  return rule === "non_negative" || Number(value) > 0;
}

/** A query value: canonical integers, near misses, edge numbers, random text. */
const queryValue = fc.oneof(
  queryIntText(0),
  queryIntText(1),
  edgeNumberToken,
  fc.constantFrom("", " ", "+1", "01", "1.0", "0x1", "1e3", "-0", "١", "9007199254740992", "NaN"),
  trickyString(8),
);

describe.each(QUERY_DECODERS)("$name query", (decoder) => {
  const names = Object.keys(decoder.params);
  const pairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...names), trickyString(6)), queryValue), {
    maxLength: 6,
  });

  // Unknown parameters are ignored even when repeated: proxies and caches add their own.
  it("accepts exactly the queries whose known parameters appear once with valid values", () => {
    fc.assert(
      fc.property(pairs, (entries) => {
        const params = new URLSearchParams();
        for (const [name, value] of entries) params.append(name, value);
        const known = [...params].filter(([name]) => Object.hasOwn(decoder.params, name));
        const unique = new Set(known.map(([name]) => name)).size === known.length;
        const valid =
          unique &&
          known.every(([name, value]) => satisfies(decoder.params[name]!, value)) &&
          decoder.required.every((name) => params.has(name));
        const error = refusal(() => decoder.decode(params));
        if (error !== undefined) expectRefusedWith(error, [decoder.code]);
        expect(error === undefined).toBe(valid);
        if (error === undefined) {
          const decoded = decoder.decode(params);
          for (const [name, value] of known) {
            const expected = decoder.params[name] === "user_id" ? value : Number(value);
            // target_bundle_seq=0 means "no target".
            if (!(name === "target_bundle_seq" && value === "0")) expect(decoded[name]).toBe(expected);
          }
        }
      }),
      runs(400),
    );
  });

  it("refuses only with its code whatever the raw query string", () => {
    fc.assert(
      fc.property(trickyString(40), (query) => {
        const error = refusal(() => decoder.decode(new URLSearchParams(query)));
        if (error !== undefined) expectRefusedWith(error, [decoder.code]);
      }),
      runs(200),
    );
  });
});

describe("push chunk fast path", () => {
  it("takes a chunk only when the schema accepts it unchanged", () => {
    fc.assert(
      fc.property(hostileJson(pushChunkRequest), (json) => {
        if (!isPlainPushChunkRequest(json)) return;
        const decoded = safeDecode(pushChunkRequestSchema, json);
        expect(decoded.ok).toBe(true);
        expect(decoded.ok && decoded.value).toStrictEqual(json);
      }),
      runs(1000),
    );
  });

  it("takes every valid chunk", () => {
    fc.assert(
      fc.property(pushChunkRequest, (body) => {
        expect(isPlainPushChunkRequest(JSON.parse(JSON.stringify(body)))).toBe(true);
      }),
      runs(200),
    );
  });
});

describe("committed rows path segment", () => {
  it("accepts exactly a positive safe integer without leading zeros", () => {
    fc.assert(
      fc.property(fc.oneof(queryIntText(0), queryValue, trickyString(8)), (segment) => {
        const error = refusal(() => decodeCommittedRowsRequest(segment, new URLSearchParams()));
        if (error !== undefined) expectRefusedWith(error, ["committed_bundle_chunk_invalid"]);
        const valid = /^[1-9][0-9]*$/.test(segment) && Number.isSafeInteger(Number(segment));
        expect(error === undefined).toBe(valid);
        if (valid)
          expect(decodeCommittedRowsRequest(segment, new URLSearchParams()).bundle_seq).toBe(Number(segment));
      }),
      runs(300),
    );
  });
});
