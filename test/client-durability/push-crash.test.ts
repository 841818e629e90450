/**
 * A push killed with SIGKILL at each step boundary, against the real server on PostgreSQL. A child
 * process (child.ts) runs pushPending on the device's file; the server kills it when the request
 * marking the boundary arrives. The test then checks the file and the server stopped exactly
 * there, lets the application write again (a row of the frozen bundle and a new row), reopens the
 * file in this process and pushes until nothing is pending. Every local write must end up on the
 * server and locally exactly once, bit for bit, in exactly two bundles of the device's source.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningChild, startChild } from "./child-runner.js";
import { type DeviceOptions, createDeviceFile, openDevice, openDriver } from "./local-device.js";
import { type SyncBookkeeping, readBookkeeping } from "./local-state.js";
import {
  type RealServer,
  serverBundles,
  serverFingerprints,
  stagedPushRows,
  startRealServer,
} from "./real-server.js";
import type { RequestTrap } from "./request-trap.js";
import {
  FILE_ROWS,
  SAMPLE_ROWS,
  type SampleRow,
  expectedFingerprints,
  localFingerprints,
  upsertSample,
  writeRows,
} from "./values.js";

/** Rows per push chunk: the 19 rows go up in 5 chunks. */
const UPLOAD_LIMIT = 4;
const FROZEN_ROWS = FILE_ROWS.length + SAMPLE_ROWS.length;

/** The application's writes after the crash: one row of the frozen bundle changes, one is new. */
const AFTER_CRASH: readonly SampleRow[] = [
  {
    ...SAMPLE_ROWS.find((row) => row.id === "tenth")!,
    r64: 0.2,
    amount: "0.20",
    note: "edited after the crash",
  },
  {
    id: "after-crash",
    i64: -9223372036854775807n,
    r64: 5e-324,
    amount: "-12345678901234567890.5",
    amountText: "007",
    note: "written after the crash",
    data: new Uint8Array([0, 255, 0]),
    fileId: FILE_ROWS[1]!.id,
  },
];
const FINAL_SAMPLES = [
  ...SAMPLE_ROWS.filter((row) => !AFTER_CRASH.some((edit) => edit.id === row.id)),
  ...AFTER_CRASH,
];

