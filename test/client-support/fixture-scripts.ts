/**
 * The fixtures' `serverScript` kinds expressed on FakeSyncBackend, for the client fixture runners:
 *
 *   const backend = new FakeSyncBackend(server);
 *   const controls = applyServerScript(backend, fixtureCase.serverScript, { onPull });
 *
 * Kinds (push/behavior, runtime-state/transitions, pull-snapshot/behavior, lifecycle/behavior,
 * watch/behavior): echo_committed_rows, committed_bundle_seq_gap,
 * committed_replay_first_fetch_http_error, committed_replay_bad_bundle_hash,
 * committed_bundle_not_found_then_success, committed_replay_pruned, precommit_retry,
 * conflict_once, conflict_once_on_row_count, already_committed_rows,
 * already_committed_request_hash_mismatch, committed_remote_request_hash_mismatch,
 * source_retired_on_push_create, pull_incremental_bundles, pull_incremental_users, pull_sequence,
 * snapshot_sequence, snapshot_rebuild, remote_authoritative_partial_snapshot, chunked_sync,
 * hold_watch_open, watch_lines, non_ok_watch_response, unsupported_capability.
 * An unknown kind throws. Committed replies name the requesting source (the header), as the
 * upstream fakes do; rows without schema/table use `context.schema`/`context.table`.
 */
import type { ErrorCode, SnapshotRowInput } from "@oversync/protocol";
import { ERROR_STATUS, isErrorCode } from "@oversync/protocol";
import type { FakeBundle, FakeBundleRow, FakeSyncBackend } from "./fake-sync-backend.js";
import type { RecordedRequest } from "./fake-sync-server.js";
import { failFirst, jsonReply, sequence, sseLinesReply, statusReply } from "./scripted-replies.js";

/** A fixture's serverScript object (its kind plus kind-specific members). */
export interface ServerScript {
  readonly kind: string;
  readonly [member: string]: unknown;
}

/** Runner-supplied context. */
export interface ServerScriptContext {
  /** Schema of scripted rows that carry none; default "main". */
  readonly schema?: string;
  /** Table of scripted rows that carry none; default "users". */
  readonly table?: string;
  /** chunked_sync: runs before each pull answer (the runner applies `lateWritesByPull[index]`). */
  readonly onPull?: (index: number) => void | Promise<void>;
}

/** Things the runner triggers itself. */
export interface ServerScriptControls {
  /** watch: appends the script's `wakeBundles` (call once the watch stream is open). */
  deliverWakeBundles(): FakeBundle[];
}

/** The request hash the upstream fakes put on a mismatching committed bundle. */
const MISMATCHED_REQUEST_HASH = "b".repeat(64);
const TEMPORARY_FAILURE = { error: "temporary", message: "retry" };

interface ScriptRow {
  readonly schema?: string;
  readonly table?: string;
  readonly key: Record<string, string>;
  readonly op?: FakeBundleRow["op"];
  readonly row_version?: number;
  readonly payload?: Record<string, unknown> | null;
}

