/**
 * A rebuild killed with SIGKILL mid-snapshot-stage (the fake server kills the child when the 2nd
 * chunk request arrives) and right before the final swap (the child kills itself when the
 * `applying_remote_state` phase is reported, after the whole snapshot is staged). Both a
 * keep-source rebuild (the rebuild gate) and a rotating rebuild out of source recovery, which
 * carries a frozen outbox of local writes to the new source. The reopened client must finish:
 * local rows equal the server's live rows bit for bit, stray local state is gone, the checkpoint
 * is the snapshot's, and the carried local writes are committed exactly once.
 *
 * The counterpart is the fake backend (fake-host.ts), so the client's side is covered whatever the
 * server's snapshot implementation does; snapshot-crash.test.ts runs the same kills against the
 * real server.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { FakeBundle } from "../client-support/fake-sync-backend.js";
import { failFirst, statusReply } from "../client-support/scripted-replies.js";
import { type RunningChild, startChild } from "./child-runner.js";
import {
  CARRIED_SAMPLES,
  REMOTE_FILES,
  REMOTE_SAMPLES,
  SNAPSHOT_ROWS,
  diverge,
  expectedAfterRemote,
} from "./crash-rows.js";
import { type FakeHost, startFakeHost, trapRoute } from "./fake-host.js";
import { type DeviceOptions, createDeviceFile, openDevice, openDriver } from "./local-device.js";
import { type SyncBookkeeping, readBookkeeping } from "./local-state.js";
import {
  FILE_ROWS,
  type FileRow,
  type Fingerprints,
  SAMPLE_ROWS,
  type SampleRow,
  localFingerprints,
  writeRows,
} from "./values.js";

/** Rows asked per snapshot chunk, so the snapshot comes in many chunks. */
const CHUNK_ROWS = 3;

const hosts: FakeHost[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const host of hosts.splice(0)) await host.close();
});

/** A device file attached to the host. */
async function newDevice(host: FakeHost): Promise<DeviceOptions> {
  const file = await createDeviceFile();
  cleanups.push(file.remove);
  return { dbPath: file.dbPath, baseUrl: host.baseUrl, userId: "user-1", snapshotChunkRows: CHUNK_ROWS };
}

/** Writes rows on a device and pushes them as one bundle. */
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
  /** Arms the kill on the host; returns how often the trap sprang (undefined: the child kills itself). */
  arm(host: FakeHost, child: () => RunningChild | undefined): (() => number) | undefined;
  readonly killAtPhase?: "applying_remote_state";
  check(state: SyncBookkeeping, snapshotRows: number): void;
}

const KILLS: readonly Kill[] = [
  {
    name: "mid-snapshot-stage (the 2nd chunk request is sent, never answered)",
    arm: (host, child) =>
      trapRoute(host, "snapshotChunk", 2, async () => {
        await child()?.killAndWait();
      }),
    check(state) {
      expect(state.snapshotStageRows).toBe(CHUNK_ROWS);
    },
  },
  {
    name: "before the final swap (the whole snapshot is staged)",
    arm: () => undefined,
    killAtPhase: "applying_remote_state",
    check(state, snapshotRows) {
      expect(state.snapshotStageRows).toBe(snapshotRows);
    },
  },
];

