/**
 * Errors crossing from the owner tab to the tab that made the call. Structured clone keeps only
 * the name and message of an Error and turns every subclass into a plain Error, so the `code`, the
 * class and its fields (`sqliteCode`, `status`, `extras`, `reason`, …) would be lost. The owner
 * sends an error's parts instead, and the caller's tab rebuilds it as the same class of the
 * client's error family, so `isSyncClientError`, `instanceof` and `switch (error.code)` work as for
 * a call in the owner tab. Stacks stay in their tab (DESIGN.md: never a stack trace over the wire).
 */
import { HttpStatusError, OversyncError, ProtocolViolationError } from "@oversync/protocol";
import { SqliteError } from "../drivers/sqlite-error.js";
import {
  CheckpointRecoveryBlockedError,
  InvalidConflictResolutionError,
  PendingPushReplayError,
  PushConflictRetryExhaustedError,
  SourceRecoveryRequiredError,
  SourceReplacementDivergedError,
  TableContractMismatchError,
} from "../engine/sync-errors.js";
import { OversyncClientError } from "../errors.js";
import { RetryExhaustedError, SnapshotCapacityError, TransportError } from "../transport/transport-errors.js";

/** An error as it crosses to another tab. */
export interface EncodedError {
  /** The error's `name`: its class for the client's errors ("SqliteError", "TransportError", …). */
  readonly name: string;
  readonly message: string;
  /** Its own enumerable fields (`code`, `sqliteCode`, `status`, …) that structured clone can carry. */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly cause?: EncodedError;
}

/**
 * The classes rebuilt by name. Keyed by their `name` field (not `constructor.name`, which a
 * minifier renames); a name missing here comes back as an Error carrying that name.
 */
const CLASSES: Readonly<Record<string, new (...args: never[]) => Error>> = {
  OversyncClientError,
  SqliteError,
  SourceRecoveryRequiredError,
  SourceReplacementDivergedError,
  CheckpointRecoveryBlockedError,
  PushConflictRetryExhaustedError,
  InvalidConflictResolutionError,
  PendingPushReplayError,
  TableContractMismatchError,
  TransportError,
  RetryExhaustedError,
  SnapshotCapacityError,
  OversyncError,
  HttpStatusError,
  ProtocolViolationError,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
};

/** Causes nested deeper than this are left out (a cause chain can be a cycle). */
const MAX_CAUSE_DEPTH = 4;

/** The parts of `error` (anything thrown) that structured clone can carry. */
export function encodeError(error: unknown, depth = 0): EncodedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(error)) {
    if (key === "name" || key === "message" || key === "stack" || key === "cause") continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    try {
      // A field structured clone refuses (a function, say) is left out rather than failing the answer.
      fields[key] = structuredClone(value);
    } catch {}
  }
  const cause =
    error.cause === undefined || depth >= MAX_CAUSE_DEPTH ? undefined : encodeError(error.cause, depth + 1);
  return { name: error.name, message: error.message, fields, ...(cause === undefined ? {} : { cause }) };
}

/**
 * The error again, as its class. Its constructor is not called: several build their message from
 * fields that are not kept (InvalidConflictResolutionError's reason) or check what the owner's
 * instance already passed (OversyncError's extras), so Error's own constructor runs with the
 * class's prototype, which gives the exact message, and the fields are copied onto it.
 */
export function decodeError(encoded: EncodedError): Error {
  const type = Object.hasOwn(CLASSES, encoded.name) ? CLASSES[encoded.name]! : Error;
  const cause = encoded.cause === undefined ? undefined : decodeError(encoded.cause);
  const error = Reflect.construct(
    Error,
    cause === undefined ? [encoded.message] : [encoded.message, { cause }],
    type,
  ) as Error;
  // An own property, as the classes declare `name` (and as Error.prototype.name would not be for "AbortError").
  Object.defineProperty(error, "name", {
    value: encoded.name,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return Object.assign(error, encoded.fields);
}
