/**
 * The client's response decoders (protocol wire/*.ts, errors.ts) under random and mutated bodies:
 * they fail only with ProtocolViolationError, a valid body decodes to itself (through the server's
 * own encoders where there is one: formatSnapshotChunkBody, snapshotRowJson, toErrorBody), and the
 * rules that protect the client (strict members, byte accounting, ordering) refuse what breaks them.
 */
import {
  ERROR_STATUS,
  HttpStatusError,
  OversyncError,
  type ProtocolViolationCode,
  ProtocolViolationError,
  type SnapshotChunkContext,
  decodeCapabilitiesBody,
  decodeCommittedRowsResponse,
  decodeConnectResponse,
  decodeErrorBody,
  decodePullResponse,
  decodePushChunkResponse,
  decodePushCommitResponse,
  decodePushCreateResponse,
  decodeSnapshotChunkBody,
  decodeSnapshotSessionBody,
  formatSnapshotChunkBody,
  snapshotRowJson,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPlainPullResponse, pullResponseSchema } from "../../packages/protocol/src/wire/pull.js";
import { compactSnapshotChunk, strictSnapshotChunk } from "../../packages/protocol/src/wire/snapshot.js";
import { safeDecode } from "../../packages/protocol/src/wire/shared.js";
import { hostileBody, hostileJson, render, textOf } from "./hostile-json.js";
import { runs } from "./property-runs.js";
import {
  authoritativePayload,
  bundleRow,
  canonicalUuid,
  capabilitiesBody,
  connectResponse,
  errorWithExtras,
  nonBlank,
  rfc3339Instant,
  safeInt,
  sha256Hex,
  snapshotSession,
  sourceId,
  wireKey,
} from "./valid-wire.js";

/** Runs `decode`; returns the ProtocolViolationError it threw, or undefined when it accepted. */
function violation(decode: () => unknown): ProtocolViolationError | undefined {
  try {
    decode();
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolViolationError) return error;
    throw error;
  }
}

function expectViolation(error: ProtocolViolationError | undefined, codes: readonly ProtocolViolationCode[]) {
  expect(error).toBeInstanceOf(ProtocolViolationError);
  expect(codes).toContain(error!.code);
  expect(error!.message.length).toBeGreaterThan(0);
}

/** A decoder with the context a valid body must agree with. */
interface Scenario<Context> {
  readonly context: Context;
  readonly body: Record<string, unknown>;
}

interface JsonDecoderCase<Context> {
  readonly name: string;
  readonly scenario: fc.Arbitrary<Scenario<Context>>;
  readonly decode: (json: unknown, context: Context) => unknown;
  readonly codes: readonly ProtocolViolationCode[];
  readonly required: readonly string[];
}

const pushCreate = fc
  .record({
    request: fc.record({
      source_bundle_id: safeInt(1),
      planned_row_count: safeInt(1),
      canonical_request_hash: sha256Hex,
    }),
    sourceId,
    push_id: canonicalUuid,
    expectsZero: fc.boolean(),
    committed: fc.option(
      fc.record({ bundle_seq: safeInt(1), row_count: safeInt(0), bundle_hash: nonBlank }),
      { nil: undefined },
    ),
  })
  .map(({ request, sourceId, push_id, expectsZero, committed }) => ({
    context: { request, sourceId },
    body:
      committed === undefined
        ? {
            status: "staging",
            push_id,
            planned_row_count: request.planned_row_count,
            ...(expectsZero ? { next_expected_row_ordinal: 0 } : {}),
            canonical_request_hash: request.canonical_request_hash,
          }
        : {
            status: "already_committed",
            ...committed,
            source_id: sourceId,
            source_bundle_id: request.source_bundle_id,
            canonical_request_hash: request.canonical_request_hash,
          },
  }));

const pushChunk = fc
  .record({
    pushId: canonicalUuid,
    startRowOrdinal: fc.integer({ min: 0, max: 2 ** 40 }),
    rowCount: safeInt(1),
  })
  .map((sent) => ({
    context: sent,
    body: { push_id: sent.pushId, next_expected_row_ordinal: sent.startRowOrdinal + sent.rowCount },
  }))
  .filter(({ body }) => Number.isSafeInteger(body.next_expected_row_ordinal));

