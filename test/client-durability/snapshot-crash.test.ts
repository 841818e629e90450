/**
 * Snapshot work killed with SIGKILL against the real server on PostgreSQL: mid-snapshot-stage (the
 * server kills the child when its 3rd chunk request arrives, before answering it) and right before
 * the final swap (the child kills itself when `applying_remote_state` is reported, with the whole
 * snapshot staged). Three operations:
 * - keep-source rebuild: the durable rebuild gate; rebuild() or sync() after the restart finishes;
 * - rotating rebuild out of source recovery: the server already retired the old source when the
 *   child died; the restart repeats the replacement and the carried outbox commits exactly once
 *   as bundle 1 of the new source;
 * - remote-authoritative attach: a fully staged snapshot is applied after the restart without a
 *   new snapshot session; a partial one is staged again.
 * Afterwards local rows equal the server's bit for bit and no sync bookkeeping is left behind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChildArgs } from "./child.js";
import { type RunningChild, startChild } from "./child-runner.js";
import {
  CARRIED_SAMPLES,
  REMOTE_FILES,
  REMOTE_SAMPLES,
  SNAPSHOT_ROWS,
  diverge,
  expectedAfterRemote,
} from "./crash-rows.js";
import { type DeviceOptions, createDeviceFile, openDevice, openDriver } from "./local-device.js";
import { type SyncBookkeeping, readBookkeeping } from "./local-state.js";
import {
  type RealServer,
  serverBundles,
  serverFingerprints,
  serverSources,
  startRealServer,
} from "./real-server.js";
import {
  FILE_ROWS,
  type FileRow,
  type Fingerprints,
  SAMPLE_ROWS,
  type SampleRow,
  localFingerprints,
  writeRows,
} from "./values.js";

/** Rows asked per snapshot chunk: the snapshot comes in 7 chunks. */
const CHUNK_ROWS = 3;
const SNAPSHOT_CREATE = { method: "POST", path: "/sync/snapshot-sessions" } as const;

