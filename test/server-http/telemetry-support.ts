/**
 * Recording stand-ins for what a host plugs into the runtime (a TelemetryRecorder, a SyncLogger
 * with every level), and sync calls over real HTTP for the telemetry suites.
 */
import { type PushRow, canonicalRequestHash } from "@oversync/protocol";
import type {
  LogDetails,
  MetricDefinition,
  SyncLogger,
  SyncMetric,
  TelemetryRecorder,
} from "@oversync/server";
import { expect } from "vitest";
import { type JsonReply, call, syncHeaders } from "./http-support.js";

/** One recording, as the recorder was given it. */
export interface Recording {
  readonly metric: MetricDefinition;
  readonly value: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** A recorder that keeps every recording, for asserting what the runtime recorded and with which labels. */
export class RecordingTelemetry implements TelemetryRecorder {
  readonly recordings: Recording[] = [];

  record(metric: SyncMetric, value: number, labels: Readonly<Record<string, string>>): void {
    this.recordings.push({ metric, value, labels: { ...labels } });
  }

  /** A position to read later recordings from. */
  mark(): number {
    return this.recordings.length;
  }

  /** The recordings of `metric` after `mark`, as `[labels, value]` pairs. */
  of(metric: MetricDefinition, mark = 0): [Readonly<Record<string, string>>, number][] {
    return this.recordings
      .slice(mark)
      .filter((recording) => recording.metric.name === metric.name)
      .map((recording) => [recording.labels, recording.value]);
  }

  /** The sum of the values of `metric` after `mark` whose labels include `labels`. */
  sum(metric: MetricDefinition, labels: Readonly<Record<string, string>> = {}, mark = 0): number {
    return this.of(metric, mark)
      .filter(([recorded]) => Object.entries(labels).every(([name, value]) => recorded[name] === value))
      .reduce((total, [, value]) => total + value, 0);
  }
}

/** One log entry. */
export interface LogEntry {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly message: string;
  readonly details: LogDetails;
}

/** A logger taking every level, keeping what it is given. */
export function recordingFullLogger(): Required<SyncLogger> & { readonly entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry["level"]) =>
    (message: string, details: LogDetails = {}) =>
      entries.push({ level, message, details });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A device of `userId` talking to `base` over HTTP. */
export function httpDevice(base: string, userId: string, sourceId: string) {
  const send = (method: string, path: string, body?: string): Promise<JsonReply> =>
    call(base, path, {
      method,
      headers: syncHeaders(
        userId,
        sourceId,
        body === undefined ? undefined : { "content-type": "application/json" },
      ),
      body,
    });
  return {
    userId,
    sourceId,
    send,
    get: (path: string) => send("GET", path),
    post: (path: string, body?: unknown) =>
      send("POST", path, body === undefined ? undefined : JSON.stringify(body)),
    /**
     * Creates a push session, uploads `rows` in one chunk and commits; returns the commit reply and
     * the chunk's body text (whose bytes the push figure counts).
     */
    async push(sourceBundleId: number, rows: PushRow[]): Promise<{ commit: JsonReply; chunkBody: string }> {
      const created = await send(
        "POST",
        "/sync/push-sessions",
        JSON.stringify({
          source_bundle_id: sourceBundleId,
          planned_row_count: rows.length,
          canonical_request_hash: canonicalRequestHash(rows),
        }),
      );
      expect(created.status).toBe(200);
      const pushId = (created.body as { push_id: string }).push_id;
      const chunkBody = JSON.stringify({ start_row_ordinal: 0, rows });
      expect((await send("POST", `/sync/push-sessions/${pushId}/chunks`, chunkBody)).status).toBe(200);
      return { commit: await send("POST", `/sync/push-sessions/${pushId}/commit`), chunkBody };
    },
  };
}