const pushCommit = fc
  .record({
    sourceId,
    sourceBundleId: safeInt(1),
    bundle_seq: safeInt(1),
    row_count: safeInt(0),
    bundle_hash: nonBlank,
    canonical_request_hash: sha256Hex,
  })
  .map(({ sourceId, sourceBundleId, ...rest }) => ({
    context: { sourceId, sourceBundleId },
    body: { ...rest, source_id: sourceId, source_bundle_id: sourceBundleId },
  }));

const committedRows = fc
  .record({
    committed: fc.record({
      bundle_seq: safeInt(1),
      source_id: sourceId,
      source_bundle_id: safeInt(1),
      row_count: safeInt(0),
      bundle_hash: nonBlank,
      canonical_request_hash: fc.string(),
    }),
    afterRowOrdinal: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
    rows: fc.array(bundleRow, { maxLength: 3 }),
    hasMore: fc.boolean(),
  })
  .map(({ committed, afterRowOrdinal, rows, hasMore }) => ({
    context: { committed, afterRowOrdinal },
    body: {
      ...committed,
      rows,
      next_row_ordinal: (afterRowOrdinal ?? -1) + rows.length,
      has_more: hasMore && rows.length > 0,
    },
  }));

const pull = fc
  .record({
    after: fc.integer({ min: 0, max: 2 ** 40 }),
    bundles: fc.array(
      fc.record(
        {
          gap: fc.integer({ min: 1, max: 5 }),
          source_id: sourceId,
          source_bundle_id: safeInt(1),
          rows: fc.array(bundleRow, { maxLength: 2 }),
          row_count: safeInt(0),
          bundle_hash: fc.string(),
        },
        { requiredKeys: ["gap", "source_id", "source_bundle_id", "rows"] },
      ),
      { maxLength: 4 },
    ),
    hasMore: fc.boolean(),
    beyond: fc.integer({ min: 0, max: 5 }),
    withTarget: fc.boolean(),
  })
  .map(({ after, bundles, hasMore, beyond, withTarget }) => {
    let seq = after;
    const page = bundles.map(({ gap, ...bundle }) => {
      seq += gap;
      return { bundle_seq: seq, ...bundle };
    });
    const more = hasMore && page.length > 0;
    const stable = more ? seq + beyond : seq;
    return {
      context: {
        afterBundleSeq: after,
        targetBundleSeq: withTarget && stable > 0 ? stable : undefined,
      },
      body: { stable_bundle_seq: stable, bundles: page, has_more: more },
    };
  });

const connect = connectResponse.map((body) => ({ context: undefined, body }));

/** Checks one case against its own context type, then lets the table hold cases of every type. */
function decoderCase<Context>(entry: JsonDecoderCase<Context>): JsonDecoderCase<unknown> {
  return entry as unknown as JsonDecoderCase<unknown>;
}

const JSON_DECODERS: readonly JsonDecoderCase<unknown>[] = [
  decoderCase({
    name: "connect response",
    scenario: connect,
    decode: (json) => decodeConnectResponse(json),
    codes: ["invalid_response"],
    required: ["resolution"],
  }),
  decoderCase({
    name: "push session create response",
    scenario: pushCreate,
    decode: (json, { request, sourceId }) => decodePushCreateResponse(json, request, sourceId),
    codes: ["invalid_response", "source_sequence_mismatch"],
    required: ["status", "canonical_request_hash"],
  }),
  decoderCase({
    name: "push chunk response",
    scenario: pushChunk,
    decode: (json, sent) => decodePushChunkResponse(json, sent),
    codes: ["invalid_response"],
    required: ["push_id", "next_expected_row_ordinal"],
  }),
  decoderCase({
    name: "push commit response",
    scenario: pushCommit,
    decode: (json, session) => decodePushCommitResponse(json, session),
    codes: ["invalid_response"],
    required: [
      "bundle_seq",
      "source_id",
      "source_bundle_id",
      "row_count",
      "bundle_hash",
      "canonical_request_hash",
    ],
  }),
  decoderCase({
    name: "committed rows response",
    scenario: committedRows,
    decode: (json, context) => decodeCommittedRowsResponse(json, context),
    codes: ["invalid_response", "source_sequence_mismatch"],
    required: [
      "bundle_seq",
      "source_id",
      "source_bundle_id",
      "row_count",
      "bundle_hash",
      "canonical_request_hash",
      "rows",
      "next_row_ordinal",
      "has_more",
    ],
  }),
  decoderCase({
    name: "pull response",
    scenario: pull,
    decode: (json, request) => decodePullResponse(json, request),
    codes: ["invalid_response"],
    required: ["stable_bundle_seq", "bundles", "has_more"],
  }),
];

