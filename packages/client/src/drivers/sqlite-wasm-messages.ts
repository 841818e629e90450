/**
 * The messages between the sqlite-wasm driver (main thread) and its worker. Every message carries
 * `channel`, so both sides ignore whatever else an app's own worker posts.
 */
import type { RunResult, SqliteRow, SqliteValue } from "./sqlite-driver.js";

export const CHANNEL = "oversync:sqlite-wasm";

/** Where a connection's database lives: a file in OPFS, or the worker's memory. */
export type SqlitePersistence = "opfs" | "memory";

export type WorkerRequest = { readonly channel: typeof CHANNEL; readonly id: number } & (
  | { readonly op: "open"; readonly filename: string; readonly pool: string }
  | { readonly op: "exec"; readonly connection: number; readonly sql: string }
  | {
      readonly op: "all" | "run";
      readonly connection: number;
      readonly sql: string;
      readonly params: readonly SqliteValue[];
    }
  | { readonly op: "createFunction"; readonly connection: number; readonly name: string }
  | { readonly op: "close"; readonly connection: number }
);

/** What each request answers. */
export interface WorkerResults {
  readonly open: { readonly connection: number; readonly persistence: SqlitePersistence };
  readonly exec: null;
  readonly all: SqliteRow[];
  readonly run: RunResult;
  readonly createFunction: null;
  readonly close: null;
}

/** One call of a registered SQL function, made while the request's statements ran. */
export type FunctionCall = readonly [name: string, args: SqliteValue[]];

export type WorkerFailure =
  /** SQLite's own message and (extended) result code. */
  | { readonly kind: "sqlite"; readonly message: string; readonly resultCode: number }
  /** Another tab or worker holds the opfs-sahpool pool (its access handles are exclusive). */
  | { readonly kind: "pool_busy"; readonly message: string }
  | { readonly kind: "error"; readonly message: string };

export type WorkerReply = {
  readonly channel: typeof CHANNEL;
  readonly id: number;
  readonly calls: readonly FunctionCall[];
} & (
  | { readonly ok: true; readonly result: WorkerResults[keyof WorkerResults] }
  | { readonly ok: false; readonly failure: WorkerFailure }
);
