/**
 * The app layer of the client over the loopback fake server and a real SQLite file: automatic
 * uploads after local writes (no `sync()` call), the status and its listeners, failures of
 * automatic sync reaching `onError` (and a 401 pausing it until the app acts), `sync()` calls that
 * queue behind a running one, conflicts in the report and the `onConflict` event, and progress
 * counts during a restore. Every wait is for an event (a status, an error, a request); none is a
 * fixed sleep.
 */
import {
  type ResolvedConflict,
  type SyncClient,
  type SyncClientStatus,
  type SyncErrorInfo,
  type SyncProgress,
  isClientError,
  mergeRows,
  serverWins,
} from "@oversync/client";
import { SYNC_ENDPOINT_NAMES } from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeHandler } from "../client-support/fake-sync-server.js";
import { errorReply, statusReply } from "../client-support/scripted-replies.js";
import {
  type EngineHarness,
  type EngineHarnessOptions,
  scalar,
  startAttachedHarness,
  startEngineHarness,
} from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** Fast loops: a short upload delay and retry, no watch, a long polling interval. */
const FAST = {
  watch: "off",
  intervalMillis: 60_000,
  uploadDelayMillis: 10,
  uploadRetryMinMillis: 5,
  uploadRetryMaxMillis: 20,
} as const;

async function attached(options: EngineHarnessOptions = {}): Promise<EngineHarness> {
  harness = await startAttachedHarness(options);
  return harness;
}

/** Resolves with the first status (the current one included) that satisfies `predicate`. */
function statusWhere(
  client: SyncClient,
  predicate: (status: SyncClientStatus) => boolean,
): Promise<SyncClientStatus> {
  return new Promise((resolve) => {
    if (predicate(client.status)) {
      resolve(client.status);
      return;
    }
    const off = client.onStatus((status) => {
      if (!predicate(status)) return;
      off();
      resolve(status);
    });
  });
}

/** Every status the client reports from now on. */
function recordStatuses(client: SyncClient): SyncClientStatus[] {
  const seen: SyncClientStatus[] = [client.status];
  client.onStatus((status) => seen.push(status));
  return seen;
}

/** The JSON round trip of `value` (throws on bigint, loses nothing else for plain data). */
function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Answers every sync request 401 while `revoked.now` is true. */
function revocable(h: EngineHarness): { now: boolean } {
  const revoked = { now: false };
  for (const name of SYNC_ENDPOINT_NAMES) {
    h.backend.override(
      name,
      (next): FakeHandler =>
        (request, params) =>
          revoked.now ? errorReply("authentication_failed", "token revoked") : next(request, params),
    );
  }
  return revoked;
}

