/**
 * Arbitraries for valid wire bodies: each one satisfies every rule its decoder checks, so a valid
 * body must decode to itself, and mutations of it exercise the decoder's edges.
 */
import {
  type BundleRow,
  type ConnectResponse,
  ERROR_CODES,
  type ErrorCode,
  HIDDEN_SCOPE_COLUMN,
  INT32_MAX,
  INT64_LIMIT_NAMES,
  type LimitName,
  OPTIONAL_LIMIT_NAMES,
  type OversyncErrorExtras,
  type PushRow,
  REQUIRED_LIMIT_NAMES,
  SNAPSHOT_LIMIT_DIMENSIONS,
  SOURCE_REPLACEMENT_REASONS,
  userIdProblem,
} from "@oversync/protocol";
import fc from "fast-check";
import { trickyString, wellFormedString } from "./hostile-json.js";

/** A source id: visible ASCII. */
export const sourceId: fc.Arbitrary<string> = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
  minLength: 1,
  maxLength: 24,
});

/** A canonical lowercase dashed UUID. */
export const canonicalUuid: fc.Arbitrary<string> = fc.uuid().map((uuid) => uuid.toLowerCase());

/** 64 lowercase hex characters. */
export const sha256Hex: fc.Arbitrary<string> = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((bytes) => Buffer.from(bytes).toString("hex"));

/** A string with a non-whitespace character, any code units otherwise. */
export const nonBlank: fc.Arbitrary<string> = trickyString(12).filter((text) => text.trim().length > 0);

/** A user id a request may name: non-blank and within the identity rules (identity.ts). */
export const userId: fc.Arbitrary<string> = nonBlank.filter((id) => userIdProblem(id) === undefined);

/** Safe integers biased toward small values, ≥ `min`. */
export function safeInt(min: 0 | 1): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min, max: 1000 }), fc.integer({ min, max: Number.MAX_SAFE_INTEGER }));
}

/**
 * A member name that is not the hidden scope column. Names Object.prototype has are included;
 * "__proto__" is not: zod records skip that member on purpose (it would set the prototype), so a
 * body naming it cannot decode to itself.
 */
const columnName: fc.Arbitrary<string> = fc
  .oneof(wellFormedString(10), fc.constantFrom("constructor", "toString", "hasOwnProperty", "id"))
  .filter((name) => name !== HIDDEN_SCOPE_COLUMN && name !== "__proto__");

/** A row key: one member with a non-blank string. */
export const wireKey: fc.Arbitrary<Record<string, string>> = fc
  .tuple(columnName, nonBlank)
  .map(([name, value]) => ({ [name]: value }));

/** An uploaded payload: strings and nulls. */
export const uploadPayload: fc.Arbitrary<Record<string, string | null>> = fc.dictionary(
  columnName,
  fc.option(trickyString(12), { nil: null }),
  { maxKeys: 5 },
);

/** An authoritative payload: strings, booleans and nulls. */
export const authoritativePayload: fc.Arbitrary<Record<string, string | boolean | null>> = fc.dictionary(
  columnName,
  fc.oneof(trickyString(12), fc.boolean(), fc.constant(null)),
  { maxKeys: 5 },
);

const rowOp = fc.constantFrom("INSERT" as const, "UPDATE" as const, "DELETE" as const);

/** One uploaded row; DELETE leaves the payload out or sends null. */
export const pushRow: fc.Arbitrary<PushRow> = fc
  .record({
    schema: nonBlank,
    table: nonBlank,
    key: wireKey,
    op: rowOp,
    base_row_version: safeInt(0),
    payload: uploadPayload,
    deleteForm: fc.constantFrom("absent", "null"),
  })
  .map(({ deleteForm, payload, ...row }) =>
    row.op !== "DELETE" ? { ...row, payload } : deleteForm === "null" ? { ...row, payload: null } : row,
  );

/** One committed row. */
export const bundleRow: fc.Arbitrary<BundleRow> = fc
  .record({
    schema: nonBlank,
    table: nonBlank,
    key: wireKey,
    op: rowOp,
    row_version: safeInt(1),
    payload: authoritativePayload,
  })
  .map(({ payload, ...row }) => (row.op === "DELETE" ? row : { ...row, payload }));

/** The request bodies the server decodes. */
export const connectRequest = fc.record({ has_local_pending_rows: fc.boolean() });

export const pushCreateRequest = fc.record(
  {
    source_bundle_id: safeInt(1),
    planned_row_count: safeInt(1),
    canonical_request_hash: sha256Hex,
    initialization_id: fc.option(canonicalUuid, { nil: null }),
  },
  { requiredKeys: ["source_bundle_id", "planned_row_count", "canonical_request_hash"] },
);

export const pushChunkRequest = fc.record({
  start_row_ordinal: safeInt(0),
  rows: fc.array(pushRow, { minLength: 1, maxLength: 4 }),
});

export const snapshotCreateRequest = fc.oneof(
  fc.constant({}),
  fc
    .record({
      previous_source_id: sourceId,
      new_source_id: sourceId,
      reason: fc.constantFrom(...SOURCE_REPLACEMENT_REASONS),
    })
    .filter((replacement) => replacement.previous_source_id !== replacement.new_source_id)
    .map((source_replacement) => ({ source_replacement })),
);

export const dummySigninRequest = fc.record(
  { user: userId, password: trickyString(12), device: trickyString(12) },
  { requiredKeys: ["user", "password"] },
);

export const retentionFloorRequest = fc.record({ user_id: userId, retained_bundle_floor: safeInt(0) });

/** A canonical query integer as text. */
export function queryIntText(min: 0 | 1): fc.Arbitrary<string> {
  return safeInt(min).map(String);
}

