/**
 * How an application settles a push conflict: the server rejected a bundle because one row's base
 * version is stale. The resolver sees both sides as exact SQLite values and answers with one of
 * three resolutions; the engine applies it, re-queues the rest of the rejected bundle, and pushes
 * again (once per row of the bundle, plus two; see `EXTRA_CONFLICT_RETRIES`).
 */
import type { RowOp, WireKey } from "@oversync/protocol";
import type { RowValues } from "../store/payload-codec.js";

/** One conflicting row, as the resolver sees it. */
export interface ConflictContext {
  readonly schema: string;
  /** The table's lower-cased name. */
  readonly table: string;
  /** The row's key as it goes over the wire, e.g. `{ id: "user-1" }`. */
  readonly key: WireKey;
  /** What this client tried to do. */
  readonly localOp: RowOp;
  /** The local row that was pushed (every column, exact values); null for a DELETE. */
  readonly localRow: RowValues | null;
  /** The version the local change was based on. */
  readonly baseRowVersion: bigint;
  /** The server's version of the row; 0 when the server has never seen it. */
  readonly serverRowVersion: bigint;
  /** True when the server's row is a tombstone. */
  readonly serverRowDeleted: boolean;
  /** The server's row (every column, exact values); null when deleted or unknown. */
  readonly serverRow: RowValues | null;
}

/** A resolver's answer. */
export type ConflictResolution =
  /** Take the server's row (or its deletion) and drop the local change. */
  | { readonly kind: "accept_server" }
  /** Keep the local change and push it again on top of the server's version. */
  | { readonly kind: "keep_local" }
  /** Store `row` locally and push it on top of the server's version. It must name every column. */
  | { readonly kind: "keep_merged"; readonly row: RowValues };

/** Decides a conflict; may be async. */
export type ConflictResolver = (
  conflict: ConflictContext,
) => ConflictResolution | Promise<ConflictResolution>;

/** The default: the server's row wins. */
export const serverWins: ConflictResolver = () => ({ kind: "accept_server" });

/** The local change wins and is pushed again. */
export const clientWins: ConflictResolver = () => ({ kind: "keep_local" });

/**
 * A resolver that merges both sides with `merge` and pushes the result; `merge` returns every
 * column of the row (exact values), for example the side with the later `updated_at`.
 */
export function mergeRows(
  merge: (conflict: ConflictContext) => RowValues | Promise<RowValues>,
): ConflictResolver {
  return async (conflict) => ({ kind: "keep_merged", row: await merge(conflict) });
}
