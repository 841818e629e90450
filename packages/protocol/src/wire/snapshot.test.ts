import { describe, expect, it } from "vitest";
import { snapshotRowJson } from "../hashes.js";
import { ProtocolViolationError } from "../protocol-violation.js";
import {
  type SnapshotSession,
  decodeSnapshotChunkBody,
  decodeSnapshotChunkQuery,
  decodeSnapshotCreateRequest,
  decodeSnapshotSessionBody,
  formatSnapshotChunkBody,
  isRfc3339Instant,
} from "./snapshot.js";

const row = {
  schema: "main",
  table: "users",
  key: { id: "user-1" },
  row_version: 7,
  payload: { id: "user-1", name: "Ada é" },
};
const rowText = snapshotRowJson(row);
const session: SnapshotSession = {
  snapshot_id: "s-1",
  snapshot_bundle_seq: 7,
  row_count: 1,
  byte_count: rowText.byteLength,
  expires_at: "2099-01-01T00:00:00Z",
};
const context = { session, afterRowOrdinal: 0, bytesBefore: 0, maxRows: 1000, maxBytes: 4194304 };

function chunkText(rowsText: string, byteCount: number, extra = ""): string {
  return `{"snapshot_id":"s-1","snapshot_bundle_seq":7,"rows":[${rowsText}],"next_row_ordinal":1,"has_more":false,"byte_count":${byteCount}${extra}}`;
}

function violation(action: () => unknown): ProtocolViolationError {
  try {
    action();
  } catch (error) {
    if (error instanceof ProtocolViolationError) return error;
    throw error;
  }
  throw new Error("expected a protocol violation");
}

describe("snapshot chunk body", () => {
  it("accepts a chunk spliced from the server's row text, from a string or bytes", () => {
    const text = chunkText(rowText.text, rowText.byteLength);
    const chunk = decodeSnapshotChunkBody(text, context);
    expect(chunk.rows).toEqual([row]);
    expect(chunk.rowByteLengths).toEqual([rowText.byteLength]);
    expect(decodeSnapshotChunkBody(new TextEncoder().encode(text), context).byte_count).toBe(
      rowText.byteLength,
    );
  });

  it("decodes the bodies the server formats, page by page", () => {
    const rows = ["a", "b", "c"].map((id, index) =>
      snapshotRowJson({ ...row, key: { id }, row_version: index + 1, payload: { id, note: "ü\n" } }),
    );
    const total = rows.reduce((sum, text) => sum + text.byteLength, 0);
    const threeRows = { ...session, row_count: 3, byte_count: total };
    const first = formatSnapshotChunkBody({
      ...threeRows,
      rows: rows.slice(0, 2),
      next_row_ordinal: 2,
      has_more: true,
    });
    const firstChunk = decodeSnapshotChunkBody(first, { ...context, session: threeRows });
    expect(firstChunk.rows.map((decoded) => decoded.key.id)).toEqual(["a", "b"]);
    const second = formatSnapshotChunkBody({
      ...threeRows,
      rows: rows.slice(2),
      next_row_ordinal: 3,
      has_more: false,
    });
    const secondChunk = decodeSnapshotChunkBody(second, {
      ...context,
      session: threeRows,
      afterRowOrdinal: 2,
      bytesBefore: firstChunk.byte_count,
    });
    expect(firstChunk.byte_count + secondChunk.byte_count).toBe(total);
  });

  it("measures rows as received, so whitespace inside a row changes the count", () => {
    const spaced = JSON.stringify(row, null, 1);
    expect(
      violation(() => decodeSnapshotChunkBody(chunkText(spaced, rowText.byteLength), context)).message,
    ).toMatch(/byte_count \d+ does not equal the \d+ bytes of its row objects as received/);
    const spacedBytes = new TextEncoder().encode(spaced).length;
    const spacedSession = { ...session, byte_count: spacedBytes };
    const padded = chunkText(` ${spaced} `, spacedBytes);
    expect(decodeSnapshotChunkBody(padded, { ...context, session: spacedSession }).byte_count).toBe(
      spacedBytes,
    );
  });

  it("rejects extra members, duplicates, integer spellings and bad rows", () => {
    expect(
      violation(() => decodeSnapshotChunkBody(chunkText(rowText.text, rowText.byteLength, ',"x":1'), context))
        .code,
    ).toBe("invalid_snapshot_chunk");
    expect(
      violation(() =>
        decodeSnapshotChunkBody(chunkText(rowText.text, rowText.byteLength, ',"has_more":false'), context),
      ).message,
    ).toMatch(/duplicate member "has_more"/);
    const floatVersion = rowText.text.replace('"row_version":7', '"row_version":7.0');
    expect(
      violation(() => decodeSnapshotChunkBody(chunkText(floatVersion, rowText.byteLength + 2), context)).code,
    ).toBe("invalid_snapshot_row");
    const exponentCount = chunkText(rowText.text, rowText.byteLength).replace(
      `"byte_count":${rowText.byteLength}`,
      `"byte_count":${rowText.byteLength}e0`,
    );
    expect(violation(() => decodeSnapshotChunkBody(exponentCount, context)).message).toMatch(
      /byte_count must be written as an integer/,
    );
    const nullPayload = snapshotRowJson(row).text.replace(/"payload":.*}$/, '"payload":null}');
    expect(
      violation(() =>
        decodeSnapshotChunkBody(
          chunkText(nullPayload, new TextEncoder().encode(nullPayload).length),
          context,
        ),
      ).code,
    ).toBe("invalid_snapshot_row");
    const missingByteCount = `{"snapshot_id":"s-1","snapshot_bundle_seq":7,"rows":[],"next_row_ordinal":0,"has_more":false}`;
    expect(violation(() => decodeSnapshotChunkBody(missingByteCount, context)).message).toMatch(
      /byte_count: is required/,
    );
  });

  it("checks the chunk against the session's totals and the request limits", () => {
    expect(
      violation(() =>
        decodeSnapshotChunkBody(chunkText(rowText.text, rowText.byteLength), { ...context, maxBytes: 10 }),
      ).message,
    ).toMatch(/exceeds max_bytes 10/);
    // A last chunk short of the session's totals still decodes: the client stages its rows and the
    // final apply reports the shortfall (pull-snapshot/behavior/apply.json preserves that stage).
    const twoRowSession = { ...session, row_count: 2, byte_count: rowText.byteLength * 2 };
    expect(
      decodeSnapshotChunkBody(chunkText(rowText.text, rowText.byteLength), {
        ...context,
        session: twoRowSession,
      }).rows,
    ).toHaveLength(1);
    const pastTheEnd = { ...session, row_count: 0, byte_count: 0 };
    expect(
      violation(() =>
        decodeSnapshotChunkBody(chunkText(rowText.text, rowText.byteLength), {
          ...context,
          session: pastTheEnd,
        }),
      ).message,
    ).toMatch(/runs past the session's row_count 0/);
    expect(violation(() => decodeSnapshotChunkBody(new Uint8Array([0x7b, 0xff]), context)).message).toMatch(
      /UTF-8/,
    );
  });
});

