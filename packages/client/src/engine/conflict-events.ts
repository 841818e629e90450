/**
 * What the app learns about settled push conflicts: every conflict the resolver settled is listed in
 * the report of the push or sync that met it (`conflicts`) and sent to `onConflict` listeners, so an
 * app can say "your edit to X was replaced". Values are in their wire form (every column as text or
 * null: integers and reals as decimal text, BLOBs as base64, UUIDs dashed), so a conflict is plain
 * JSON and exact.
 */
import type { RowOp, WireKey } from "@oversync/protocol";

/** How a conflict was settled: the resolver's answer as it reads to a user. */
export type ConflictOutcome = "server_won" | "client_won" | "merged";

/** A row in its wire form: every column by lower-cased name, as text or null. */
export type WireRowValues = Readonly<Record<string, string | null>>;

/** One settled push conflict. */
export interface ResolvedConflict {
  readonly schema: string;
  /** The table's lower-cased name. */
  readonly table: string;
  /** The row's key as it goes over the wire, e.g. `{ id: "…" }`. */
  readonly key: WireKey;
  readonly resolution: ConflictOutcome;
  /** What this device tried to do. */
  readonly localOp: RowOp;
  /**
   * The local change's values (null for a DELETE). With `server_won` this change was discarded;
   * with `merged` the row now holds `mergedValues` instead.
   */
  readonly localValues: WireRowValues | null;
  /** The server's row when the conflict arose; null when deleted there or unknown to it. */
  readonly serverValues: WireRowValues | null;
  /** The merged row that was kept and pushed (`merged` only). */
  readonly mergedValues?: WireRowValues;
  /** The server's version of the row the resolution was based on. */
  readonly serverRowVersion: number;
}

/** Receives each settled conflict; it must not throw (an exception is dropped). */
export type ConflictListener = (conflict: ResolvedConflict) => void;

/** Fans settled conflicts out to listeners and into the report of the running operation. */
export class ConflictEvents {
  private readonly listeners = new Set<ConflictListener>();
  private collected: ResolvedConflict[] | undefined;

  subscribe(listener: ConflictListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs `work` and returns its result with the conflicts settled meanwhile (operations are exclusive). */
  async collect<T>(work: () => Promise<T>): Promise<{ result: T; conflicts: ResolvedConflict[] }> {
    const outer = this.collected;
    const conflicts: ResolvedConflict[] = [];
    this.collected = conflicts;
    try {
      const result = await work();
      return { result, conflicts };
    } finally {
      outer?.push(...conflicts);
      this.collected = outer;
    }
  }

  /** Records a settled conflict (after its resolution committed). */
  record(conflict: ResolvedConflict): void {
    this.collected?.push(conflict);
    for (const listener of [...this.listeners]) {
      try {
        listener(conflict);
      } catch {
        // A listener's failure must not undo or abort the sync that settled the conflict.
      }
    }
  }
}
