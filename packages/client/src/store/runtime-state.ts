/**
 * Typed reads and writes of the durable `_sync_*` state, bound to one executor (the driver itself or
 * a transaction). INTEGER columns are bigint; 0/1 flags are booleans.
 */
import { CANONICAL_JSON_CONTRACT, type RowOp } from "@oversync/protocol";
import type { SqliteExecutor, SqliteRow, SqliteValue } from "../drivers/sqlite-driver.js";
import { OversyncClientError } from "../errors.js";
import { localPayloadSql } from "./capture-sql.js";
import { keyValueOfLocalKeyJson } from "./payload-codec.js";
import { REJECTED_CHANGES_TABLE, ensureRejectedChangesTable } from "./runtime-schema.js";
import { NOW_TIMESTAMP_SQL, quoteIdent, rowsPerStatement, valuesPlaceholders } from "./sql-text.js";
import type { SyncSchema } from "./table-metadata.js";

/** Whether the local database is bound to a user. */
export type BindingState = "anonymous" | "attached";

/** `_sync_attachment_state`: the local runtime's identity and binding. */
export interface AttachmentState {
  readonly currentSourceId: string;
  readonly bindingState: BindingState;
  readonly attachedUserId: string;
  /** The configured schema while attached, "" while anonymous. */
  readonly schemaName: string;
  /** Highest contiguous bundle applied locally (the pull checkpoint). */
  readonly lastBundleSeqSeen: bigint;
  /** Durable gate: ordinary sync must rebuild from a snapshot first. */
  readonly rebuildRequired: boolean;
  /** Initialization lease id while seeding an uninitialized scope, else "". */
  readonly pendingInitializationId: string;
}

/** A durable multi-step operation in flight. */
export type OperationKind = "none" | "remote_replace" | "source_recovery";

/** `_sync_operation_state`. */
export interface OperationState {
  readonly kind: OperationKind;
  readonly targetUserId: string;
  readonly stagedSnapshotId: string;
  readonly snapshotBundleSeq: bigint;
  readonly snapshotRowCount: bigint;
  readonly snapshotByteCount: bigint;
  readonly snapshotStageComplete: boolean;
  /** Source-recovery (or checkpoint-recovery) reason code, else "". */
  readonly reason: string;
  readonly replacementSourceId: string;
}

/** The operation state with nothing in flight. */
export const NO_OPERATION: OperationState = {
  kind: "none",
  targetUserId: "",
  stagedSnapshotId: "",
  snapshotBundleSeq: 0n,
  snapshotRowCount: 0n,
  snapshotByteCount: 0n,
  snapshotStageComplete: false,
  reason: "",
  replacementSourceId: "",
};

/** Lifecycle of the single frozen push bundle. */
export type OutboxState = "none" | "prepared" | "committed_remote";

/** `_sync_outbox_bundle` (its canonical JSON contract is fixed). */
export interface OutboxBundle {
  readonly state: OutboxState;
  readonly sourceId: string;
  readonly sourceBundleId: bigint;
  readonly initializationId: string;
  readonly canonicalRequestHash: string;
  readonly rowCount: bigint;
  readonly remoteBundleHash: string;
  readonly remoteBundleSeq: bigint;
}

/** The outbox with no bundle frozen. */
export const EMPTY_OUTBOX_BUNDLE: OutboxBundle = {
  state: "none",
  sourceId: "",
  sourceBundleId: 0n,
  initializationId: "",
  canonicalRequestHash: "",
  rowCount: 0n,
  remoteBundleHash: "",
  remoteBundleSeq: 0n,
};

/** One row of the frozen push bundle (`_sync_outbox_rows`). */
export interface OutboxRow {
  readonly sourceBundleId: bigint;
  /** 0-based position in the bundle. */
  readonly rowOrdinal: bigint;
  readonly tableName: string;
  readonly keyJson: string;
  readonly wireKeyJson: string;
  readonly op: RowOp;
  readonly baseRowVersion: bigint;
  /** Local-form payload, null for DELETE. */
  readonly localPayload: string | null;
  /** Wire-form payload, null for DELETE. */
  readonly wirePayload: string | null;
}