describe("automatic uploads", () => {
  it("a local write reaches the server without sync(), and the status follows it", async () => {
    const h = await attached();
    const statuses = recordStatuses(h.client);
    h.client.start(FAST);
    expect(h.client.status).toMatchObject({ automaticSync: "running", pendingChangeCount: 0 });

    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    await statusWhere(h.client, (status) => status.pendingChangeCount === 1);
    const synced = await statusWhere(
      h.client,
      (status) => status.pendingChangeCount === 0 && !status.uploading && status.lastSyncedAt !== null,
    );

    expect(h.backend.bundles.map((bundle) => bundle.rows.map((row) => row.payload))).toEqual([
      [{ id: "u1", name: "Ada" }],
    ]);
    expect(synced).toMatchObject({ connection: "online", lastError: null, rebuildRequired: false });
    expect(Number.isNaN(Date.parse(synced.lastSyncedAt!))).toBe(false);
    expect(statuses.some((status) => status.uploading)).toBe(true);
    for (const status of statuses) expect(viaJson(status)).toEqual(status);

    await h.client.stop();
    expect(h.client.status.automaticSync).toBe("off");
  });

  it("a burst of writes becomes one bundle; writes during a push make the next one", async () => {
    const h = await attached();
    let releaseCommit: () => void = () => undefined;
    const commitHeld = new Promise<void>((resolve) => (releaseCommit = resolve));
    let commitSeen: () => void = () => undefined;
    const commitArrived = new Promise<void>((resolve) => (commitSeen = resolve));
    let commits = 0;
    h.backend.override(
      "pushCommit",
      (next): FakeHandler =>
        async (request, params) => {
          if (commits++ === 0) {
            commitSeen();
            await commitHeld;
          }
          return next(request, params);
        },
    );
    h.client.start({ ...FAST, uploadDelayMillis: 30 });
    await h.execute(["INSERT INTO users (id, name) VALUES ('a', 'A')"]);
    await h.execute(["INSERT INTO users (id, name) VALUES ('b', 'B')"]);
    await h.execute(["INSERT INTO users (id, name) VALUES ('c', 'C')"]);
    await commitArrived;
    await h.execute(["UPDATE users SET name = 'C2' WHERE id = 'c'"]);
    releaseCommit();
    await statusWhere(
      h.client,
      (status) => status.pendingChangeCount === 0 && h.backend.bundles.length === 2,
    );
    expect(h.backend.bundles.map((bundle) => bundle.rows.length)).toEqual([3, 1]);
    expect(h.backend.bundles[1]!.rows[0]).toMatchObject({ op: "UPDATE", payload: { id: "c", name: "C2" } });
  });

  it("changes pending before start() are pushed once the client starts", async () => {
    const h = await attached();
    await h.execute(["INSERT INTO users (id, name) VALUES ('early', 'E')"]);
    h.client.start(FAST);
    await statusWhere(
      h.client,
      (status) => h.backend.bundles.length === 1 && status.pendingChangeCount === 0,
    );
    expect(h.backend.bundles[0]!.rows[0]).toMatchObject({ key: { id: "early" } });
  });

  it("a failed push is retried, and the failure reaches onError and the status meanwhile", async () => {
    const h = await attached();
    let failures = 2;
    h.backend.override(
      "pushCreate",
      (next): FakeHandler =>
        (request, params) =>
          failures-- > 0 ? statusReply(503, { error: "temporary", message: "down" }) : next(request, params),
    );
    const errors: SyncErrorInfo[] = [];
    h.client.onError((_error, info) => errors.push(info));
    h.client.start(FAST);
    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    await statusWhere(h.client, (status) => status.lastError !== null);
    const done = await statusWhere(
      h.client,
      (status) => status.pendingChangeCount === 0 && h.backend.bundles.length === 1,
    );
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toMatchObject({ source: "automatic_upload", needsApp: false });
    expect(done.lastError).toBeNull();
    expect(done.automaticSync).toBe("running");
  });
});

describe("a revoked token", () => {
  it("reaches onError and the status, pauses automatic sync, and resumes once a call succeeds", async () => {
    const h = await attached();
    const revoked = revocable(h);
    const errors: { error: unknown; info: SyncErrorInfo }[] = [];
    const firstError = new Promise<void>((resolve) =>
      h.client.onError((error, info) => {
        errors.push({ error, info });
        resolve();
      }),
    );
    revoked.now = true;
    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    h.client.start(FAST);
    await firstError;
    const paused = await statusWhere(h.client, (status) => status.automaticSync === "paused");

    // The first automatic request of either loop meets the 401.
    expect(errors[0]!.info).toMatchObject({ code: "authentication_failed", needsApp: true });
    expect(["automatic_upload", "automatic_download"]).toContain(errors[0]!.info.source);
    expect(isClientError(errors[0]!.error)).toBe(false); // a wire error: OversyncError
    expect(paused.lastError).toMatchObject({ code: "authentication_failed", needsApp: true });
    expect(viaJson(paused)).toEqual(paused);

    // Paused: a new write is counted but starts no request until the app acts.
    const requestsWhenPaused = h.server.requests.length;
    await h.execute(["INSERT INTO users (id, name) VALUES ('u2', 'Bob')"]);
    await statusWhere(h.client, (status) => status.pendingChangeCount === 2);
    expect(h.server.requests.length).toBe(requestsWhenPaused);
    expect(errors).toHaveLength(1);

    // The app signs in again and syncs: automatic sync runs again.
    revoked.now = false;
    const report = await h.client.sync();
    expect(report.pushOutcome).toBe("committed");
    expect(h.client.status).toMatchObject({ automaticSync: "running", lastError: null });
  });

  it("a failing explicit call is recorded in the status but not sent to onError", async () => {
    const h = await attached();
    const revoked = revocable(h);
    const errors: SyncErrorInfo[] = [];
    h.client.onError((_error, info) => errors.push(info));
    revoked.now = true;
    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    await expect(h.client.sync()).rejects.toMatchObject({ code: "authentication_failed" });
    expect(h.client.status.lastError).toMatchObject({ code: "authentication_failed", source: "call" });
    expect(errors).toEqual([]);
  });
});

