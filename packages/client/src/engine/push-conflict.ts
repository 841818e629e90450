/**
 * Applying a resolver's answer to a `push_conflict`. The server rejected the whole bundle because
 * of one row, so in one authoritative transaction the conflicting row gets the resolution, every
 * other row of the bundle goes back to the dirty rows, and the outbox is cleared; the push then
 * freezes again under the same source bundle id.
 *
 * | local op      | server row | accept_server        | keep_local / keep_merged                    |
 * |---------------|------------|----------------------|---------------------------------------------|
 * | INSERT/UPDATE | live @v    | take server row @v   | write local/merged row, re-queue UPDATE @v  |
 * | INSERT        | tombstone  | delete, tombstone @v | write local/merged row, re-queue INSERT @v  |
 * | UPDATE        | tombstone  | delete, tombstone @v | invalid                                     |
 * | DELETE        | live @v    | take server row @v   | keep_local: delete, re-queue DELETE @v      |
 * | DELETE        | tombstone  | delete, tombstone @v | keep_local: delete, tombstone @v            |
 * | any           | unknown    | delete, forget state | DELETE keep_local: delete, forget; else invalid |
 *
 * `keep_merged` is invalid for a DELETE and needs exactly every column. An invalid resolution puts
 * the whole bundle back into dirty rows and fails with `invalid_conflict_resolution`.
 */
import type { PushConflict } from "@oversync/protocol";
import {
  type RowValues,
  decodeQueuedPayload,
  decodeWirePayload,
  keyValueOfLocalKeyJson,
  localKeyJson,
  wirePayloadOfValues,
} from "../store/payload-codec.js";
import type { OutboxRow } from "../store/runtime-state.js";
import type { ManagedTable } from "../store/table-metadata.js";
import { serverCanonicalJson } from "./authoritative-rows.js";
import type { ConflictOutcome, ResolvedConflict } from "./conflict-events.js";
import type { ConflictContext, ConflictResolution } from "./conflict-resolvers.js";
import { type EngineContext, applyAuthoritatively, openStore } from "./engine-context.js";
import { type Outbox, returnOutboxToQueue } from "./push-freeze.js";
import { InvalidConflictResolutionError } from "./sync-errors.js";

type LocalAction = { readonly kind: "upsert"; readonly row: RowValues } | { readonly kind: "delete" };

interface ConflictPlan {
  readonly local: LocalAction;
  /** The row state to record; undefined forgets it. */
  readonly rowState: { readonly rowVersion: bigint; readonly deleted: boolean } | undefined;
  /** The local intent to push again, based on the server's version. */
  readonly requeue?: { readonly op: "INSERT" | "UPDATE" | "DELETE"; readonly baseRowVersion: bigint };
}

/**
 * Resolves `conflict` for `outbox` with the configured resolver. Returns false when the conflict
 * names no uploaded row (the caller rethrows the server's error).
 */
export async function resolvePushConflict(
  ctx: EngineContext,
  outbox: Outbox,
  conflict: PushConflict,
): Promise<boolean> {
  const store = openStore(ctx, "conflict resolution");
  const conflictKey = serverCanonicalJson(conflict.key, "invalid_response", "push_conflict key");
  const row = outbox.rows.find(
    (candidate) =>
      conflict.schema === store.schema.schema &&
      candidate.tableName === conflict.table &&
      candidate.wireKeyJson === conflictKey,
  );
  if (row === undefined) return false;
  const table = store.schema.table(row.tableName);
  const context: ConflictContext = {
    schema: conflict.schema,
    table: table.name,
    key: conflict.key,
    localOp: row.op,
    localRow: row.wirePayload === null ? null : decodeQueuedPayload(table, JSON.parse(row.wirePayload)),
    baseRowVersion: BigInt(conflict.base_row_version),
    serverRowVersion: BigInt(conflict.server_row_version),
    serverRowDeleted: conflict.server_row_deleted,
    serverRow:
      conflict.server_row === undefined || conflict.server_row === null
        ? null
        : decodeWirePayload(table, conflict.server_row),
  };
  const resolution = await ctx.options.resolver(context);
  const plan = planResolution(context, resolution, table, row);
  if (typeof plan === "string") {
    await store.write((state) => returnOutboxToQueue(state, outbox.rows));
    throw new InvalidConflictResolutionError(context, resolution, plan);
  }
  await applyAuthoritatively(ctx, async (state) => {
    if (plan.local.kind === "upsert") await state.upsertAppRow(table.name, plan.local.row);
    else await state.deleteAppRow(table.name, keyValueOfLocalKeyJson(table, row.keyJson));
    if (plan.rowState === undefined) await state.deleteRowState(table.name, row.keyJson);
    else await state.putRowState(table.name, row.keyJson, plan.rowState);
    await returnOutboxToQueue(state, outbox.rows, row);
    if (plan.requeue !== undefined) {
      await state.putDirtyRow({
        tableName: table.name,
        keyJson: row.keyJson,
        op: plan.requeue.op,
        baseRowVersion: plan.requeue.baseRowVersion,
        payload:
          plan.requeue.op === "DELETE"
            ? null
            : ((await state.readLocalPayload(table.name, row.keyJson)) ?? null),
      });
    }
  });
  ctx.conflicts.record(resolvedConflict(context, resolution!, table, plan));
  return true;
}