/** One coalesced local change (`_sync_dirty_rows`). */
export interface DirtyRow {
  readonly tableName: string;
  readonly keyJson: string;
  readonly op: RowOp;
  readonly baseRowVersion: bigint;
  /** Local-form payload, null for DELETE. */
  readonly payload: string | null;
  /** First-touch order. */
  readonly dirtyOrdinal: bigint;
  readonly updatedAt: string;
}

/** What a caller writes to queue (or re-queue) a local change. */
export type DirtyRowInput = Pick<DirtyRow, "tableName" | "keyJson" | "op" | "baseRowVersion" | "payload">;

/** A local change the server refused for good, as stored in `_oversync_rejected_changes`. */
export interface StoredRejection extends DirtyRowInput {
  /** The server's error code, e.g. `push_commit_invalid`. */
  readonly code: string;
  readonly message: string;
  readonly rejectedAt: string;
}

/** The authoritative version the client knows for a key (`_sync_row_state`). */
export interface RowState {
  readonly rowVersion: bigint;
  readonly deleted: boolean;
  readonly updatedAt: string;
}

/** One staged snapshot row (`_sync_snapshot_stage`); the payload is wire-form JSON text. */
export interface SnapshotStageRow {
  readonly snapshotId: string;
  /** 1-based position in the snapshot. */
  readonly rowOrdinal: bigint;
  readonly tableName: string;
  readonly keyJson: string;
  readonly rowVersion: bigint;
  readonly payload: string;
}

/** One source identity this runtime has used (`_sync_source_state`). */
export interface SourceState {
  readonly sourceId: string;
  readonly nextSourceBundleId: bigint;
  readonly replacedBySourceId: string;
  readonly createdAt: string;
}

const SOURCE_ID = /^[!-~]+$/;

/** The map key of a (table, key) pair in `readDirtyRowStates`. */
export function rowStateKey(tableName: string, keyJson: string): string {
  return `${tableName}\u0000${keyJson}`;
}

/** True for a valid source id: one or more visible ASCII characters (`!`..`~`). */
export function isValidSourceId(value: string): boolean {
  return SOURCE_ID.test(value);
}

/** Durable-state access bound to one executor and the managed schema. */
export class RuntimeState {
  constructor(
    /** The executor statements run on (a transaction inside `SyncStore.write`/`apply`). */
    readonly db: SqliteExecutor,
    readonly schema: SyncSchema,
  ) {}

  // Singletons.

  /** The attachment singleton. */
  async readAttachment(): Promise<AttachmentState> {
    const row = await this.singleton("_sync_attachment_state");
    const bindingState = text(row, "binding_state");
    return {
      currentSourceId: text(row, "current_source_id"),
      bindingState: bindingState === "attached" ? "attached" : "anonymous",
      attachedUserId: text(row, "attached_user_id"),
      schemaName: text(row, "schema_name"),
      lastBundleSeqSeen: int(row, "last_bundle_seq_seen"),
      rebuildRequired: int(row, "rebuild_required") !== 0n,
      pendingInitializationId: text(row, "pending_initialization_id"),
    };
  }

  /** Replaces the attachment singleton. */
  async writeAttachment(state: AttachmentState): Promise<void> {
    await this.db.run(
      "UPDATE _sync_attachment_state SET current_source_id = ?, binding_state = ?, attached_user_id = ?, " +
        "schema_name = ?, last_bundle_seq_seen = ?, rebuild_required = ?, pending_initialization_id = ? " +
        "WHERE singleton_key = 1",
      [
        state.currentSourceId,
        state.bindingState,
        state.attachedUserId,
        state.schemaName,
        state.lastBundleSeqSeen,
        flag(state.rebuildRequired),
        state.pendingInitializationId,
      ],
    );
  }