describe("overlapping calls", () => {
  it("sync() while a sync() runs queues one follow-up round that every later sync() shares", async () => {
    const h = await attached();
    await h.execute(["INSERT INTO users (id, name) VALUES ('a', 'A')"]);
    const first = h.client.sync();
    await h.execute(["INSERT INTO users (id, name) VALUES ('b', 'B')"]);
    const second = h.client.sync();
    const third = h.client.sync();
    expect(third).toBe(second);
    const [one, two] = await Promise.all([first, second]);
    expect(one.pushOutcome).toBe("committed");
    expect(two.syncStatus.pending.pendingRowCount).toBe(0);
    expect(h.backend.bundles.flatMap((bundle) => bundle.rows.map((row) => row.key.id)).sort()).toEqual([
      "a",
      "b",
    ]);
  });

  it("other calls overlapping a call still fail fast; calls overlapping automatic sync wait", async () => {
    const h = await attached();
    const running = h.client.sync();
    await expect(h.client.pushPending()).rejects.toMatchObject({ code: "sync_operation_in_progress" });
    await running;

    let releaseCommit: () => void = () => undefined;
    const commitHeld = new Promise<void>((resolve) => (releaseCommit = resolve));
    let commitSeen: () => void = () => undefined;
    const commitArrived = new Promise<void>((resolve) => (commitSeen = resolve));
    h.backend.override(
      "pushCommit",
      (next): FakeHandler =>
        async (request, params) => {
          commitSeen();
          await commitHeld;
          return next(request, params);
        },
    );
    h.client.start(FAST);
    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    await commitArrived;
    expect(h.client.status.uploading).toBe(true);
    const synced = h.client.sync();
    releaseCommit();
    expect((await synced).syncStatus.pending.pendingRowCount).toBe(0);
    expect((await h.client.pendingSyncStatus()).pendingRowCount).toBe(0);
  });
});