/** Configures `backend` for `script`; see the file comment for the kinds. */
export function applyServerScript(
  backend: FakeSyncBackend,
  script: ServerScript,
  context: ServerScriptContext = {},
): ServerScriptControls {
  const schema = context.schema ?? "main";
  const table = context.table ?? "users";
  const get = <T>(name: string): T | undefined => script[name] as T | undefined;
  const bundleRows = (rows: readonly ScriptRow[]) =>
    rows.map((row) => ({
      schema: row.schema ?? schema,
      table: row.table ?? table,
      key: row.key,
      op: row.op ?? "INSERT",
      ...(row.row_version === undefined ? {} : { row_version: row.row_version }),
      ...(row.payload === undefined ? {} : { payload: row.payload }),
    }));

  switch (script.kind) {
    case "echo_committed_rows":
    case "hold_watch_open":
      break;
    case "committed_bundle_seq_gap":
      backend.nextBundleSeq = get<number>("bundleSeq")!;
      break;
    case "committed_replay_first_fetch_http_error":
      backend.override("committedRows", (next) => failFirst(1, statusReply(500, TEMPORARY_FAILURE), next));
      break;
    case "committed_replay_bad_bundle_hash":
      backend.bundleHashOf = () => "bad-hash";
      break;
    case "committed_bundle_not_found_then_success":
      backend.override("committedRows", (next) =>
        failFirst(
          get<number>("notFoundCount") ?? 1,
          statusReply(404, {
            error: "committed_bundle_not_found",
            message: "committed bundle not visible yet",
          }),
          next,
        ),
      );
      break;
    case "committed_replay_pruned":
      backend.override("committedRows", (next) =>
        failFirst(
          1,
          statusReply(409, { error: "history_pruned", message: "committed bundle replay pruned" }),
          next,
        ),
      );
      break;
    case "precommit_retry":
      backend.override("pushCommit", (next) => failFirst(1, statusReply(500, TEMPORARY_FAILURE), next));
      break;
    case "conflict_once":
    case "conflict_once_on_row_count": {
      const conflict = get<unknown>("conflict");
      const rowCount = get<number>("rowCount");
      let delivered = false;
      backend.override("pushCommit", (next) => (request, params) => {
        const staged = backend.pushSessions.get(params.push_id!)?.rows.length;
        if (delivered || (rowCount !== undefined && staged !== rowCount)) return next(request, params);
        delivered = true;
        // Sent verbatim: some conflicts are deliberately invalid (a hidden scope column).
        return statusReply(409, { error: "push_conflict", message: "fixture conflict", conflict });
      });
      break;
    }
    case "already_committed_rows":
    case "already_committed_request_hash_mismatch": {
      const rows =
        script.kind === "already_committed_rows"
          ? bundleRows(get<ScriptRow[]>("committedRows")!)
          : bundleRows([
              {
                key: { id: "user-1" },
                row_version: 1,
                payload: get<Record<string, unknown>>("committedPayload")!,
              },
            ]);
      backend.override("pushCreate", () => (request) => {
        const body = request.body as { source_bundle_id: number; canonical_request_hash: string };
        const hash =
          script.kind === "already_committed_rows" ? body.canonical_request_hash : MISMATCHED_REQUEST_HASH;
        const bundle = backend.appendBundle({
          rows,
          bundleSeq: 1,
          sourceId: request.sourceId,
          sourceBundleId: body.source_bundle_id,
          canonicalRequestHash: hash,
        });
        return jsonReply({
          status: "already_committed",
          bundle_seq: bundle.bundle_seq,
          source_id: bundle.source_id,
          source_bundle_id: bundle.source_bundle_id,
          row_count: bundle.rows.length,
          bundle_hash: bundle.bundle_hash,
          canonical_request_hash: bundle.canonical_request_hash,
        });
      });
      break;
    }
    case "committed_remote_request_hash_mismatch": {
      const commitResponse = get<Record<string, unknown>>("commitResponse")!;
      const rowsResponse = get<Record<string, unknown> & { rows: ScriptRow[] }>("committedRowsResponse")!;
      const hash = backend.bundleHashOf(bundleRows(rowsResponse.rows) as FakeBundleRow[]);
      backend.override(
        "pushCommit",
        () => (request, params) =>
          jsonReply({
            ...commitResponse,
            source_id: request.sourceId,
            bundle_hash: hash,
            canonical_request_hash: backend.pushSessions.get(params.push_id!)?.request.canonical_request_hash,
          }),
      );
      backend.override(
        "committedRows",
        () => (request) =>
          jsonReply({
            ...rowsResponse,
            source_id: request.sourceId,
            bundle_hash: hash,
            canonical_request_hash: MISMATCHED_REQUEST_HASH,
          }),
      );
      break;
    }
    case "source_retired_on_push_create": {
      const replacement = get<string>("replacementSourceId") ?? "replacement-source";
      backend.override(
        "pushCreate",
        () => (request) =>
          statusReply(409, {
            error: "source_retired",
            message: "source retired",
            source_id: request.sourceId,
            replaced_by_source_id: replacement,
          }),
      );
      break;
    }
    case "pull_incremental_bundles":
    case "pull_incremental_users":
      backend.override("pull", () => () => jsonReply(get("response")));
      break;
    case "pull_sequence":
      backend.override("pull", () =>
        sequence(...get<unknown[]>("responses")!.map((body) => jsonReply(body))),
      );
      break;
    case "snapshot_sequence":
      applySnapshotSequence(backend, script);
      break;
    case "snapshot_rebuild":
    case "remote_authoritative_partial_snapshot":
    case "chunked_sync":
      applyLifecycleScript(backend, script, { schema, table, onPull: context.onPull });
      break;
    case "watch_lines":
      backend.enqueueWatchReply(sseLinesReply(get<string[]>("lines")!));
      break;
    case "non_ok_watch_response": {
      const response = get<{ status: number; body: unknown }>("response")!;
      backend.enqueueWatchReply(statusReply(response.status, response.body));
      break;
    }
    case "unsupported_capability":
      backend.features = {
        ...backend.features,
        bundle_change_watch: get<boolean>("bundleChangeWatchSupported") ?? false,
      };
      break;
    default:
      throw new Error(`unknown serverScript kind ${JSON.stringify(script.kind)}`);
  }

  for (const name of ["remoteBundles", "startBundles"]) {
    for (const bundle of get<{ rows: ScriptRow[] }[]>(name) ?? [])
      backend.appendBundle({ rows: bundleRows(bundle.rows) });
  }
  const wakeBundles = get<{ rows: ScriptRow[] }[]>("wakeBundles") ?? [];
  return {
    deliverWakeBundles: () =>
      wakeBundles.map((bundle) => backend.appendBundle({ rows: bundleRows(bundle.rows) })),
  };
}