describe.each(JSON_DECODERS)("$name", (decoder) => {
  it("fails on any random or mutated body only with ProtocolViolationError", () => {
    fc.assert(
      fc.property(
        decoder.scenario.chain((scenario) =>
          hostileJson(fc.constant(scenario.body)).map((json) => ({ context: scenario.context, json })),
        ),
        ({ context, json }) => {
          const error = violation(() => decoder.decode(json, context));
          if (error !== undefined) expectViolation(error, decoder.codes);
        },
      ),
      runs(300),
    );
  });

  it("decodes every valid body to itself", () => {
    fc.assert(
      fc.property(decoder.scenario, ({ context, body }) => {
        expect(decoder.decode(JSON.parse(JSON.stringify(body)), context)).toEqual(body);
      }),
      runs(200),
    );
  });

  it("refuses a body missing a required member", () => {
    fc.assert(
      fc.property(decoder.scenario, fc.constantFrom(...decoder.required), ({ context, body }, member) => {
        const { [member]: _dropped, ...rest } = body;
        expectViolation(
          violation(() => decoder.decode(rest, context)),
          decoder.codes,
        );
      }),
      runs(100),
    );
  });
});

describe("pull response fast path", () => {
  it("takes a page only when the schema accepts it unchanged", () => {
    fc.assert(
      fc.property(
        pull.chain(({ body }) => hostileJson(fc.constant(body))),
        (json) => {
          if (!isPlainPullResponse(json)) return;
          const decoded = safeDecode(pullResponseSchema, json);
          expect(decoded.ok).toBe(true);
          expect(decoded.ok && decoded.value).toStrictEqual(json);
        },
      ),
      runs(1000),
    );
  });

  it("takes every valid page", () => {
    fc.assert(
      fc.property(pull, ({ body }) => {
        expect(isPlainPullResponse(JSON.parse(JSON.stringify(body)))).toBe(true);
      }),
      runs(200),
    );
  });
});

describe("pull response ordering", () => {
  it("refuses a page whose bundles are not strictly increasing above after_bundle_seq", () => {
    fc.assert(
      fc.property(pull, fc.nat(), ({ context, body }, pick) => {
        fc.pre(body.bundles.length >= 2);
        const bundles = [...body.bundles];
        const i = 1 + (pick % (bundles.length - 1));
        // Swapping two neighbours, or repeating one, breaks the strict order.
        bundles[i] = { ...bundles[i]!, bundle_seq: bundles[i - 1]!.bundle_seq };
        expectViolation(
          violation(() => decodePullResponse({ ...body, bundles }, context)),
          ["invalid_response"],
        );
      }),
      runs(100),
    );
  });
});

describe("capabilities body", () => {
  it("fails on any random or mutated text only with ProtocolViolationError", () => {
    fc.assert(
      fc.property(hostileBody(capabilitiesBody), (text) => {
        const error = violation(() => decodeCapabilitiesBody(text));
        if (error !== undefined) expectViolation(error, ["invalid_response", "protocol_version_mismatch"]);
      }),
      runs(300),
    );
  });

  it("decodes every valid body to itself", () => {
    fc.assert(
      fc.property(capabilitiesBody, (body) => {
        expect(decodeCapabilitiesBody(JSON.stringify(body))).toEqual(body);
      }),
      runs(150),
    );
  });

  it("refuses a duplicate member anywhere, even one repeating the same value", () => {
    fc.assert(
      fc.property(capabilitiesBody, fc.nat(), (body, pick) => {
        const names = Object.keys(body);
        const twice = names[pick % names.length]!;
        const text = render({
          kind: "object",
          members: names.flatMap((name) => {
            const member = [name, textOf(body[name as keyof typeof body])] as const;
            return name === twice ? [member, member] : [member];
          }),
        });
        expectViolation(
          violation(() => decodeCapabilitiesBody(text)),
          ["invalid_response"],
        );
      }),
      runs(100),
    );
  });
});