describe("conflicts", () => {
  /** user-1 synced at version 1, then renamed locally; the next commit meets the server's version 2. */
  async function conflicting(options: EngineHarnessOptions): Promise<EngineHarness> {
    const h = await attached(options);
    h.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "users",
          key: { id: "user-1" },
          op: "INSERT",
          payload: { id: "user-1", name: "Ada" },
        },
      ],
    });
    await h.client.pullToStable();
    let delivered = false;
    h.backend.override(
      "pushCommit",
      (next): FakeHandler =>
        (request, params) => {
          if (delivered) return next(request, params);
          delivered = true;
          return statusReply(409, {
            error: "push_conflict",
            message: "stale base",
            conflict: {
              schema: "main",
              table: "users",
              key: { id: "user-1" },
              op: "UPDATE",
              base_row_version: 1,
              server_row_version: 2,
              server_row_deleted: false,
              server_row: { id: "user-1", name: "Server" },
            },
          });
        },
    );
    await h.execute(["UPDATE users SET name = 'Local' WHERE id = 'user-1'"]);
    return h;
  }

  it("server-wins (the default) lists the discarded local values in the report and the event", async () => {
    const h = await conflicting({});
    const events: ResolvedConflict[] = [];
    h.client.onConflict((conflict) => events.push(conflict));
    const report = await h.client.sync();
    const expected: ResolvedConflict = {
      schema: "main",
      table: "users",
      key: { id: "user-1" },
      resolution: "server_won",
      localOp: "UPDATE",
      localValues: { id: "user-1", name: "Local" },
      serverValues: { id: "user-1", name: "Server" },
      serverRowVersion: 2,
    };
    expect(report.conflicts).toEqual([expected]);
    expect(events).toEqual([expected]);
    expect(viaJson(report.conflicts)).toEqual([expected]);
    expect(await h.query("SELECT name FROM users")).toEqual([{ name: "Server" }]);
  });

  it("a merge is reported with the merged row; automatic sync reports through the event only", async () => {
    const h = await conflicting({
      client: {
        resolver: mergeRows((conflict) => ({
          id: "user-1",
          name: `${conflict.serverRow?.name}+${conflict.localRow?.name}`,
        })),
      },
    });
    const event = new Promise<ResolvedConflict>((resolve) => h.client.onConflict(resolve));
    h.client.start(FAST);
    expect(await event).toMatchObject({
      resolution: "merged",
      localValues: { name: "Local" },
      serverValues: { name: "Server" },
      mergedValues: { id: "user-1", name: "Server+Local" },
    });
    await statusWhere(
      h.client,
      (status) => status.pendingChangeCount === 0 && h.backend.bundles.length === 2,
    );
    expect(await h.query("SELECT name FROM users")).toEqual([{ name: "Server+Local" }]);
  });

  it("a push without conflicts reports none", async () => {
    const h = await attached({ client: { resolver: serverWins } });
    await h.execute(["INSERT INTO users (id, name) VALUES ('u1', 'Ada')"]);
    expect((await h.client.pushPending()).conflicts).toEqual([]);
  });
});

describe("stop() during an automatic restore", () => {
  it("ends after the snapshot chunk in hand, reports no failure, and start() again restores", async () => {
    const h = await attached({ client: { snapshotChunkRows: 100 } });
    // Every pull finds the history pruned, so automatic downloads rebuild from a snapshot.
    h.backend.override(
      "pull",
      () => () =>
        statusReply(409, {
          error: "history_pruned",
          message: "after_bundle_seq 0 is below retained floor 7",
        }),
    );
    const rows = Array.from({ length: 3_000 }, (_, index) => ({
      schema: "main",
      table: "users",
      key: { id: `user-${index}` },
      op: "INSERT" as const,
      payload: { id: `user-${index}`, name: `User ${index}` },
      row_version: 7,
    }));
    h.backend.enqueueSnapshot({ id: "snapshot-stop", bundleSeq: 7, rows, rowsPerChunk: 100 });
    let chunkRequests = 0;
    let stopping: Promise<void> | undefined;
    const stopped = new Promise<void>((resolve) => {
      h.backend.override("snapshotChunk", (next) => (request, params) => {
        if (++chunkRequests === 2) {
          stopping = h.client.stop();
          resolve();
        }
        return next(request, params);
      });
    });
    const errors: SyncErrorInfo[] = [];
    h.client.onError((_error, info) => errors.push(info));
    h.client.start(FAST);
    await stopped;
    await stopping;

    expect(chunkRequests).toBe(2);
    expect(await scalar(h, "SELECT count(*) FROM users")).toBe(0);
    expect(errors).toEqual([]);
    expect(h.client.status).toMatchObject({ automaticSync: "off", lastError: null });

    const restored = new Promise<void>((resolve) => {
      const off = h.client.onTablesChanged(async () => {
        if ((await scalar(h, "SELECT count(*) FROM users")) !== 3_000) return;
        off();
        resolve();
      });
    });
    h.client.start(FAST);
    await restored;
    expect(errors).toEqual([]);
    expect(chunkRequests).toBe(2 + 30);
  });
});