/** Runs a rebuild in the child and kills it as `kill` says. */
async function killRebuild(host: FakeHost, options: DeviceOptions, kill: Kill): Promise<void> {
  let child: RunningChild | undefined;
  const sprang = kill.arm(host, () => child);
  child = startChild({
    ...options,
    operation: "rebuild",
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
  if (sprang !== undefined) expect(sprang()).toBe(1);
}

async function readState(options: DeviceOptions): Promise<{ state: SyncBookkeeping; rows: Fingerprints }> {
  const driver = await openDriver(options.dbPath);
  try {
    return { state: await readBookkeeping(driver), rows: await localFingerprints(driver) };
  } finally {
    await driver.close();
  }
}

/** Every row the host's log holds for `key` (a sample id), across all bundles. */
function rowsForSample(bundles: readonly FakeBundle[], id: string) {
  return bundles.flatMap((bundle) =>
    bundle.rows
      .filter((row) => row.table === "samples" && row.key.id === id)
      .map((row) => ({ bundleSeq: bundle.bundle_seq, sourceId: bundle.source_id, op: row.op })),
  );
}

describe("keep-source rebuild killed with SIGKILL", () => {
  for (const [index, kill] of KILLS.entries()) {
    it(`${kill.name}: the reopened client finishes the rebuild`, async () => {
      const host = await startFakeHost();
      hosts.push(host);
      const device = await newDevice(host);
      const other = await newDevice(host);
      await pushFrom(device, FILE_ROWS, SAMPLE_ROWS);
      await pushFrom(other, REMOTE_FILES, REMOTE_SAMPLES);
      await diverge(device.dbPath);
      const snapshotRows = SNAPSHOT_ROWS;
      const before = await readState(device);

      await killRebuild(host, device, kill);
      const after = await readState(device);
      expect(after.state).toMatchObject({ rebuildRequired: true, lastBundleSeqSeen: 1n, dirtyRows: 0 });
      kill.check(after.state, snapshotRows);
      expect(after.rows).toEqual(before.rows);

      const reopened = await openDevice(device);
      cleanups.push(() => reopened.close());
      // The durable rebuild gate: rebuild() again, or sync(), which recovers the checkpoint first.
      if (index === 0) expect((await reopened.client.rebuild()).outcome).toBe("applied_snapshot");
      else expect((await reopened.client.sync()).remoteOutcome).toBe("applied_snapshot");

      expect(await localFingerprints(reopened.driver)).toEqual(expectedAfterRemote());
      expect(await readBookkeeping(reopened.driver)).toMatchObject({
        sourceId: before.state.sourceId,
        lastBundleSeqSeen: 2n,
        rebuildRequired: false,
        outboxState: "none",
        outboxRows: 0,
        dirtyRows: 0,
        rowStates: snapshotRows,
        snapshotStageRows: 0,
        operationKind: "none",
      });
      expect(host.backend.bundles.map((bundle) => bundle.bundle_seq)).toEqual([1, 2]);
    });
  }
});

describe("rotating rebuild out of source recovery killed with SIGKILL", () => {
  for (const kill of KILLS) {
    it(`${kill.name}: the carried local writes are committed exactly once`, async () => {
      const host = await startFakeHost();
      hosts.push(host);
      const device = await newDevice(host);
      const other = await newDevice(host);
      await pushFrom(device, FILE_ROWS, SAMPLE_ROWS);

      // The next push is refused with a source-recovery code: its frozen rows wait in the outbox.
      host.backend.override("pushCreate", (next) =>
        failFirst(1, statusReply(409, { error: "source_sequence_out_of_order", message: "gap" }), next),
      );
      const recovering = await openDevice(device);
      await writeRows(recovering.driver, [], CARRIED_SAMPLES);
      await expect(recovering.client.pushPending()).rejects.toMatchObject({
        code: "source_recovery_required",
      });
      await recovering.close();
      await pushFrom(other, REMOTE_FILES, REMOTE_SAMPLES);
      const before = await readState(device);
      expect(before.state).toMatchObject({
        operationKind: "source_recovery",
        outboxState: "prepared",
        outboxRows: CARRIED_SAMPLES.length,
      });

      await killRebuild(host, device, kill);
      const after = await readState(device);
      expect(after.state).toMatchObject({
        sourceId: before.state.sourceId,
        operationKind: "source_recovery",
        outboxState: "prepared",
        outboxRows: CARRIED_SAMPLES.length,
      });
      kill.check(after.state, SNAPSHOT_ROWS);
      expect(after.rows).toEqual(before.rows);

      const reopened = await openDevice(device);
      cleanups.push(() => reopened.close());
      expect((await reopened.client.rebuild()).outcome).toBe("applied_snapshot");
      const rotated = await readBookkeeping(reopened.driver);
      expect(rotated.sourceId).not.toBe(before.state.sourceId);
      expect(rotated).toMatchObject({ outboxState: "prepared", outboxSourceBundleId: 1n });
      expect((await reopened.client.pushPending()).outcome).toBe("committed");
      expect((await reopened.client.pushPending()).outcome).toBe("no_change");

      const expected = expectedAfterRemote(CARRIED_SAMPLES);
      expect(await localFingerprints(reopened.driver)).toEqual(expected);
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
      const bundles = host.backend.bundles;
      expect(bundles.map((bundle) => [bundle.bundle_seq, bundle.source_id, bundle.source_bundle_id])).toEqual(
        [
          [1, before.state.sourceId, 1],
          [2, expect.any(String), 1],
          [3, rotated.sourceId, 1],
        ],
      );
      for (const row of CARRIED_SAMPLES) {
        expect(rowsForSample(bundles, row.id).filter((entry) => entry.bundleSeq === 3)).toHaveLength(1);
      }
      expect(rowsForSample(bundles, "carried-new")).toHaveLength(1);

      // A fresh device restores the same rows bit for bit from the server's snapshot.
      const fresh = await openDevice(await newDevice(host));
      cleanups.push(() => fresh.close());
      expect((await fresh.client.rebuild()).outcome).toBe("applied_snapshot");
      expect(await localFingerprints(fresh.driver)).toEqual(expected);
    });
  }
});