describe("snapshot session body", () => {
  const codes: ProtocolViolationCode[] = ["invalid_snapshot_session", "invalid_response"];

  it("fails on any random or mutated text or bytes only with ProtocolViolationError", () => {
    fc.assert(
      fc.property(fc.oneof(hostileBody(snapshotSession), fc.uint8Array({ maxLength: 64 })), (body) => {
        const error = violation(() => decodeSnapshotSessionBody(body));
        if (error !== undefined) expectViolation(error, codes);
      }),
      runs(300),
    );
  });

  it("decodes every valid body to itself, as text and as UTF-8 bytes", () => {
    fc.assert(
      fc.property(snapshotSession, (session) => {
        const text = JSON.stringify(session);
        expect(decodeSnapshotSessionBody(text)).toStrictEqual(session);
        expect(decodeSnapshotSessionBody(new TextEncoder().encode(text))).toStrictEqual(session);
      }),
      runs(150),
    );
  });

  it("refuses a body whose byte_count disagrees with its row_count being zero", () => {
    fc.assert(
      fc.property(snapshotSession, (session) => {
        const flipped =
          session.row_count === 0 ? { ...session, byte_count: 1 } : { ...session, byte_count: 0 };
        expectViolation(
          violation(() => decodeSnapshotSessionBody(JSON.stringify(flipped))),
          codes,
        );
      }),
      runs(100),
    );
  });
});

/** A chunk as the server writes it, with a context the client could have asked it in. */
const snapshotChunk = fc
  .record({
    snapshot_id: nonBlank,
    snapshot_bundle_seq: safeInt(1),
    rows: fc.array(
      fc.record({
        schema: nonBlank,
        table: nonBlank,
        key: wireKey,
        row_version: safeInt(1),
        payload: authoritativePayload,
      }),
      { maxLength: 4 },
    ),
    after: fc.integer({ min: 0, max: 2 ** 40 }),
    bytesBefore: fc.integer({ min: 0, max: 2 ** 40 }),
    hasMore: fc.boolean(),
    slackRows: fc.nat({ max: 10 }),
    slackBytes: fc.nat({ max: 1000 }),
    expires_at: rfc3339Instant,
  })
  .map(
    ({
      snapshot_id,
      snapshot_bundle_seq,
      rows,
      after,
      bytesBefore,
      hasMore,
      slackRows,
      slackBytes,
      expires_at,
    }) => {
      const texts = rows.map(snapshotRowJson);
      const bytes = texts.reduce((sum, row) => sum + row.byteLength, 0);
      const text = formatSnapshotChunkBody({
        snapshot_id,
        snapshot_bundle_seq,
        rows: texts,
        next_row_ordinal: after + rows.length,
        has_more: hasMore && rows.length > 0,
      });
      const context: SnapshotChunkContext = {
        session: {
          snapshot_id,
          snapshot_bundle_seq,
          row_count: after + rows.length + slackRows,
          byte_count: bytesBefore + bytes + slackBytes + 1,
          expires_at,
        },
        afterRowOrdinal: after,
        bytesBefore,
        maxRows: Math.max(1, rows.length + slackRows),
        maxBytes: Math.max(1, bytes + slackBytes),
      };
      return { text, rows, texts, bytes, context };
    },
  );