describe("progress counts", () => {
  it("a restore of 3,000 rows counts staged and applied rows and bytes, at most ten updates a second", async () => {
    harness = await startEngineHarness({
      backend: { connectResolution: "remote_authoritative" },
      client: { snapshotChunkRows: 100, snapshotApplyBatchRows: 100 },
    });
    const h = harness;
    const rows = Array.from({ length: 3_000 }, (_, index) => ({
      schema: "main",
      table: "users",
      key: { id: `user-${index}` },
      op: "INSERT" as const,
      payload: { id: `user-${index}`, name: `User ${index}` },
    }));
    h.backend.appendBundle({ rows });
    await h.client.open();
    const events: { at: number; progress: SyncProgress }[] = [];
    h.client.onProgress((progress) => events.push({ at: performance.now(), progress }));
    const result = await h.client.attach("user-1");
    expect(result).toMatchObject({ outcome: "used_remote_state", restore: { rowCount: 3000 } });

    const phase = (name: string) =>
      events.flatMap(({ at, progress }) =>
        progress.state === "active" && progress.phase === name ? [{ at, progress }] : [],
      );
    const staging = phase("staging_remote_state");
    const applying = phase("applying_remote_state");
    const lastStaged = staging.at(-1)!.progress;
    expect(lastStaged).toMatchObject({ rows: { done: 3000, total: 3000 } });
    if (lastStaged.state !== "active" || lastStaged.bytes === undefined) throw new Error("no byte counts");
    expect(lastStaged.bytes.done).toBe(lastStaged.bytes.total);
    expect(lastStaged.bytes.total).toBeGreaterThan(3000 * 20);
    expect(applying.at(-1)!.progress).toMatchObject({ rows: { done: 3000, total: 3000 } });

    for (const series of [staging, applying]) {
      const done = series.map(({ progress }) =>
        progress.state === "active" ? (progress.rows?.done ?? 0) : 0,
      );
      expect(done).toEqual([...done].sort((a, b) => a - b));
      // Between two count reports of a phase at least the interval passes; a complete count is not held back.
      const complete = (progress: SyncProgress) =>
        progress.state === "active" &&
        progress.rows !== undefined &&
        progress.rows.done === progress.rows.total;
      for (let index = 2; index < series.length; index++) {
        if (complete(series[index]!.progress)) continue;
        expect(series[index]!.at - series[index - 1]!.at).toBeGreaterThanOrEqual(95);
      }
      expect(series.filter(({ progress }) => complete(progress))).toHaveLength(1);
    }
    for (const { progress } of events) expect(viaJson(progress)).toEqual(progress);
  });

  it("a pull counts bundles against the ceiling and the rows they held", async () => {
    const h = await attached();
    for (let bundle = 0; bundle < 5; bundle++) {
      h.backend.appendBundle({
        rows: [
          {
            schema: "main",
            table: "users",
            key: { id: `r${bundle}a` },
            op: "INSERT",
            payload: { id: `r${bundle}a`, name: "A" },
          },
          {
            schema: "main",
            table: "users",
            key: { id: `r${bundle}b` },
            op: "INSERT",
            payload: { id: `r${bundle}b`, name: "B" },
          },
        ],
      });
    }
    const events: SyncProgress[] = [];
    h.client.onProgress((progress) => events.push(progress));
    await h.client.pullToStable();
    expect(events.filter((event) => event.state === "active").at(-1)).toEqual({
      state: "active",
      operation: "pull_to_stable",
      phase: "pulling",
      bundles: { done: 5, total: 5 },
      rows: { done: 10 },
    });
  });
});