/** A connect response as the decoder accepts it. */
export const connectResponse: fc.Arbitrary<ConnectResponse> = fc
  .record(
    {
      resolution: fc.constantFrom(
        "initialize_local" as const,
        "initialize_empty" as const,
        "remote_authoritative" as const,
        "retry_later" as const,
      ),
      initialization_id: canonicalUuid,
      emptyId: fc.boolean(),
      lease_expires_at: trickyString(12),
      retry_after_seconds: safeInt(0),
    },
    { requiredKeys: ["resolution", "initialization_id", "emptyId"] },
  )
  .map(({ initialization_id, emptyId, ...response }) => {
    if (response.resolution === "initialize_local") return { ...response, initialization_id };
    return emptyId ? { ...response, initialization_id: "" } : response;
  });

/** A `bundle_limits` object within the widths clients decode. */
export const bundleLimits: fc.Arbitrary<Record<string, number>> = fc
  .record(
    Object.fromEntries(
      [...REQUIRED_LIMIT_NAMES, ...OPTIONAL_LIMIT_NAMES].map((name) => [
        name,
        INT64_LIMIT_NAMES.has(name as LimitName) ? safeInt(0) : fc.integer({ min: 0, max: INT32_MAX }),
      ]),
    ),
    { requiredKeys: [...REQUIRED_LIMIT_NAMES] },
  )
  .map((limits) => limits as Record<string, number>);

/** A capabilities body (protocol_version v1). */
export const capabilitiesBody = fc.record(
  {
    protocol_version: fc.constant("v1"),
    schema_version: fc.integer({ min: -(2 ** 31), max: INT32_MAX }),
    registered_table_specs: fc.array(
      fc.record({
        schema: trickyString(8),
        table: trickyString(8),
        sync_key_columns: fc.array(trickyString(8)),
      }),
      { maxLength: 3 },
    ),
    // zod records skip a "__proto__" member (see columnName), so no feature is named that.
    features: fc.dictionary(
      wellFormedString(12).filter((name) => name !== "__proto__"),
      fc.boolean(),
      {
        maxKeys: 5,
      },
    ),
    bundle_limits: bundleLimits,
    app_name: trickyString(12),
    registered_tables: fc.array(trickyString(8), { maxLength: 3 }),
  },
  {
    requiredKeys: [
      "protocol_version",
      "schema_version",
      "registered_table_specs",
      "features",
      "bundle_limits",
    ],
  },
);

/** An RFC 3339 instant between years 0001 and 9999, with Z or a numeric offset and 0–9 fraction digits. */
export const rfc3339Instant: fc.Arbitrary<string> = fc
  .record({
    millis: fc.integer({ min: Date.UTC(1, 0, 1), max: Date.UTC(9999, 11, 31) }),
    fraction: fc.string({ unit: fc.constantFrom(..."0123456789"), maxLength: 9 }),
    offset: fc.oneof(
      fc.constant("Z"),
      fc
        .tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
        .map(([sign, h, m]) => `${sign}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`),
    ),
  })
  .map(({ millis, fraction, offset }) => {
    const date = new Date(millis);
    const year = String(date.getUTCFullYear()).padStart(4, "0");
    const rest = date.toISOString().slice(-20, -5);
    return `${year}${rest}${fraction === "" ? "" : `.${fraction}`}${offset}`;
  });

/** A snapshot session body: rows need a positive bundle seq, and bytes exactly when rows. */
export const snapshotSession = fc
  .record({
    snapshot_id: nonBlank,
    snapshot_bundle_seq: safeInt(1),
    row_count: safeInt(1),
    byte_count: safeInt(1),
    expires_at: rfc3339Instant,
    empty: fc.boolean(),
  })
  .map(({ empty, ...session }) => (empty ? { ...session, row_count: 0, byte_count: 0 } : session));

/** An error code with extras its schema accepts, as a server sends it. */
export const errorWithExtras: fc.Arbitrary<{
  code: ErrorCode;
  message: string;
  extras: OversyncErrorExtras;
}> = fc
  .constantFrom(...ERROR_CODES)
  .chain((code) =>
    fc.record({ code: fc.constant(code), message: trickyString(40), extras: extrasFor(code) }),
  );

function extrasFor(code: ErrorCode): fc.Arbitrary<OversyncErrorExtras> {
  switch (code) {
    case "push_conflict":
      return fc.record(
        {
          conflict: fc.record(
            {
              schema: nonBlank,
              table: nonBlank,
              key: wireKey,
              op: rowOp,
              base_row_version: safeInt(0),
              server_row_version: safeInt(0),
              server_row_deleted: fc.boolean(),
              server_row: fc.option(authoritativePayload, { nil: null }),
            },
            {
              requiredKeys: [
                "schema",
                "table",
                "key",
                "op",
                "base_row_version",
                "server_row_version",
                "server_row_deleted",
              ],
            },
          ),
        },
        { requiredKeys: [] },
      );
    case "source_retired":
      return fc.record(
        { source_id: sourceId, replaced_by_source_id: sourceId },
        { requiredKeys: ["source_id"] },
      );
    case "snapshot_session_limit_exceeded":
      return fc
        .record({
          dimension: fc.constantFrom(...SNAPSHOT_LIMIT_DIMENSIONS),
          limit: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 1 }),
          over: safeInt(1),
        })
        .map(({ dimension, limit, over }) => ({
          dimension,
          limit,
          actual: Math.min(limit + over, Number.MAX_SAFE_INTEGER),
        }));
    case "snapshot_chunk_too_small":
      return fc.record({ required_byte_count: safeInt(1) });
    default:
      return fc.constant({});
  }
}