  /** The operation singleton. */
  async readOperation(): Promise<OperationState> {
    const row = await this.singleton("_sync_operation_state");
    const kind = text(row, "kind");
    if (kind !== "none" && kind !== "remote_replace" && kind !== "source_recovery") {
      throw storeError(`_sync_operation_state.kind is ${JSON.stringify(kind)}`);
    }
    return {
      kind,
      targetUserId: text(row, "target_user_id"),
      stagedSnapshotId: text(row, "staged_snapshot_id"),
      snapshotBundleSeq: int(row, "snapshot_bundle_seq"),
      snapshotRowCount: int(row, "snapshot_row_count"),
      snapshotByteCount: int(row, "snapshot_byte_count"),
      snapshotStageComplete: int(row, "snapshot_stage_complete") !== 0n,
      reason: text(row, "reason"),
      replacementSourceId: text(row, "replacement_source_id"),
    };
  }

  /** Replaces the operation singleton (write NO_OPERATION to clear it). */
  async writeOperation(state: OperationState): Promise<void> {
    await this.db.run(
      "UPDATE _sync_operation_state SET kind = ?, target_user_id = ?, staged_snapshot_id = ?, " +
        "snapshot_bundle_seq = ?, snapshot_row_count = ?, snapshot_byte_count = ?, snapshot_stage_complete = ?, " +
        "reason = ?, replacement_source_id = ? WHERE singleton_key = 1",
      [
        state.kind,
        state.targetUserId,
        state.stagedSnapshotId,
        state.snapshotBundleSeq,
        state.snapshotRowCount,
        state.snapshotByteCount,
        flag(state.snapshotStageComplete),
        state.reason,
        state.replacementSourceId,
      ],
    );
  }

  /** True while authoritative state is being applied (capture off, guards bypassed). */
  async readApplyMode(): Promise<boolean> {
    return int(await this.singleton("_sync_apply_state"), "apply_mode") !== 0n;
  }

  /** The outbox bundle singleton. */
  async readOutboxBundle(): Promise<OutboxBundle> {
    const row = await this.singleton("_sync_outbox_bundle");
    const state = text(row, "state");
    if (state !== "none" && state !== "prepared" && state !== "committed_remote") {
      throw storeError(`_sync_outbox_bundle.state is ${JSON.stringify(state)}`);
    }
    return {
      state,
      sourceId: text(row, "source_id"),
      sourceBundleId: int(row, "source_bundle_id"),
      initializationId: text(row, "initialization_id"),
      canonicalRequestHash: text(row, "canonical_request_hash"),
      rowCount: int(row, "row_count"),
      remoteBundleHash: text(row, "remote_bundle_hash"),
      remoteBundleSeq: int(row, "remote_bundle_seq"),
    };
  }

  /** Replaces the outbox bundle singleton (write EMPTY_OUTBOX_BUNDLE to reset it). */
  async writeOutboxBundle(bundle: OutboxBundle): Promise<void> {
    await this.db.run(
      "UPDATE _sync_outbox_bundle SET canonical_json_contract = ?, state = ?, source_id = ?, source_bundle_id = ?, " +
        "initialization_id = ?, canonical_request_hash = ?, row_count = ?, remote_bundle_hash = ?, remote_bundle_seq = ? " +
        "WHERE singleton_key = 1",
      [
        CANONICAL_JSON_CONTRACT,
        bundle.state,
        bundle.sourceId,
        bundle.sourceBundleId,
        bundle.initializationId,
        bundle.canonicalRequestHash,
        bundle.rowCount,
        bundle.remoteBundleHash,
        bundle.remoteBundleSeq,
      ],
    );
  }

  // Dirty rows.

  /** Dirty rows in first-touch order (`dirty_ordinal`), optionally only the first `limit`. */
  async listDirtyRows(limit?: number): Promise<DirtyRow[]> {
    const rows = await this.db.query(
      "SELECT table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at FROM _sync_dirty_rows " +
        `WHERE schema_name = ? ORDER BY dirty_ordinal, table_name, key_json${limit === undefined ? "" : " LIMIT ?"}`,
      limit === undefined ? [this.schema.schema] : [this.schema.schema, BigInt(limit)],
    );
    return rows.map(toDirtyRow);
  }

  /** The dirty row of one key, if any. */
  async readDirtyRow(tableName: string, keyJson: string): Promise<DirtyRow | undefined> {
    const rows = await this.db.query(
      "SELECT table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at FROM _sync_dirty_rows " +
        "WHERE schema_name = ? AND table_name = ? AND key_json = ?",
      [this.schema.schema, tableName, keyJson],
    );
    return rows[0] === undefined ? undefined : toDirtyRow(rows[0]);
  }