/** pull-snapshot/behavior snapshot_sequence: sessions and chunk bodies served verbatim. */
function applySnapshotSequence(backend: FakeSyncBackend, script: ServerScript): void {
  const sessions = script.sessions as Record<string, unknown>[];
  const chunks = script.chunks as Record<string, Record<string, Record<string, unknown>>>;
  backend.override("snapshotCreate", () => sequence(...sessions.map((session) => jsonReply(session))));
  backend.override("snapshotChunk", () => (request: RecordedRequest, params) => {
    const chunk = chunks[params.snapshot_id!]?.[request.query.after_row_ordinal ?? "0"];
    if (chunk === undefined) {
      return statusReply(404, {
        error: "snapshot_session_not_found",
        message: `no scripted chunk for ${request.path}`,
      });
    }
    // A scripted failure is {status, body}; a chunk body is served as written (compact JSON, so
    // each row's bytes are what the fixture's byte_count counted).
    return typeof chunk.status === "number" ? statusReply(chunk.status, chunk.body) : jsonReply(chunk);
  });
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

interface SessionError {
  readonly error: string;
  readonly message: string;
  readonly status?: number;
  readonly sourceId?: string;
  readonly replacedBySourceId?: string;
}

/** lifecycle/behavior scripts: snapshots, snapshot-create errors, connect and version scripts, pulls. */
function applyLifecycleScript(
  backend: FakeSyncBackend,
  script: ServerScript,
  context: { schema: string; table: string; onPull: ServerScriptContext["onPull"] },
): void {
  const resolution = script.connectResolution as string | undefined;
  if (resolution !== undefined && resolution !== "default") {
    backend.connectResolution = resolution as FakeSyncBackend["connectResolution"];
  }
  const versions = script.protocolVersions as string[] | undefined;
  if (versions !== undefined) backend.protocolVersions = versions;
  if (context.onPull) {
    const onPull = context.onPull;
    backend.beforePull = (index) => onPull(index);
  }
  for (const snapshot of (script.snapshots as LifecycleSnapshot[] | undefined) ?? []) {
    const rows: SnapshotRowInput[] = snapshot.rows.map((row) => ({
      schema: context.schema,
      table: context.table,
      key: row.key,
      row_version: row.rowVersion,
      payload: row.payload,
    }));
    backend.enqueueSnapshot({
      id: snapshot.id,
      bundleSeq: snapshot.bundleSeq,
      rows,
      ...(snapshot.rowsPerChunk === undefined ? {} : { rowsPerChunk: snapshot.rowsPerChunk }),
      ...(snapshot.failAfterRowOrdinal === undefined
        ? {}
        : { failAfterRowOrdinal: snapshot.failAfterRowOrdinal }),
    });
  }
  const errors = (script.snapshotSessionErrors as SessionError[] | undefined) ?? [];
  if (errors.length > 0) {
    let calls = 0;
    backend.override("snapshotCreate", (next) => (request, params) => {
      const error = errors[calls++];
      if (error === undefined) return next(request, params);
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
    });
  }
}
