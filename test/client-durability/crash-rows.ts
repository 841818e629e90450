/**
 * The rows the snapshot crash tests add on top of FILE_ROWS/SAMPLE_ROWS: another device's changes,
 * local writes carried through source recovery, and local divergence a snapshot must overwrite.
 */
import { openDriver } from "./local-device.js";
import {
  FILE_ROWS,
  type FileRow,
  type Fingerprints,
  SAMPLE_ROWS,
  type SampleRow,
  expectedFingerprints,
  seededBytes,
  uuidBytes,
} from "./values.js";

/** What another device pushed meanwhile: a changed row, a new row, a new BLOB-keyed file. */
export const REMOTE_FILES: readonly FileRow[] = [
  { id: uuidBytes("7fffffffffffffff8000000000000000"), name: "remote file", data: seededBytes(4099, 7) },
];
export const REMOTE_SAMPLES: readonly SampleRow[] = [
  { ...SAMPLE_ROWS.find((row) => row.id === "third")!, i64: -42n, r64: -2.5e-310, note: "changed remotely" },
  {
    id: "remote-only",
    i64: 9223372036854775806n,
    r64: 1.7976931348623155e308,
    amount: "-99999999999999999999.99999999999999999999",
    amountText: "+1",
    note: "",
    data: new Uint8Array(0),
    fileId: REMOTE_FILES[0]!.id,
  },
];

/** The local writes frozen into the outbox when the server sent the device into source recovery. */
export const CARRIED_SAMPLES: readonly SampleRow[] = [
  { ...SAMPLE_ROWS.find((row) => row.id === "pi")!, r64: -Math.PI, note: "carried through recovery" },
  {
    id: "carried-new",
    i64: -9223372036854775808n,
    r64: Number.MIN_VALUE,
    amount: "0.000000000000000000000000000000000000000001",
    amountText: "9007199254740993",
    note: "new while recovering",
    data: seededBytes(70_000, 3),
    fileId: FILE_ROWS[0]!.id,
  },
];

/** Rows a snapshot of the base rows plus the remote device's changes holds. */
export const SNAPSHOT_ROWS = FILE_ROWS.length + REMOTE_FILES.length + SAMPLE_ROWS.length + 1;

/** `rows` with `changes` replacing the rows of the same key (or added). */
export function replaced<T>(rows: readonly T[], changes: readonly T[], key: (row: T) => string): T[] {
  const changed = new Set(changes.map(key));
  return [...rows.filter((row) => !changed.has(key(row))), ...changes];
}

const sampleKey = (row: SampleRow) => row.id;
const fileKey = (row: FileRow) => Buffer.from(row.id).toString("hex");

/** The base rows after the remote device's changes (and the carried writes, when given). */
export function expectedAfterRemote(carried: readonly SampleRow[] = []): Fingerprints {
  return expectedFingerprints(
    replaced(FILE_ROWS, REMOTE_FILES, fileKey),
    replaced(replaced(SAMPLE_ROWS, REMOTE_SAMPLES, sampleKey), carried, sampleKey),
  );
}

/**
 * Local state the snapshot must overwrite, written with capture off (as if it had slipped past
 * sync): a changed value and a row the server never had.
 */
export async function diverge(dbPath: string): Promise<void> {
  const driver = await openDriver(dbPath);
  try {
    await driver.transaction(async (tx) => {
      await tx.exec("UPDATE _sync_apply_state SET apply_mode = 1 WHERE singleton_key = 1");
      await tx.run("UPDATE samples SET r64 = 1.5, note = 'diverged' WHERE id = 'int64-max'");
      await tx.run("INSERT INTO samples(id, note) VALUES('stray', 'never synced')");
      await tx.exec("UPDATE _sync_apply_state SET apply_mode = 0 WHERE singleton_key = 1");
    });
  } finally {
    await driver.close();
  }
}
