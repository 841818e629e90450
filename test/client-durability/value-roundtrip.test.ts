/**
 * The extreme values without any crash, across devices on the real server (PostgreSQL): device A
 * pushes them; a fresh device B restores them from the server's snapshot when it attaches, pulls
 * A's later changes, and rebuilds; every read must give back the bits A wrote, and PostgreSQL
 * must hold them too (int8, float8 bit patterns, numeric text, bytea, uuid).
 */
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { type DeviceOptions, createDeviceFile, openDevice } from "./local-device.js";
import { readBookkeeping } from "./local-state.js";
import { type RealServer, serverBundles, serverFingerprints, startRealServer } from "./real-server.js";
import {
  FILE_ROWS,
  type FileRow,
  SAMPLE_ROWS,
  type SampleRow,
  expectedFingerprints,
  localFingerprints,
  uuidBytes,
  writeRows,
} from "./values.js";

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

async function device(userId: string) {
  const file = await createDeviceFile();
  cleanups.push(file.remove);
  const options: DeviceOptions = {
    dbPath: file.dbPath,
    baseUrl: server.baseUrl,
    userId,
    snapshotChunkRows: 4,
  };
  return options;
}

/** A's second bundle: every sample value replaced by another edge value, a file's key-only row. */
const LATER_FILES: readonly FileRow[] = [
  { id: uuidBytes("0000000000000000000000000000000f"), name: "later", data: new Uint8Array([0]) },
];
const LATER_SAMPLES: readonly SampleRow[] = [
  {
    id: "int64-max",
    i64: -9223372036854775808n,
    r64: -5e-324,
    amount: "-0.5",
    amountText: "-0",
    note: "swapped",
    data: new Uint8Array(0),
    fileId: LATER_FILES[0]!.id,
  },
];

it("device B restores, pulls and rebuilds A's extreme values bit for bit", async () => {
  const userId = `roundtrip-${Date.now()}`;
  const expected = expectedFingerprints(FILE_ROWS, SAMPLE_ROWS);

  const a = await openDevice(await device(userId));
  cleanups.push(() => a.close());
  await writeRows(a.driver, FILE_ROWS, SAMPLE_ROWS);
  expect((await a.client.pushPending()).outcome).toBe("committed");
  expect(await serverFingerprints(server, userId)).toEqual(expected);
  expect(await localFingerprints(a.driver)).toEqual(expected);

  // B attaches to the initialized account: its rows come from the server's snapshot.
  const b = await openDevice(await device(userId), false);
  cleanups.push(() => b.close());
  expect(await b.client.attach(userId)).toMatchObject({ status: "connected", outcome: "used_remote_state" });
  expect(await localFingerprints(b.driver)).toEqual(expected);

  // A changes values; B pulls them incrementally.
  await writeRows(a.driver, LATER_FILES, LATER_SAMPLES);
  expect((await a.client.pushPending()).outcome).toBe("committed");
  expect((await b.client.pullToStable()).outcome).toBe("applied_incremental");
  const later = expectedFingerprints(
    [...FILE_ROWS, ...LATER_FILES],
    [...SAMPLE_ROWS.filter((row) => row.id !== "int64-max"), ...LATER_SAMPLES],
  );
  expect(await localFingerprints(b.driver)).toEqual(later);
  expect(await serverFingerprints(server, userId)).toEqual(later);

  // And a rebuild from a fresh snapshot reads them identically again.
  expect((await b.client.rebuild()).outcome).toBe("applied_snapshot");
  expect(await localFingerprints(b.driver)).toEqual(later);
  expect(await readBookkeeping(b.driver)).toMatchObject({
    lastBundleSeqSeen: 2n,
    dirtyRows: 0,
    outboxRows: 0,
  });
  expect((await serverBundles(server, userId)).map((bundle) => bundle.rowCount)).toEqual([
    FILE_ROWS.length + SAMPLE_ROWS.length,
    2,
  ]);
});
