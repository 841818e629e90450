import { describe, expect, it } from "vitest";
import { ERROR_CODES, ERROR_STATUS, isErrorCode } from "./error-codes.js";
import { HttpStatusError, OversyncError, decodeErrorBody } from "./errors.js";
import { ProtocolViolationError } from "./protocol-violation.js";

const conflict = {
  schema: "main",
  table: "users",
  key: { id: "user-1" },
  op: "UPDATE",
  base_row_version: 0,
  server_row_version: 2,
  server_row_deleted: false,
  server_row: { id: "user-1", name: "Server" },
} as const;

describe("error code table", () => {
  it("gives every code one status and the recognised codes their documented ones", () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(ERROR_STATUS.history_pruned).toBe(409);
    expect(ERROR_STATUS.checkpoint_ahead).toBe(409);
    expect(ERROR_STATUS.initialization_stale).toBe(409);
    expect(ERROR_STATUS.initialization_expired).toBe(410);
    expect(ERROR_STATUS.committed_bundle_not_found).toBe(404);
    expect(ERROR_STATUS.snapshot_build_capacity).toBe(429);
    expect(ERROR_STATUS.snapshot_chunk_capacity).toBe(429);
    expect(ERROR_STATUS.snapshot_chunk_too_small).toBe(400);
    expect(ERROR_STATUS.bundle_change_watch_disabled).toBe(503);
    expect(ERROR_STATUS.bundle_change_watch_limit_exceeded).toBe(429);
    expect(isErrorCode("push_conflict")).toBe(true);
    expect(isErrorCode("toString")).toBe(false);
  });
});

describe("OversyncError", () => {
  it("produces exactly {error, message} for a plain code, with no stack", () => {
    const error = new OversyncError("push_chunk_invalid", "rows[0].key: is required but missing");
    expect(error.status).toBe(400);
    expect(JSON.stringify(error.toErrorBody())).toBe(
      '{"error":"push_chunk_invalid","message":"rows[0].key: is required but missing"}',
    );
  });

  it("adds each code's extras and omits an unknown successor", () => {
    expect(
      new OversyncError("source_retired", "retired", { extras: { source_id: "device-a" } }).toErrorBody(),
    ).toEqual({ error: "source_retired", message: "retired", source_id: "device-a" });
    expect(new OversyncError("push_conflict", "conflict", { extras: { conflict } }).toErrorBody()).toEqual({
      error: "push_conflict",
      message: "conflict",
      conflict,
    });
    expect(
      new OversyncError("snapshot_session_limit_exceeded", "too big", {
        extras: { dimension: "row_count", actual: 11, limit: 10 },
      }).toErrorBody(),
    ).toEqual({
      error: "snapshot_session_limit_exceeded",
      message: "too big",
      dimension: "row_count",
      actual: 11,
      limit: 10,
    });
    expect(
      new OversyncError("snapshot_chunk_too_small", "row too big", {
        extras: { required_byte_count: 9000 },
      }).toErrorBody(),
    ).toEqual({ error: "snapshot_chunk_too_small", message: "row too big", required_byte_count: 9000 });
  });

  it("refuses extras that do not belong to the code or break its rules", () => {
    expect(() => new OversyncError("history_pruned", "x", { extras: { source_id: "a" } })).toThrow(TypeError);
    expect(() => new OversyncError("source_retired", "x", { extras: {} })).toThrow(/source_id/);
    expect(
      () =>
        new OversyncError("snapshot_session_limit_exceeded", "x", {
          extras: { dimension: "row_count", actual: 5, limit: 10 },
        }),
    ).toThrow(/actual must exceed limit/);
    expect(() => new OversyncError("source_retired", "x", { extras: { source_id: "a", limit: 3 } })).toThrow(
      /carries only/,
    );
  });
});

describe("decodeErrorBody", () => {
  it("decodes a known code sent with its own status, extras included", () => {
    const error = decodeErrorBody(409, {
      error: "source_retired",
      message: "source retired",
      source_id: "dart-rotated-source-1",
      replaced_by_source_id: "dart-rotated-source-2",
    });
    expect(error).toBeInstanceOf(OversyncError);
    expect((error as OversyncError).extras).toEqual({
      source_id: "dart-rotated-source-1",
      replaced_by_source_id: "dart-rotated-source-2",
    });
    const pushConflict = decodeErrorBody(409, { error: "push_conflict", message: "conflict", conflict });
    expect((pushConflict as OversyncError).extras.conflict).toEqual(conflict);
  });

  it("treats a push_conflict without conflict as a plain error of that code", () => {
    const error = decodeErrorBody(409, { error: "push_conflict", message: "conflict" });
    expect(error).toBeInstanceOf(OversyncError);
    expect((error as OversyncError).extras.conflict).toBeUndefined();
  });

  it("falls back to status-only handling for unknown codes, wrong statuses and non-error bodies", () => {
    const unknown = decodeErrorBody(418, { error: "teapot", message: "short and stout" });
    expect(unknown).toBeInstanceOf(HttpStatusError);
    expect(unknown).toMatchObject({
      status: 418,
      code: "http_status",
      bodyCode: "teapot",
      message: "short and stout",
    });
    expect(decodeErrorBody(500, { error: "history_pruned", message: "x" })).toBeInstanceOf(HttpStatusError);
    const noMessage = decodeErrorBody(409, { error: "history_pruned" });
    expect(noMessage).toBeInstanceOf(HttpStatusError);
    expect(noMessage.message).toContain("message: is required but missing");
    expect(decodeErrorBody(502, "Bad Gateway")).toMatchObject({ status: 502, bodyCode: undefined });
  });

  it("rejects a recognised code whose extras are malformed", () => {
    expect(() =>
      decodeErrorBody(409, { error: "source_retired", message: "x", source_id: "has space" }),
    ).toThrow(ProtocolViolationError);
    expect(() =>
      decodeErrorBody(409, { error: "push_conflict", message: "x", conflict: { ...conflict, op: "UPSERT" } }),
    ).toThrow(/conflict\.op/);
  });
});