let server: RealServer;
const cleanups: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  server = await startRealServer();
});
afterAll(async () => {
  await server?.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A boundary: where to kill, and what the file and the server must show right after. */
interface Boundary {
  readonly name: string;
  /** Seed the account from local rows (initialize_local) instead of attaching empty first. */
  readonly seed?: boolean;
  readonly trap: Omit<RequestTrap, "spring">;
  check(state: SyncBookkeeping, userId: string): Promise<void>;
}

const noBundles = async (userId: string) => expect(await serverBundles(server, userId)).toEqual([]);

const BOUNDARIES: readonly Boundary[] = [
  {
    name: "after freeze (the push create is sent, never handled)",
    trap: { method: "POST", path: "/sync/push-sessions", when: "before" },
    async check(state, userId) {
      expect(state).toMatchObject({ outboxState: "prepared", outboxRows: FROZEN_ROWS, dirtyRows: 0 });
      expect(await stagedPushRows(server, userId)).toEqual([]);
      await noBundles(userId);
    },
  },
  {
    name: "mid-upload (the 2nd chunk is sent, never handled)",
    trap: { method: "POST", path: "/sync/push-sessions/:id/chunks", nth: 2, when: "before" },
    async check(state, userId) {
      expect(state).toMatchObject({ outboxState: "prepared", outboxRows: FROZEN_ROWS, dirtyRows: 0 });
      expect(await stagedPushRows(server, userId)).toEqual([UPLOAD_LIMIT]);
      await noBundles(userId);
    },
  },
  {
    name: "commit landed on the server, its answer never arrived",
    trap: { method: "POST", path: "/sync/push-sessions/:id/commit", when: "after" },
    async check(state, userId) {
      expect(state).toMatchObject({
        outboxState: "prepared",
        outboxRows: FROZEN_ROWS,
        lastBundleSeqSeen: 0n,
      });
      expect(await serverBundles(server, userId)).toHaveLength(1);
    },
  },
  {
    name: "after commit, before replay (the committed-rows fetch is sent, never handled)",
    trap: { method: "GET", path: "/sync/committed-bundles/:seq/rows", when: "before" },
    async check(state, userId) {
      expect(state).toMatchObject({
        outboxState: "committed_remote",
        outboxRemoteBundleSeq: 1n,
        outboxRows: FROZEN_ROWS,
        lastBundleSeqSeen: 0n,
        rowStates: 0,
      });
      expect(await serverBundles(server, userId)).toHaveLength(1);
    },
  },
  {
    name: "seeding push: mid-upload",
    seed: true,
    trap: { method: "POST", path: "/sync/push-sessions/:id/chunks", nth: 3, when: "before" },
    async check(state, userId) {
      expect(state.pendingInitializationId).not.toBe("");
      expect(state).toMatchObject({ outboxState: "prepared", outboxRows: FROZEN_ROWS });
      expect(await stagedPushRows(server, userId)).toEqual([2 * UPLOAD_LIMIT]);
      await noBundles(userId);
    },
  },
  {
    name: "seeding push: commit landed on the server, its answer never arrived",
    seed: true,
    trap: { method: "POST", path: "/sync/push-sessions/:id/commit", when: "after" },
    async check(state, userId) {
      expect(state.pendingInitializationId).not.toBe("");
      expect(state).toMatchObject({ outboxState: "prepared", outboxRows: FROZEN_ROWS });
      expect(await serverBundles(server, userId)).toHaveLength(1);
    },
  },
];

describe("push killed with SIGKILL at a step boundary", () => {
  for (const [index, boundary] of BOUNDARIES.entries()) {
    it(`${boundary.name}: the reopened client finishes with no write lost or applied twice`, async () => {
      const userId = `push-crash-${index}-${Date.now()}`;
      const file = await createDeviceFile();
      cleanups.push(file.remove);
      const options: DeviceOptions = {
        dbPath: file.dbPath,
        baseUrl: server.baseUrl,
        userId,
        uploadLimit: UPLOAD_LIMIT,
      };

      // The application writes the rows; a seeding device writes them before it first attaches.
      const setup = await openDevice(options, !boundary.seed);
      await writeRows(setup.driver, FILE_ROWS, SAMPLE_ROWS);
      if (boundary.seed) {
        expect(await setup.client.attach(userId)).toMatchObject({ status: "connected" });
      }
      const sourceId = (await readBookkeeping(setup.driver)).sourceId;
      await setup.close();

      let child: RunningChild | undefined;
      const trap: RequestTrap = {
        ...boundary.trap,
        spring: async () => {
          await child?.killAndWait();
        },
      };
      server.log.arm(trap);
      child = startChild({ ...options, operation: "push" });
      cleanups.push(async () => {
        server.log.disarm();
        await child?.killAndWait();
      });
      const exit = await child.exited;
      expect(server.log.sprung.at(-1)).toBe(trap);
      // Killed, with no result line printed (stderr only explains a failure; Node may warn there).
      expect({ signal: exit.signal, stdout: exit.stdout }, exit.stderr).toEqual({
        signal: "SIGKILL",
        stdout: "",
      });

      // Stopped exactly at the boundary; then the application keeps writing.
      const raw = await openDriver(file.dbPath);
      try {
        await boundary.check(await readBookkeeping(raw), userId);
        await raw.transaction(async (tx) => {
          for (const row of AFTER_CRASH) await upsertSample(tx, row);
        });
      } finally {
        await raw.close();
      }

      const device = await openDevice(options);
      cleanups.push(() => device.close());
      expect((await device.client.pushPending()).outcome).toBe("committed");
      expect((await device.client.pushPending()).outcome).toBe("committed");
      expect((await device.client.pushPending()).outcome).toBe("no_change");

      const expected = expectedFingerprints(FILE_ROWS, FINAL_SAMPLES);
      expect(await localFingerprints(device.driver)).toEqual(expected);
      expect(await serverFingerprints(server, userId)).toEqual(expected);
      expect(await serverBundles(server, userId)).toEqual([
        { bundleSeq: "1", sourceId, sourceBundleId: "1", rowCount: FROZEN_ROWS },
        { bundleSeq: "2", sourceId, sourceBundleId: "2", rowCount: AFTER_CRASH.length },
      ]);
      expect(await stagedPushRows(server, userId)).toEqual([]);
      expect(await readBookkeeping(device.driver)).toEqual({
        sourceId,
        lastBundleSeqSeen: 2n,
        rebuildRequired: false,
        pendingInitializationId: "",
        outboxState: "none",
        outboxSourceBundleId: 0n,
        outboxRemoteBundleSeq: 0n,
        outboxRows: 0,
        dirtyRows: 0,
        rowStates: FROZEN_ROWS + 1,
        snapshotStageRows: 0,
        operationKind: "none",
      });
      expect(await device.client.lastBundleSeqSeen()).toBe(2);
    });
  }
});
