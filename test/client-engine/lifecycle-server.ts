/**
 * The lifecycle fixtures' server scripts (`chunked_sync`, `snapshot_rebuild`,
 * `remote_authoritative_partial_snapshot`) on FakeSyncBackend. They differ from the generic
 * `applyServerScript` version in what the fixtures pin: snapshot rows are served pretty-printed
 * (two-space indent, as the upstream fixture server wrote them), so `snapshot_byte_count` in the
 * expected state counts those bytes; and the server records what the lifecycle assertions need
 * (snapshot creates, their source replacements, successful sessions and their retirement).
 */
import {
  ERROR_STATUS,
  type ErrorCode,
  canonicalJson,
  formatSnapshotChunkBody,
  isErrorCode,
} from "@oversync/protocol";
import type { FakeSyncBackend } from "../client-support/fake-sync-backend.js";
import { jsonReply, statusReply } from "../client-support/scripted-replies.js";

/** A lifecycle fixture's serverScript. */
export interface LifecycleScript {
  readonly kind: "chunked_sync" | "snapshot_rebuild" | "remote_authoritative_partial_snapshot";
  readonly connectResolution?: string;
  readonly protocolVersions?: readonly string[];
  readonly lateWritesByPull?: readonly (readonly string[])[];
  readonly snapshots?: readonly LifecycleSnapshot[];
  readonly snapshotSessionErrors?: readonly {
    readonly error: string;
    readonly message: string;
    readonly status?: number;
    readonly sourceId?: string;
    readonly replacedBySourceId?: string;
  }[];
}

interface LifecycleSnapshot {
  readonly id: string;
  readonly bundleSeq: number;
  readonly rows: readonly {
    key: Record<string, string>;
    rowVersion: number;
    payload: Record<string, unknown>;
  }[];
  readonly failAfterRowOrdinal?: number;
  readonly rowsPerChunk?: number;
}

/** What the scripted server observed. */
export interface LifecycleServerLog {
  snapshotSessionCreateCount: number;
  successfulSnapshotSessionCount: number;
  snapshotRetirementCount: number;
  /** Per snapshot create: the canonical JSON of `source_replacement`, or "" without one. */
  readonly snapshotSourceReplacementRequests: string[];
}

/** Scripts `backend` for a lifecycle case; `runLateWrites` executes a pull's late writes locally. */
export function applyLifecycleScript(
  backend: FakeSyncBackend,
  script: LifecycleScript | undefined,
  runLateWrites: (statements: readonly string[]) => Promise<void>,
): LifecycleServerLog {
  const log: LifecycleServerLog = {
    snapshotSessionCreateCount: 0,
    successfulSnapshotSessionCount: 0,
    snapshotRetirementCount: 0,
    snapshotSourceReplacementRequests: [],
  };
  if (script?.connectResolution !== undefined && script.connectResolution !== "default") {
    backend.connectResolution = script.connectResolution as FakeSyncBackend["connectResolution"];
  }
  if (script?.protocolVersions !== undefined) backend.protocolVersions = script.protocolVersions;
  const lateWrites = script?.lateWritesByPull ?? [];
  backend.beforePull = async (index) => {
    const statements = lateWrites[index];
    if (statements !== undefined) await runLateWrites(statements);
  };

  const snapshots = script?.snapshots ?? [];
  const errors = script?.snapshotSessionErrors ?? [];
  let creates = 0;
  backend.override("snapshotCreate", () => (request) => {
    log.snapshotSessionCreateCount++;
    const replacement = (request.body as { source_replacement?: unknown } | null)?.source_replacement;
    log.snapshotSourceReplacementRequests.push(replacement === undefined ? "" : canonicalJson(replacement));
    const index = creates++;
    const error = errors[index];
    if (error !== undefined) {
      const status =
        error.status ?? (isErrorCode(error.error) ? ERROR_STATUS[error.error as ErrorCode] : 409);
      return statusReply(status, {
        error: error.error,
        message: error.message,
        source_id: error.sourceId ?? request.sourceId,
        ...(error.replacedBySourceId === undefined
          ? {}
          : { replaced_by_source_id: error.replacedBySourceId }),
      });
    }
    const snapshot = snapshots[Math.min(index, snapshots.length - 1)];
    if (snapshot === undefined)
      return statusReply(500, { error: "fixture_exhausted", message: "no snapshot scripted" });
    log.successfulSnapshotSessionCount++;
    const texts = rowTexts(snapshot);
    return jsonReply({
      snapshot_id: snapshot.id,
      snapshot_bundle_seq: snapshot.bundleSeq,
      row_count: texts.length,
      byte_count: texts.reduce((sum, text) => sum + text.byteLength, 0),
      expires_at: "2099-01-01T00:00:00Z",
    });
  });
  backend.override("snapshotChunk", () => (request, params) => {
    const snapshot = snapshots.find((candidate) => candidate.id === params.snapshot_id);
    if (snapshot === undefined) {
      return statusReply(404, {
        error: "snapshot_session_not_found",
        message: `no snapshot ${params.snapshot_id}`,
      });
    }
    const after = Number(request.query.after_row_ordinal ?? "0");
    if (snapshot.failAfterRowOrdinal === after) {
      return statusReply(500, { error: "snapshot_failed", message: "forced snapshot failure" });
    }
    const maxRows = Math.min(
      Number(request.query.max_rows ?? "1000"),
      snapshot.rowsPerChunk ?? Number.POSITIVE_INFINITY,
    );
    const rows = rowTexts(snapshot).slice(after, after + maxRows);
    const next = after + rows.length;
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: formatSnapshotChunkBody({
        snapshot_id: snapshot.id,
        snapshot_bundle_seq: snapshot.bundleSeq,
        rows,
        next_row_ordinal: next,
        has_more: next < snapshot.rows.length,
      }),
    };
  });
  backend.override("snapshotDelete", (next) => (request, params) => {
    log.snapshotRetirementCount++;
    return next(request, params);
  });
  return log;
}

/** The snapshot's rows as the upstream fixture server wrote them: pretty-printed, two-space indent. */
function rowTexts(snapshot: LifecycleSnapshot) {
  return snapshot.rows.map((row) => {
    const text = JSON.stringify(
      { schema: "main", table: "users", key: row.key, row_version: row.rowVersion, payload: row.payload },
      null,
      2,
    );
    return { text, byteLength: Buffer.byteLength(text, "utf8") };
  });
}