  /** Number of dirty rows. */
  async countDirtyRows(): Promise<bigint> {
    return this.count("SELECT count(*) AS n FROM _sync_dirty_rows");
  }

  /**
   * Queues a local change for a key, e.g. to re-queue local intent after a replay or conflict. An
   * existing dirty row of the key keeps its ordinal and gets this op, base and payload; a new one
   * goes last.
   */
  async putDirtyRow(row: DirtyRowInput): Promise<void> {
    await this.db.run(
      "INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) " +
        `SELECT ?, ?, ?, ?, ?, ?, COALESCE(MAX(dirty_ordinal), 0) + 1, ${NOW_TIMESTAMP_SQL} FROM _sync_dirty_rows WHERE 1 ` +
        "ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET op = excluded.op, " +
        "base_row_version = excluded.base_row_version, payload = excluded.payload, updated_at = excluded.updated_at",
      [this.schema.schema, row.tableName, row.keyJson, row.op, row.baseRowVersion, row.payload],
    );
  }

  /** Removes the dirty row of one key. */
  async deleteDirtyRow(tableName: string, keyJson: string): Promise<void> {
    await this.db.run(
      "DELETE FROM _sync_dirty_rows WHERE schema_name = ? AND table_name = ? AND key_json = ?",
      [this.schema.schema, tableName, keyJson],
    );
  }

  /** Removes every dirty row. */
  async clearDirtyRows(): Promise<void> {
    await this.db.run("DELETE FROM _sync_dirty_rows");
  }

  /** The highest `dirty_ordinal` (0 when none): later captures of new keys get higher ones. */
  async lastDirtyOrdinal(): Promise<bigint> {
    return this.count("SELECT COALESCE(MAX(dirty_ordinal), 0) AS n FROM _sync_dirty_rows");
  }

  /** Removes the dirty rows first captured at or before `ordinal`. */
  async deleteDirtyRowsThrough(ordinal: bigint): Promise<void> {
    await this.db.run("DELETE FROM _sync_dirty_rows WHERE dirty_ordinal <= ?", [ordinal]);
  }

  /** Removes the dirty rows `listDirtyRows` returns (this schema's). */
  async deleteListedDirtyRows(): Promise<void> {
    await this.db.run("DELETE FROM _sync_dirty_rows WHERE schema_name = ?", [this.schema.schema]);
  }

  // Rejected changes.

  /** Every rejected change of this schema, oldest first. */
  async listRejections(): Promise<StoredRejection[]> {
    if (!(await this.hasRejections())) return [];
    const rows = await this.db.query(
      "SELECT table_name, key_json, op, base_row_version, payload, code, message, rejected_at " +
        "FROM _oversync_rejected_changes WHERE schema_name = ? ORDER BY rejected_at, table_name, key_json",
      [this.schema.schema],
    );
    return rows.map((row) => ({
      tableName: text(row, "table_name"),
      keyJson: text(row, "key_json"),
      op: text(row, "op") as RowOp,
      baseRowVersion: int(row, "base_row_version"),
      payload: row.payload === null ? null : text(row, "payload"),
      code: text(row, "code"),
      message: text(row, "message"),
      rejectedAt: text(row, "rejected_at"),
    }));
  }

  /** The rejected change of one key, if any. */
  async readRejection(tableName: string, keyJson: string): Promise<StoredRejection | undefined> {
    return (await this.listRejections()).find(
      (entry) => entry.tableName === tableName && entry.keyJson === keyJson,
    );
  }