let server: RealServer;
const cleanups: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  server = await startRealServer();
});
afterAll(async () => {
  await server?.close();
});
afterEach(async () => {
  server.log.disarm();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let users = 0;
/** A fresh account for one test. */
function newUser(): string {
  return `snapshot-crash-${++users}-${Date.now()}`;
}

async function newDevice(userId: string): Promise<DeviceOptions> {
  const file = await createDeviceFile();
  cleanups.push(file.remove);
  return { dbPath: file.dbPath, baseUrl: server.baseUrl, userId, snapshotChunkRows: CHUNK_ROWS };
}

/** Opens the device (attaching it), writes rows and pushes them as one bundle. */
async function pushFrom(options: DeviceOptions, files: readonly FileRow[], samples: readonly SampleRow[]) {
  const device = await openDevice(options);
  try {
    await writeRows(device.driver, files, samples);
    expect((await device.client.pushPending()).outcome).toBe("committed");
  } finally {
    await device.close();
  }
}

/** Where the child dies. */
interface Kill {
  readonly name: string;
  /** Kill at the nth snapshot chunk request (server side) … */
  readonly chunk?: number;
  /** … or from the child's own progress listener. */
  readonly killAtPhase?: "applying_remote_state";
  /** The staged row counts the file may hold right after the kill: whole chunks only. */
  readonly stagedRows: readonly number[];
}

const KILLS: readonly Kill[] = [
  // Each chunk downloads while the one before it is staged: when the 3rd request arrives the 1st
  // chunk is staged and the 2nd may be.
  {
    name: "mid-snapshot-stage (3rd chunk request sent, never answered)",
    chunk: 3,
    stagedRows: [CHUNK_ROWS, 2 * CHUNK_ROWS],
  },
  {
    name: "before the final swap (whole snapshot staged)",
    killAtPhase: "applying_remote_state",
    stagedRows: [SNAPSHOT_ROWS],
  },
];

/** Runs `operation` in the child and kills it as `kill` says; checks it died there. */
async function killChild(
  options: DeviceOptions,
  operation: ChildArgs["operation"],
  kill: Kill,
): Promise<void> {
  let child: RunningChild | undefined;
  const trap =
    kill.chunk === undefined
      ? undefined
      : {
          method: "GET",
          path: "/sync/snapshot-sessions/:id",
          nth: kill.chunk,
          when: "before" as const,
          spring: async () => {
            await child?.killAndWait();
          },
        };
  if (trap !== undefined) server.log.arm(trap);
  child = startChild({
    ...options,
    operation,
    ...(kill.killAtPhase === undefined ? {} : { killAtPhase: kill.killAtPhase }),
  });
  const running = child;
  cleanups.push(async () => {
    await running.killAndWait();
  });
  const exit = await child.exited;
  // Killed, with no result line printed (stderr only explains a failure; Node may warn there).
  expect({ signal: exit.signal, stdout: exit.stdout }, exit.stderr).toEqual({
    signal: "SIGKILL",
    stdout: "",
  });
  if (trap !== undefined) expect(server.log.sprung.at(-1)).toBe(trap);
}

async function readState(options: DeviceOptions): Promise<{ state: SyncBookkeeping; rows: Fingerprints }> {
  const driver = await openDriver(options.dbPath);
  try {
    return { state: await readBookkeeping(driver), rows: await localFingerprints(driver) };
  } finally {
    await driver.close();
  }
}

/** The base rows pushed by `main` (bundle 1), the remote changes by a second device (bundle 2). */
async function accountWithTwoBundles(userId: string, main: DeviceOptions): Promise<void> {
  await pushFrom(main, FILE_ROWS, SAMPLE_ROWS);
  await pushFrom(await newDevice(userId), REMOTE_FILES, REMOTE_SAMPLES);
}

describe("keep-source rebuild killed with SIGKILL (real server)", () => {
  for (const [index, kill] of KILLS.entries()) {
    it(`${kill.name}: the reopened client finishes the rebuild`, async () => {
      const userId = newUser();
      const device = await newDevice(userId);
      await pushFrom(device, FILE_ROWS, SAMPLE_ROWS);
      await pushFrom(await newDevice(userId), REMOTE_FILES, REMOTE_SAMPLES);
      await diverge(device.dbPath);
      const before = await readState(device);

      await killChild(device, "rebuild", kill);
      const after = await readState(device);
      expect(after.state).toMatchObject({
        rebuildRequired: true,
        lastBundleSeqSeen: 1n,
        dirtyRows: 0,
      });
      expect(kill.stagedRows).toContain(after.state.snapshotStageRows);
      expect(after.rows).toEqual(before.rows);

      const reopened = await openDevice(device);
      cleanups.push(() => reopened.close());
      // The rebuild gate survived: rebuild() again, or sync(), which recovers the checkpoint first.
      if (index === 0) expect((await reopened.client.rebuild()).outcome).toBe("applied_snapshot");
      else expect((await reopened.client.sync()).remoteOutcome).toBe("applied_snapshot");

      const expected = expectedAfterRemote();
      expect(await localFingerprints(reopened.driver)).toEqual(expected);
      expect(await serverFingerprints(server, userId)).toEqual(expected);
      expect(await readBookkeeping(reopened.driver)).toMatchObject({
        sourceId: before.state.sourceId,
        lastBundleSeqSeen: 2n,
        rebuildRequired: false,
        outboxState: "none",
        outboxRows: 0,
        dirtyRows: 0,
        rowStates: SNAPSHOT_ROWS,
        snapshotStageRows: 0,
        operationKind: "none",
      });
      expect(await serverBundles(server, userId)).toHaveLength(2);
    });
  }
});

describe("rotating rebuild out of source recovery killed with SIGKILL (real server)", () => {
  for (const kill of KILLS) {
    it(`${kill.name}: the carried local writes are committed exactly once`, async () => {
      const userId = newUser();
      const device = await newDevice(userId);
      await pushFrom(device, FILE_ROWS, SAMPLE_ROWS);

      // The device's sequence skips ahead of what the server knows (as after a server restore):
      // the next push is refused with source_sequence_out_of_order, its rows wait in the outbox.
      const recovering = await openDevice(device);
      await writeRows(recovering.driver, [], CARRIED_SAMPLES);
      await recovering.driver.run("UPDATE _sync_source_state SET next_source_bundle_id = 3");
      await expect(recovering.client.pushPending()).rejects.toMatchObject({
        code: "source_recovery_required",
        reason: "source_sequence_out_of_order",
      });
      await recovering.close();
      await pushFrom(await newDevice(userId), REMOTE_FILES, REMOTE_SAMPLES);
      const before = await readState(device);
      expect(before.state).toMatchObject({
        operationKind: "source_recovery",
        outboxState: "prepared",
        outboxRows: CARRIED_SAMPLES.length,
      });
      const oldSource = before.state.sourceId;

      await killChild(device, "rebuild", kill);
      const after = await readState(device);
      expect(after.state).toMatchObject({
        sourceId: oldSource,
        operationKind: "source_recovery",
        outboxState: "prepared",
        outboxRows: CARRIED_SAMPLES.length,
      });
      expect(kill.stagedRows).toContain(after.state.snapshotStageRows);
      expect(after.rows).toEqual(before.rows);
      // The server already retired the old source in favour of the reserved replacement.
      const replacement = (await serverSources(server, userId)).find(
        (source) => source.sourceId === oldSource,
      );
      expect(replacement).toMatchObject({ state: "retired", replacedBy: expect.any(String) });

      const reopened = await openDevice(device);
      cleanups.push(() => reopened.close());
      expect((await reopened.client.rebuild()).outcome).toBe("applied_snapshot");
      const rotated = await readBookkeeping(reopened.driver);
      expect(rotated).toMatchObject({
        sourceId: replacement?.replacedBy,
        outboxState: "prepared",
        outboxSourceBundleId: 1n,
        outboxRows: CARRIED_SAMPLES.length,
      });
      expect((await reopened.client.pushPending()).outcome).toBe("committed");
      expect((await reopened.client.pushPending()).outcome).toBe("no_change");

      const expected = expectedAfterRemote(CARRIED_SAMPLES);
      expect(await localFingerprints(reopened.driver)).toEqual(expected);
      expect(await serverFingerprints(server, userId)).toEqual(expected);
      const bundles = await serverBundles(server, userId);
      expect(
        bundles.map(({ bundleSeq, sourceId, sourceBundleId }) => [bundleSeq, sourceId, sourceBundleId]),
      ).toEqual([
        ["1", oldSource, "1"],
        ["2", expect.any(String), "1"],
        ["3", rotated.sourceId, "1"],
      ]);
      expect(bundles[2]?.rowCount).toBe(CARRIED_SAMPLES.length);
      expect(await readBookkeeping(reopened.driver)).toMatchObject({
        sourceId: rotated.sourceId,
        lastBundleSeqSeen: 3n,
        rebuildRequired: false,
        outboxState: "none",
        outboxRows: 0,
        dirtyRows: 0,
        snapshotStageRows: 0,
        operationKind: "none",
      });
    });
  }
});

describe("remote-authoritative attach killed with SIGKILL (real server)", () => {
  for (const kill of KILLS) {
    it(`${kill.name}: the reopened client finishes restoring the account`, async () => {
      const userId = newUser();
      await accountWithTwoBundles(userId, await newDevice(userId));
      const device = await newDevice(userId);

      await killChild(device, "attach", kill);
      const after = await readState(device);
      expect(after.state).toMatchObject({
        operationKind: "remote_replace",
        lastBundleSeqSeen: 0n,
      });
      expect(kill.stagedRows).toContain(after.state.snapshotStageRows);
      expect(after.rows).toEqual({ files: [], samples: [] });

      const createsBefore = server.log.count(SNAPSHOT_CREATE.method, SNAPSHOT_CREATE.path);
      const reopened = await openDevice(device, false);
      cleanups.push(() => reopened.close());
      expect(await reopened.client.attach(userId)).toMatchObject({
        status: "connected",
        outcome: "used_remote_state",
      });
      // A completely staged snapshot is applied as it is; a partial stage needs a new session.
      const creates = server.log.count(SNAPSHOT_CREATE.method, SNAPSHOT_CREATE.path) - createsBefore;
      expect(creates).toBe(after.state.snapshotStageRows === SNAPSHOT_ROWS ? 0 : 1);

      const expected = expectedAfterRemote();
      expect(await localFingerprints(reopened.driver)).toEqual(expected);
      expect(await serverFingerprints(server, userId)).toEqual(expected);
      expect(await readBookkeeping(reopened.driver)).toMatchObject({
        lastBundleSeqSeen: 2n,
        rebuildRequired: false,
        outboxState: "none",
        dirtyRows: 0,
        rowStates: SNAPSHOT_ROWS,
        snapshotStageRows: 0,
        operationKind: "none",
      });
      expect((await reopened.client.pullToStable()).outcome).toBe("already_at_target");
    });
  }
});
