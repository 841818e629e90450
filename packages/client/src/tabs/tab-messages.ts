/**
 * What the tabs of one database say to each other over their BroadcastChannel. Every message is
 * seen by every other tab on the channel, so each names its sender (`from`, a random tab id) and,
 * when meant for one tab, its receiver (`to`). Values travel by structured clone, which carries the
 * driver's values exactly (bigint, Uint8Array, null); errors travel as EncodedError (tab-errors.ts).
 */
import type { RunResult, SqliteRow, SqliteValue } from "../drivers/sqlite-driver.js";
import type { PendingSyncStatus, SyncReport } from "../engine/results.js";
import type { SyncClientStatus } from "../engine/sync-status.js";
import type { TableChangeOrigin } from "../engine/table-changes.js";
import type { EncodedError } from "./tab-errors.js";

/** One statement of a batch. */
export interface TabStatement {
  readonly sql: string;
  readonly params?: readonly SqliteValue[];
}

/** A call a tab makes of the database; the owner tab runs it. */
export type TabCall =
  | {
      readonly op: "query";
      readonly sql: string;
      readonly params: readonly SqliteValue[];
      /** It only reads, so it may run again on the next owner when its owner went away (see isReadOnlySql). */
      readonly rerunnable: boolean;
    }
  | { readonly op: "run"; readonly sql: string; readonly params: readonly SqliteValue[] }
  | { readonly op: "batch"; readonly statements: readonly TabStatement[] }
  | { readonly op: "sync" }
  | { readonly op: "pendingSyncStatus" };

/** What each call answers. */
export interface TabResults {
  readonly query: SqliteRow[];
  readonly run: RunResult;
  readonly batch: RunResult[];
  readonly sync: SyncReport;
  readonly pendingSyncStatus: PendingSyncStatus;
}

/** How the owner answered a request. */
export type TabOutcome =
  | { readonly kind: "ok"; readonly result: unknown }
  | { readonly kind: "failed"; readonly error: EncodedError }
  /** The owner is leaving (its `close()` runs) and did not run the call: send it to the next owner. */
  | { readonly kind: "not_run" };

export type TabMessage =
  /** A tab that has just started asks the owner to announce itself. */
  | { readonly type: "hello"; readonly from: string }
  /**
   * The owner announces itself: when it has opened the database, and in answer to `hello`. `tables`
   * names every table, so followers can re-run their live queries (see TabSyncClient.onTablesChanged).
   */
  | {
      readonly type: "owner";
      readonly from: string;
      readonly status: SyncClientStatus;
      readonly tables: readonly string[];
    }
  | {
      readonly type: "request";
      readonly from: string;
      readonly to: string;
      readonly id: number;
      readonly call: TabCall;
    }
  | {
      readonly type: "reply";
      readonly from: string;
      readonly to: string;
      readonly id: number;
      readonly outcome: TabOutcome;
    }
  | { readonly type: "status"; readonly from: string; readonly status: SyncClientStatus }
  | {
      readonly type: "tables";
      readonly from: string;
      readonly tables: readonly string[];
      readonly origin: TableChangeOrigin;
    };

/** Statements that can write, wherever they appear (an upsert's DO UPDATE, a CTE's INSERT, RETURNING). */
const WRITE_KEYWORDS = /\b(?:insert|update|delete|replace)\b/i;
/** Leading comments, whitespace and parentheses before a statement's first keyword. */
const LEADING_NOISE = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/;

/**
 * True when `sql` can only read: its first keyword is SELECT, VALUES, WITH or EXPLAIN and it names
 * no INSERT, UPDATE, DELETE or REPLACE anywhere. Conservative on purpose (a string literal
 * 'update' makes a read count as a write): a query counted as a write is never run twice, it is
 * answered `owner_tab_lost` instead when its owner goes away.
 */
export function isReadOnlySql(sql: string): boolean {
  const first = /^[a-z]+/i.exec(sql.replace(LEADING_NOISE, ""))?.[0]?.toLowerCase();
  return (
    (first === "select" || first === "values" || first === "with" || first === "explain") &&
    !WRITE_KEYWORDS.test(sql)
  );
}