  /** Records a rejected change, replacing an earlier rejection of the same key. */
  async putRejection(row: DirtyRowInput, code: string, message: string): Promise<void> {
    await ensureRejectedChangesTable(this.db);
    await this.db.run(
      "INSERT OR REPLACE INTO _oversync_rejected_changes " +
        "(schema_name, table_name, key_json, op, base_row_version, payload, code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [
        this.schema.schema,
        row.tableName,
        row.keyJson,
        row.op,
        row.baseRowVersion,
        row.payload,
        code,
        message,
      ],
    );
  }

  /** Forgets the rejections of these keys; answers how many there were. */
  async deleteRejections(keys: readonly { tableName: string; keyJson: string }[]): Promise<number> {
    // One look for the table, not one per key: a committed bundle may carry many thousand keys.
    if (keys.length === 0 || !(await this.hasRejections())) return 0;
    let deleted = 0;
    for (const { tableName, keyJson } of keys) {
      const result = await this.db.run(
        "DELETE FROM _oversync_rejected_changes WHERE schema_name = ? AND table_name = ? AND key_json = ?",
        [this.schema.schema, tableName, keyJson],
      );
      deleted += result.changes;
    }
    return deleted;
  }

  /** Number of rejected changes. */
  async countRejections(): Promise<bigint> {
    if (!(await this.hasRejections())) return 0n;
    return this.count("SELECT count(*) AS n FROM _oversync_rejected_changes");
  }

  /** True once the first rejection created the table. */
  private async hasRejections(): Promise<boolean> {
    const rows = await this.db.query(
      "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?",
      [REJECTED_CHANGES_TABLE],
    );
    return rows.length > 0;
  }

  // Row state.

  /** The known authoritative version of a key, if any. */
  async readRowState(tableName: string, keyJson: string): Promise<RowState | undefined> {
    const rows = await this.db.query(
      "SELECT row_version, deleted, updated_at FROM _sync_row_state WHERE schema_name = ? AND table_name = ? AND key_json = ?",
      [this.schema.schema, tableName, keyJson],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      rowVersion: int(row, "row_version"),
      deleted: int(row, "deleted") !== 0n,
      updatedAt: text(row, "updated_at"),
    };
  }

  /**
   * The known authoritative versions of every dirty key, keyed by `rowStateKey(table, keyJson)`:
   * one query where a freeze would otherwise read them row by row.
   */
  async readDirtyRowStates(): Promise<Map<string, { rowVersion: bigint; deleted: boolean }>> {
    const rows = await this.db.query(
      "SELECT d.table_name, d.key_json, r.row_version, r.deleted FROM _sync_dirty_rows d " +
        "JOIN _sync_row_state r ON r.schema_name = d.schema_name AND r.table_name = d.table_name AND r.key_json = d.key_json " +
        "WHERE d.schema_name = ?",
      [this.schema.schema],
    );
    return new Map(
      rows.map((row) => [
        rowStateKey(text(row, "table_name"), text(row, "key_json")),
        { rowVersion: int(row, "row_version"), deleted: int(row, "deleted") !== 0n },
      ]),
    );
  }

  /** Records the authoritative version of a key (live or tombstone). */
  async putRowState(
    tableName: string,
    keyJson: string,
    state: { rowVersion: bigint; deleted: boolean },
  ): Promise<void> {
    await this.db.run(
      "INSERT INTO _sync_row_state (schema_name, table_name, key_json, row_version, deleted, updated_at) " +
        `VALUES (?, ?, ?, ?, ?, ${NOW_TIMESTAMP_SQL}) ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET ` +
        "row_version = excluded.row_version, deleted = excluded.deleted, updated_at = excluded.updated_at",
      [this.schema.schema, tableName, keyJson, state.rowVersion, flag(state.deleted)],
    );
  }

  /**
   * Records `rowVersion` as the authoritative version of every outbox row's key, live for an
   * upsert and a tombstone for a delete, in one statement.
   */
  async putOutboxRowStates(rowVersion: bigint): Promise<void> {
    await this.db.run(
      "INSERT INTO _sync_row_state (schema_name, table_name, key_json, row_version, deleted, updated_at) " +
        `SELECT schema_name, table_name, key_json, ?, op = 'DELETE', ${NOW_TIMESTAMP_SQL} FROM _sync_outbox_rows WHERE true ` +
        "ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET " +
        "row_version = excluded.row_version, deleted = excluded.deleted, updated_at = excluded.updated_at",
      [rowVersion],
    );
  }

  /** Forgets the authoritative version of a key. */
  async deleteRowState(tableName: string, keyJson: string): Promise<void> {
    await this.db.run(
      "DELETE FROM _sync_row_state WHERE schema_name = ? AND table_name = ? AND key_json = ?",
      [this.schema.schema, tableName, keyJson],
    );
  }

  /** Forgets the row states of one table (any name, managed now or not), or of all tables. */
  async clearRowStates(tableName?: string): Promise<void> {
    if (tableName === undefined) await this.db.run("DELETE FROM _sync_row_state");
    else await this.db.run("DELETE FROM _sync_row_state WHERE table_name = ?", [tableName]);
  }

  /** Number of keys with a live (not deleted) row state. */
  async countLiveRowStates(): Promise<bigint> {
    return this.count("SELECT count(*) AS n FROM _sync_row_state WHERE deleted = 0");
  }

  // Outbox rows.

  /** The frozen bundle's rows in ordinal order. */
  async listOutboxRows(): Promise<OutboxRow[]> {
    const rows = await this.db.query(
      "SELECT source_bundle_id, row_ordinal, table_name, key_json, wire_key_json, op, base_row_version, " +
        "local_payload, wire_payload FROM _sync_outbox_rows ORDER BY source_bundle_id, row_ordinal",
    );
    return rows.map((row) => ({
      sourceBundleId: int(row, "source_bundle_id"),
      rowOrdinal: int(row, "row_ordinal"),
      tableName: text(row, "table_name"),
      keyJson: text(row, "key_json"),
      wireKeyJson: text(row, "wire_key_json"),
      op: rowOp(row),
      baseRowVersion: int(row, "base_row_version"),
      localPayload: nullableText(row, "local_payload"),
      wirePayload: nullableText(row, "wire_payload"),
    }));
  }

  /** Adds rows to the frozen bundle. */
  async insertOutboxRows(rows: readonly OutboxRow[]): Promise<void> {
    await this.insertRows(
      "_sync_outbox_rows (source_bundle_id, row_ordinal, schema_name, table_name, key_json, wire_key_json, " +
        "op, base_row_version, local_payload, wire_payload)",
      rows.map((row) => [
        row.sourceBundleId,
        row.rowOrdinal,
        this.schema.schema,
        row.tableName,
        row.keyJson,
        row.wireKeyJson,
        row.op,
        row.baseRowVersion,
        row.localPayload,
        row.wirePayload,
      ]),
    );
  }

  /** Number of outbox rows. */
  async countOutboxRows(): Promise<bigint> {
    return this.count("SELECT count(*) AS n FROM _sync_outbox_rows");
  }

  /** Removes every outbox row (the bundle singleton is reset separately). */
  async clearOutboxRows(): Promise<void> {
    await this.db.run("DELETE FROM _sync_outbox_rows");
  }

  // Snapshot stage.

  /** Stages snapshot rows; a key staged twice for one snapshot violates the stage's UNIQUE key. */
  async stageSnapshotRows(rows: readonly SnapshotStageRow[]): Promise<void> {
    await this.insertRows(
      "_sync_snapshot_stage (snapshot_id, row_ordinal, schema_name, table_name, key_json, row_version, payload)",
      rows.map((row) => [
        row.snapshotId,
        row.rowOrdinal,
        this.schema.schema,
        row.tableName,
        row.keyJson,
        row.rowVersion,
        row.payload,
      ]),
    );
  }

  /** Inserts `rows` (each one value per column of `target`, "table (columns)") with multi-row statements. */
  private async insertRows(target: string, rows: readonly (readonly SqliteValue[])[]): Promise<void> {
    const width = rows[0]?.length ?? 1;
    const batchRows = rowsPerStatement(width);
    for (let start = 0; start < rows.length; start += batchRows) {
      const batch = rows.slice(start, start + batchRows);
      await this.db.run(
        `INSERT INTO ${target} VALUES ${valuesPlaceholders(width, batch.length)}`,
        batch.flat(),
      );
    }
  }

  /** Staged rows of a snapshot with ordinal above `afterOrdinal`, in ordinal order, at most `limit`. */
  async listSnapshotStage(
    snapshotId: string,
    afterOrdinal: bigint,
    limit: number,
  ): Promise<SnapshotStageRow[]> {
    const rows = await this.db.query(
      "SELECT snapshot_id, row_ordinal, table_name, key_json, row_version, payload FROM _sync_snapshot_stage " +
        "WHERE snapshot_id = ? AND row_ordinal > ? ORDER BY row_ordinal LIMIT ?",
      [snapshotId, afterOrdinal, BigInt(limit)],
    );
    return rows.map((row) => ({
      snapshotId: text(row, "snapshot_id"),
      rowOrdinal: int(row, "row_ordinal"),
      tableName: text(row, "table_name"),
      keyJson: text(row, "key_json"),
      rowVersion: int(row, "row_version"),
      payload: text(row, "payload"),
    }));
  }

  /** Number of staged rows of a snapshot. */
  async countSnapshotStage(snapshotId: string): Promise<bigint> {
    return this.count("SELECT count(*) AS n FROM _sync_snapshot_stage WHERE snapshot_id = ?", [snapshotId]);
  }

  /**
   * Records every staged row of `snapshotId` as live at its row_version, in one statement (the
   * snapshot apply writes the rows themselves).
   */
  async putSnapshotRowStates(snapshotId: string): Promise<void> {
    await this.db.run(
      "INSERT INTO _sync_row_state (schema_name, table_name, key_json, row_version, deleted, updated_at) " +
        `SELECT schema_name, table_name, key_json, row_version, 0, ${NOW_TIMESTAMP_SQL} FROM _sync_snapshot_stage ` +
        "WHERE snapshot_id = ? ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET " +
        "row_version = excluded.row_version, deleted = excluded.deleted, updated_at = excluded.updated_at",
      [snapshotId],
    );
  }

  /**
   * Empties the stage. The stage only ever holds the snapshot being downloaded or applied, and an
   * unfiltered DELETE lets SQLite drop its pages whole instead of deleting row by row.
   */
  async clearSnapshotStage(): Promise<void> {
    await this.db.run("DELETE FROM _sync_snapshot_stage");
  }

  // Sources.

  /** The state of one source id, if this runtime has used it. */
  async readSource(sourceId: string): Promise<SourceState | undefined> {
    const rows = await this.db.query(
      "SELECT source_id, next_source_bundle_id, replaced_by_source_id, created_at FROM _sync_source_state WHERE source_id = ?",
      [sourceId],
    );
    return rows[0] === undefined ? undefined : toSourceState(rows[0]);
  }

  /** Every source id this runtime has used, oldest first. */
  async listSources(): Promise<SourceState[]> {
    const rows = await this.db.query(
      "SELECT source_id, next_source_bundle_id, replaced_by_source_id, created_at FROM _sync_source_state " +
        "ORDER BY created_at, source_id",
    );
    return rows.map(toSourceState);
  }

  /** Creates the state row of a source (next bundle 1) unless it exists. */
  async ensureSource(sourceId: string): Promise<void> {
    if (!isValidSourceId(sourceId)) {
      throw storeError(`source id ${JSON.stringify(sourceId)} is not one or more visible ASCII characters`);
    }
    await this.db.run("INSERT OR IGNORE INTO _sync_source_state (source_id) VALUES (?)", [sourceId]);
  }

  /** Raises a source's next bundle id to at least `next`; it is never lowered. */
  async raiseNextSourceBundleId(sourceId: string, next: bigint): Promise<void> {
    await this.db.run(
      "UPDATE _sync_source_state SET next_source_bundle_id = max(next_source_bundle_id, ?) WHERE source_id = ?",
      [next, sourceId],
    );
  }

  /** Records that `sourceId` was retired in favour of `replacedBy`. */
  async markSourceReplaced(sourceId: string, replacedBy: string): Promise<void> {
    await this.db.run("UPDATE _sync_source_state SET replaced_by_source_id = ? WHERE source_id = ?", [
      replacedBy,
      sourceId,
    ]);
  }

  // Managed tables.

  /**
   * Every table ever registered under this schema, including ones since dropped from the
   * configuration (destructive cleanups must empty those too).
   */
  async listRegisteredTables(): Promise<string[]> {
    const rows = await this.db.query(
      "SELECT table_name FROM _sync_managed_tables WHERE schema_name = ? ORDER BY table_name",
      [this.schema.schema],
    );
    return rows.map((row) => text(row, "table_name"));
  }

  // Application rows (read side).

  /** The live row of a key serialized exactly as the capture triggers would, or undefined. */
  async readLocalPayload(tableName: string, keyJson: string): Promise<string | undefined> {
    const table = this.schema.table(tableName);
    const rows = await this.db.query(
      `SELECT ${localPayloadSql(table, "live")} AS payload FROM ${quoteIdent(table.sqlName)} AS live ` +
        `WHERE live.${quoteIdent(table.keyColumn.name)} = ?`,
      [keyValueOfLocalKeyJson(table, keyJson)],
    );
    return rows[0] === undefined ? undefined : text(rows[0], "payload");
  }

  /** The live row with the key value `key`, as exact values keyed by lower-cased column name. */
  async readAppRow(
    tableName: string,
    key: string | Uint8Array,
  ): Promise<Record<string, SqliteValue> | undefined> {
    const table = this.schema.table(tableName);
    const select = table.columns.map((column) => quoteIdent(column.name)).join(", ");
    const rows = await this.db.query(
      `SELECT ${select} FROM ${quoteIdent(table.sqlName)} WHERE ${quoteIdent(table.keyColumn.name)} = ?`,
      [key],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return Object.fromEntries(table.columns.map((column) => [column.payloadName, row[column.name] ?? null]));
  }

  private async singleton(table: string): Promise<SqliteRow> {
    const rows = await this.db.query(`SELECT * FROM ${table} WHERE singleton_key = 1`);
    const row = rows[0];
    if (row === undefined) throw storeError(`${table} has no singleton row`);
    return row;
  }

  private async count(sql: string, params: readonly SqliteValue[] = []): Promise<bigint> {
    const rows = await this.db.query(sql, params);
    return rows[0] === undefined ? 0n : int(rows[0], "n");
  }
}

