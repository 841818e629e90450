/**
 * Errors as they cross tabs, without a browser: an error of each kind of class goes through
 * structured clone (as BroadcastChannel carries it) and comes back as its class with its code,
 * message, fields and cause. test/browser/tab-sync.test.ts covers the same over real tabs.
 */
import { HttpStatusError, OversyncError, ProtocolViolationError } from "@oversync/protocol";
import { describe, expect, it } from "vitest";
import { SqliteError } from "../drivers/sqlite-error.js";
import type { ConflictContext } from "../engine/conflict-resolvers.js";
import {
  CheckpointRecoveryBlockedError,
  InvalidConflictResolutionError,
  PendingPushReplayError,
  SourceRecoveryRequiredError,
  TableContractMismatchError,
} from "../engine/sync-errors.js";
import { OversyncClientError, isSyncClientError } from "../errors.js";
import { RetryExhaustedError, SnapshotCapacityError, TransportError } from "../transport/transport-errors.js";
import { decodeError, encodeError } from "./tab-errors.js";

/** What another tab gets: the encoded parts after structured clone, rebuilt. */
function crossed(error: unknown): Error {
  return decodeError(structuredClone(encodeError(error)));
}

/** The parts a caller can see, for comparing an error with its rebuilt copy. */
function visible(error: Error): Record<string, unknown> {
  return { ...error, name: error.name, message: error.message };
}

describe("errors crossing tabs", () => {
  const family = [
    new SqliteError("UNIQUE constraint failed: users.id", "SQLITE_CONSTRAINT"),
    new OversyncClientError("owner_tab_lost", "check and retry"),
    new SourceRecoveryRequiredError("source_retired"),
    new CheckpointRecoveryBlockedError("push_failed", 3n, 2n, "prepared"),
    new TableContractMismatchError(
      "tables differ",
      ["server_only"],
      [],
      [{ table: "users", clientSyncKeyColumns: ["id"], serverSyncKeyColumns: ["uid"] }],
    ),
    new InvalidConflictResolutionError(
      { schema: "business", table: "users", key: { id: "u1" } } as unknown as ConflictContext,
      undefined,
      "the resolver answered nothing",
    ),
    new PendingPushReplayError("rebuild()", 4n),
    new TransportError("network_error", "push", "connection refused", { status: 502 }),
    new SnapshotCapacityError("snapshot_chunk_capacity", "busy", 2000),
    new OversyncError("source_retired", "retired", { extras: { source_id: "source-1" } }),
    new HttpStatusError(418, "teapot", "HTTP 418"),
    new ProtocolViolationError("invalid_response", "bad body", { path: "bundles[0]" }),
  ];

  for (const error of family) {
    it(`${error.name} (${error.code}) comes back as its class with its code, message and fields`, () => {
      const copy = crossed(error);
      expect(copy).toBeInstanceOf(error.constructor);
      expect(copy.constructor).toBe(error.constructor);
      expect(isSyncClientError(copy)).toBe(true);
      expect(visible(copy)).toEqual(visible(error));
      expect(copy.stack).not.toContain(error.stack?.split("\n")[1] ?? "no stack");
    });
  }

  it("keeps the cause chain", () => {
    const cause = new TransportError("timeout", "pull", "no answer");
    const copy = crossed(
      new RetryExhaustedError("transient_retry_exhausted", {
        operation: "pull",
        attempts: 3,
        elapsedMillis: 9,
        cause,
      }),
    );
    expect(copy).toBeInstanceOf(RetryExhaustedError);
    expect(copy).toMatchObject({ code: "transient_retry_exhausted", attempts: 3 });
    expect(copy.cause).toBeInstanceOf(TransportError);
    expect(visible(copy.cause as Error)).toEqual(visible(cause));
  });

  it("keeps the name and message of errors from outside the family, and of thrown values", () => {
    const type = crossed(new TypeError("x is not a function"));
    expect(type).toBeInstanceOf(TypeError);
    expect(type.message).toBe("x is not a function");
    const abort = crossed(new DOMException("stopped", "AbortError"));
    expect([abort.name, abort.message, isSyncClientError(abort)]).toEqual(["AbortError", "stopped", false]);
    expect(crossed("a string").message).toBe("a string");
  });

  it("leaves out a field structured clone cannot carry, instead of failing the answer", () => {
    const error = Object.assign(new OversyncClientError("invalid_argument", "bad"), { callback: () => {} });
    const copy = crossed(error);
    expect(copy).toMatchObject({ code: "invalid_argument", message: "bad" });
    expect("callback" in copy).toBe(false);
  });
});