describe("snapshot chunk body", () => {
  const codes: ProtocolViolationCode[] = [
    "invalid_snapshot_chunk",
    "invalid_snapshot_row",
    "invalid_response",
  ];

  it("decodes what formatSnapshotChunkBody writes, rows, byte lengths and all", () => {
    fc.assert(
      fc.property(snapshotChunk, ({ text, rows, texts, bytes, context }) => {
        const chunk = decodeSnapshotChunkBody(text, context);
        expect(chunk.rows).toEqual(rows);
        expect(chunk.rowByteLengths).toStrictEqual(texts.map((row) => row.byteLength));
        expect(chunk.byte_count).toBe(bytes);
        expect(decodeSnapshotChunkBody(new TextEncoder().encode(text), context).rows).toEqual(rows);
      }),
      runs(200),
    );
  });

  it("fails on any mutated or damaged chunk only with ProtocolViolationError", () => {
    fc.assert(
      fc.property(
        snapshotChunk.chain(({ text, context }) =>
          fc
            .oneof(hostileBody(fc.constant(JSON.parse(text))), fc.uint8Array({ maxLength: 32 }))
            .map((body) => ({
              body,
              context,
            })),
        ),
        ({ body, context }) => {
          const error = violation(() => decodeSnapshotChunkBody(body, context));
          if (error !== undefined) expectViolation(error, codes);
        },
      ),
      runs(300),
    );
  });

  it("takes the compact path only for a chunk the strict parser decodes to the same value", () => {
    fc.assert(
      fc.property(
        snapshotChunk.chain(({ text }) => hostileBody(fc.constant(JSON.parse(text)))),
        (body) => {
          const ascii = new TextEncoder().encode(body).length === body.length;
          const compact = compactSnapshotChunk(body, ascii);
          if (compact === undefined) return;
          expect(strictSnapshotChunk(body)).toStrictEqual(compact);
        },
      ),
      runs(1000),
    );
  });

  it("takes the compact path for every chunk formatSnapshotChunkBody writes", () => {
    fc.assert(
      fc.property(snapshotChunk, ({ text }) => {
        const bytes = new TextEncoder().encode(text);
        expect(compactSnapshotChunk(text, bytes.length === text.length)).toStrictEqual(
          strictSnapshotChunk(text),
        );
      }),
      runs(200),
    );
  });

  it("refuses a chunk whose row text differs from the bytes it counted", () => {
    fc.assert(
      fc.property(snapshotChunk, fc.nat(), ({ text, rows, context }, pick) => {
        fc.pre(rows.length > 0);
        // Whitespace inside a row object is valid JSON but changes the row's measured bytes.
        const starts = [...text.matchAll(/\{"schema":/g)].map((match) => match.index);
        const at = starts[pick % starts.length]! + 1;
        const padded = `${text.slice(0, at)} ${text.slice(at)}`;
        expectViolation(
          violation(() => decodeSnapshotChunkBody(padded, context)),
          ["invalid_snapshot_chunk"],
        );
      }),
      runs(100),
    );
  });
});

describe("error bodies", () => {
  it("decode to OversyncError only with the status the code is defined with, else HttpStatusError", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        hostileJson(
          errorWithExtras.map(({ code, message, extras }) => ({ error: code, message, ...extras })),
        ),
        (status, json) => {
          let decoded: OversyncError | HttpStatusError;
          try {
            decoded = decodeErrorBody(status, json);
          } catch (error) {
            expectViolation(error as ProtocolViolationError, ["invalid_response"]);
            return;
          }
          if (decoded instanceof OversyncError) expect(ERROR_STATUS[decoded.code]).toBe(status);
          else expect(decoded).toBeInstanceOf(HttpStatusError);
          expect(decoded.status).toBe(status);
        },
      ),
      runs(400),
    );
  });

  it("round-trip every code with its extras through toErrorBody and JSON", () => {
    fc.assert(
      fc.property(errorWithExtras, ({ code, message, extras }) => {
        const sent = new OversyncError(code, message, { extras });
        const body = JSON.parse(JSON.stringify(sent.toErrorBody())) as unknown;
        const decoded = decodeErrorBody(sent.status, body);
        expect(decoded).toBeInstanceOf(OversyncError);
        const received = decoded as OversyncError;
        expect({ code: received.code, message: received.message, extras: received.extras }).toEqual({
          code,
          message,
          extras,
        });
      }),
      runs(300),
    );
  });
});