function toDirtyRow(row: SqliteRow): DirtyRow {
  return {
    tableName: text(row, "table_name"),
    keyJson: text(row, "key_json"),
    op: rowOp(row),
    baseRowVersion: int(row, "base_row_version"),
    payload: nullableText(row, "payload"),
    dirtyOrdinal: int(row, "dirty_ordinal"),
    updatedAt: text(row, "updated_at"),
  };
}

function toSourceState(row: SqliteRow): SourceState {
  return {
    sourceId: text(row, "source_id"),
    nextSourceBundleId: int(row, "next_source_bundle_id"),
    replacedBySourceId: text(row, "replaced_by_source_id"),
    createdAt: text(row, "created_at"),
  };
}

function text(row: SqliteRow, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw storeError(`column ${column} holds ${describe(value)}, expected TEXT`);
  return value;
}

function nullableText(row: SqliteRow, column: string): string | null {
  return row[column] === null ? null : text(row, column);
}

function int(row: SqliteRow, column: string): bigint {
  const value = row[column];
  if (typeof value !== "bigint")
    throw storeError(`column ${column} holds ${describe(value)}, expected INTEGER`);
  return value;
}

function rowOp(row: SqliteRow): RowOp {
  const op = text(row, "op");
  if (op !== "INSERT" && op !== "UPDATE" && op !== "DELETE") throw storeError(`op is ${JSON.stringify(op)}`);
  return op;
}

function flag(value: boolean): bigint {
  return value ? 1n : 0n;
}

function describe(value: SqliteValue | undefined): string {
  if (value === undefined) return "nothing";
  if (value === null) return "NULL";
  if (value instanceof Uint8Array) return "a BLOB";
  return `${typeof value === "number" ? "REAL" : typeof value === "bigint" ? "INTEGER" : "TEXT"} ${String(value)}`;
}

/** A `store_invalid` error for durable state that breaks an invariant. */
export function storeError(message: string): OversyncClientError {
  return new OversyncClientError(
    "store_invalid",
    `the local sync state is inconsistent: ${message}; restore the database or reset its sync state`,
  );
}