describe("snapshot session body", () => {
  const body = (patch: Record<string, unknown>) => JSON.stringify({ ...session, ...patch });

  it("decodes a session and requires byte_count even when 0", () => {
    expect(decodeSnapshotSessionBody(body({}))).toEqual(session);
    expect(
      decodeSnapshotSessionBody(body({ row_count: 0, byte_count: 0, snapshot_bundle_seq: 0 })).row_count,
    ).toBe(0);
    const { byte_count: _omitted, ...withoutBytes } = session;
    expect(
      violation(() => decodeSnapshotSessionBody(JSON.stringify({ ...withoutBytes, row_count: 0 }))).message,
    ).toMatch(/byte_count: is required but missing/);
  });

  it("rejects duplicate members and inconsistent counts", () => {
    expect(violation(() => decodeSnapshotSessionBody('{"snapshot_id":"a","snapshot_id":"b"}')).code).toBe(
      "invalid_snapshot_session",
    );
    expect(violation(() => decodeSnapshotSessionBody(body({ byte_count: 0 }))).message).toMatch(
      /must be 0 exactly when/,
    );
  });

  it("accepts RFC 3339 instants with fractions and offsets only", () => {
    for (const ok of [
      "2099-01-01T00:00:00Z",
      "2026-03-24T18:42:11.123456789+00:00",
      "2024-02-29T23:59:59-05:30",
    ]) {
      expect(isRfc3339Instant(ok), ok).toBe(true);
    }
    for (const bad of [
      "not-a-timestamp",
      "2023-02-29T00:00:00Z",
      "2026-03-24 18:42:11Z",
      "2026-03-24T18:42:11",
      "2026-03-24T24:00:00Z",
      "2026-03-24T18:42:11.1234567890Z",
    ]) {
      expect(isRfc3339Instant(bad), bad).toBe(false);
    }
  });
});

describe("snapshot requests", () => {
  it("accepts an empty body, {} and a source replacement", () => {
    expect(decodeSnapshotCreateRequest("")).toEqual({});
    expect(decodeSnapshotCreateRequest("{}")).toEqual({});
    const replacement = { previous_source_id: "a", new_source_id: "b", reason: "history_pruned" };
    expect(decodeSnapshotCreateRequest(JSON.stringify({ source_replacement: replacement }))).toEqual({
      source_replacement: replacement,
    });
  });

  it("rejects anything else with snapshot_session_invalid", () => {
    for (const bad of [
      "[]",
      "{",
      '{"source_id":"a"}',
      '{"source_replacement":{"previous_source_id":"a","new_source_id":"a","reason":"history_pruned"}}',
      '{"source_replacement":{"previous_source_id":"a","new_source_id":"b","reason":"bored"}}',
    ]) {
      expect(() => decodeSnapshotCreateRequest(bad), bad).toThrow(
        expect.objectContaining({ code: "snapshot_session_invalid" }),
      );
    }
  });

  it("reads chunk queries and rejects malformed numbers", () => {
    const query = decodeSnapshotChunkQuery(
      new URLSearchParams("after_row_ordinal=5&max_rows=19&max_bytes=4194304"),
    );
    expect(query).toEqual({ after_row_ordinal: 5, max_rows: 19, max_bytes: 4194304 });
    expect(decodeSnapshotChunkQuery(new URLSearchParams("")).after_row_ordinal).toBe(0);
    for (const bad of [
      "after_row_ordinal=-1",
      "max_rows=0",
      "max_bytes=1e3",
      "after_row_ordinal=01",
      "max_rows=1&max_rows=2",
    ]) {
      expect(() => decodeSnapshotChunkQuery(new URLSearchParams(bad)), bad).toThrow(
        expect.objectContaining({ code: "snapshot_chunk_invalid" }),
      );
    }
  });
});