const OUTCOMES: Readonly<Record<ConflictResolution["kind"], ConflictOutcome>> = {
  accept_server: "server_won",
  keep_local: "client_won",
  keep_merged: "merged",
};

/** The settled conflict as the report and the listeners see it (wire-form values). */
function resolvedConflict(
  context: ConflictContext,
  resolution: ConflictResolution,
  table: ManagedTable,
  plan: ConflictPlan,
): ResolvedConflict {
  const wire = (values: RowValues | null) => (values === null ? null : wirePayloadOfValues(table, values));
  return {
    schema: context.schema,
    table: context.table,
    key: context.key,
    resolution: OUTCOMES[resolution.kind],
    localOp: context.localOp,
    localValues: wire(context.localRow),
    serverValues: wire(context.serverRow),
    ...(resolution.kind === "keep_merged" && plan.local.kind === "upsert"
      ? { mergedValues: wirePayloadOfValues(table, plan.local.row) }
      : {}),
    serverRowVersion: Number(context.serverRowVersion),
  };
}

/** The plan for `resolution`, or why it is invalid. */
function planResolution(
  context: ConflictContext,
  resolution: ConflictResolution | undefined,
  table: ManagedTable,
  row: OutboxRow,
): ConflictPlan | string {
  const where = `${context.schema}.${context.table} ${row.wireKeyJson}`;
  const server = context.serverRowVersion;
  const serverState =
    context.serverRow !== null ? "live" : context.serverRowDeleted ? "tombstone" : ("unknown" as const);
  switch (resolution?.kind) {
    case "accept_server":
      if (serverState === "live") {
        return {
          local: { kind: "upsert", row: context.serverRow! },
          rowState: { rowVersion: server, deleted: false },
        };
      }
      return {
        local: { kind: "delete" },
        rowState: serverState === "tombstone" ? { rowVersion: server, deleted: true } : undefined,
      };
    case "keep_local":
      if (context.localOp === "DELETE") {
        return {
          local: { kind: "delete" },
          rowState:
            serverState === "unknown" ? undefined : { rowVersion: server, deleted: serverState !== "live" },
          ...(serverState === "live" ? { requeue: { op: "DELETE", baseRowVersion: server } } : {}),
        };
      }
      return upsertPlan(context, context.localRow, serverState, server, "keep_local", where);
    case "keep_merged": {
      if (context.localOp === "DELETE") return `keep_merged is invalid for the DELETE conflict on ${where}`;
      const merged = mergedRow(resolution.row, table, row, where);
      if (typeof merged === "string") return merged;
      return upsertPlan(context, merged, serverState, server, "keep_merged", where);
    }
    default:
      return `the resolver answered ${JSON.stringify(resolution)} for ${where}; expected accept_server, keep_local or keep_merged`;
  }
}

function upsertPlan(
  context: ConflictContext,
  values: RowValues | null,
  serverState: "live" | "tombstone" | "unknown",
  server: bigint,
  name: string,
  where: string,
): ConflictPlan | string {
  if (values === null) return `${name} for ${where} has no local row to keep`;
  if (serverState === "live") {
    return {
      local: { kind: "upsert", row: values },
      rowState: { rowVersion: server, deleted: false },
      requeue: { op: "UPDATE", baseRowVersion: server },
    };
  }
  if (serverState === "tombstone" && context.localOp === "INSERT") {
    return {
      local: { kind: "upsert", row: values },
      rowState: { rowVersion: server, deleted: true },
      requeue: { op: "INSERT", baseRowVersion: server },
    };
  }
  return `${name} is invalid for the stale ${context.localOp} on ${where}: the server's row is ${serverState === "tombstone" ? "deleted" : "unknown"}`;
}

/** A merged row keyed by lower-cased column names with exactly the table's columns and the same key. */
function mergedRow(
  merged: RowValues,
  table: ManagedTable,
  row: OutboxRow,
  where: string,
): RowValues | string {
  if (typeof merged !== "object" || merged === null || Array.isArray(merged)) {
    return `keep_merged for ${where} must provide a row object`;
  }
  const values: Record<string, RowValues[string]> = {};
  for (const [name, value] of Object.entries(merged)) values[name.toLowerCase()] = value;
  const names = Object.keys(values);
  const exact =
    names.length === table.columns.length && table.columns.every((column) => column.payloadName in values);
  if (!exact) return `keep_merged for ${where} must include exactly every table column`;
  const key = values[table.keyColumn.payloadName];
  if ((typeof key !== "string" && !(key instanceof Uint8Array)) || localKeyJson(table, key) !== row.keyJson) {
    return `keep_merged for ${where} must keep the row's key`;
  }
  return values;
}
