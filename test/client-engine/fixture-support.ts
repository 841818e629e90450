/**
 * Shared pieces of the engine fixture runners: the fixtures' exception names mapped onto our typed
 * errors, application-state reads in the fixtures' shapes, resolvers by fixture name, and the rows
 * of the last uploaded push session.
 */
import {
  type ConflictResolver,
  OversyncClientError,
  TransportError,
  clientWins,
  serverWins,
} from "@oversync/client";
import { HttpStatusError, OversyncError, ProtocolViolationError } from "@oversync/protocol";
import { expect } from "vitest";
import type { FakeSyncServer } from "../client-support/fake-sync-server.js";
import type { EngineHarness } from "./engine-harness.js";

/** Checks a step's outcome against the fixture's `expectedException` name. */
export function expectException(expected: string, error: unknown, label: string): void {
  const message = `${label}: expected ${expected}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  switch (expected) {
    case "none":
      expect(error, message).toBeUndefined();
      return;
    case "any_error":
      expect(error, message).toBeInstanceOf(Error);
      return;
    case "http_error":
      expect(
        error instanceof HttpStatusError ||
          error instanceof OversyncError ||
          (error instanceof TransportError && error.status !== undefined),
        message,
      ).toBe(true);
      return;
    case "protocol_error":
      expect(
        error instanceof ProtocolViolationError ||
          (error instanceof OversyncClientError &&
            (code === "payload_invalid" || code === "invalid_conflict_resolution")),
        message,
      ).toBe(true);
      return;
    case "source_sequence_mismatch":
      expect(error instanceof ProtocolViolationError && code === "source_sequence_mismatch", message).toBe(
        true,
      );
      return;
    case "protocol_version_mismatch":
      expect(error instanceof ProtocolViolationError && code === "protocol_version_mismatch", message).toBe(
        true,
      );
      return;
    case "invalid_source_recovery_reason":
      expect(error instanceof OversyncClientError && code === "store_invalid", message).toBe(true);
      return;
    case "rebuild_required":
    case "source_recovery_required":
    case "source_replacement_diverged":
      expect(error instanceof OversyncClientError && code === expected, message).toBe(true);
      return;
    case "source_replacement_invalid":
      // The client reports the server's refusal under its own code: one code, one family member.
      expect(error instanceof OversyncClientError && code === "source_replacement_refused", message).toBe(
        true,
      );
      return;
    default:
      throw new Error(`${label}: unknown expected exception ${expected}`);
  }
}

/** Runs `action`, returning what it threw (undefined when it succeeded) and its result. */
export async function outcomeOf<T>(action: () => Promise<T>): Promise<{ error: unknown; result?: T }> {
  try {
    return { error: undefined, result: await action() };
  } catch (error) {
    return { error: error ?? new Error("undefined was thrown") };
  }
}

const APP_QUERIES: Readonly<Record<string, string>> = {
  users: "SELECT id, name FROM users ORDER BY id",
  posts: "SELECT id, user_id, title FROM posts ORDER BY id",
  authors: "SELECT id, profile_id, name FROM authors ORDER BY id",
  profiles: "SELECT id, author_id, bio FROM profiles ORDER BY id",
  typedRows:
    "SELECT id, name, note, count_value, enabled_flag, rating, data, created_at FROM typed_rows ORDER BY id",
};

/** Compares the fixture's `expectedAppState` (integers as numbers, BLOBs as hex). */
export async function expectAppState(
  harness: EngineHarness,
  expected: Readonly<Record<string, unknown>>,
  label: string,
): Promise<void> {
  for (const [name, rows] of Object.entries(expected)) {
    const sql = APP_QUERIES[name];
    if (sql === undefined) throw new Error(`${label}: no query for app state ${name}`);
    const actual = (await harness.driver.query(sql)).map((row) =>
      Object.fromEntries(Object.entries(row).map(([column, value]) => [column, plainValue(value)])),
    );
    expect(actual, `${label} ${name}`).toEqual(rows);
  }
}

function plainValue(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  return value;
}

/** The resolvers the fixtures name. */
export function resolverFor(name: string | undefined): ConflictResolver {
  switch (name ?? "server_wins") {
    case "server_wins":
      return serverWins;
    case "client_wins":
      return clientWins;
    case "keep_local":
      return () => ({ kind: "keep_local" });
    case "keep_merged_user":
      return () => ({ kind: "keep_merged", row: { id: "user-1", name: "Merged" } });
    default:
      throw new Error(`unknown fixture resolver ${name}`);
  }
}

/** `table:op:id` of every row uploaded since the last push-session create. */
export function lastUploadedRows(server: FakeSyncServer): string[] {
  const requests = server.requests;
  let start = -1;
  for (let index = requests.length - 1; index >= 0; index--) {
    const request = requests[index]!;
    if (request.method === "POST" && request.route === "sync/push-sessions") {
      start = index;
      break;
    }
  }
  return requests
    .slice(start + 1)
    .filter(
      (request) => request.method === "POST" && /^sync\/push-sessions\/[^/]+\/chunks$/.test(request.route),
    )
    .flatMap(
      (request) =>
        (request.body as { rows: { table: string; op: string; key: Record<string, string> }[] }).rows,
    )
    .map((row) => `${row.table}:${row.op}:${row.key.id ?? Object.values(row.key)[0]}`);
}

/** The push-session create requests, in order. */
export function pushCreateRequests(server: FakeSyncServer): { source_bundle_id: number }[] {
  return server.requestsTo("pushCreate").map((request) => request.body as { source_bundle_id: number });
}
