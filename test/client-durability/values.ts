/**
 * The values the durability tests write and check: int64 extremes, 2^53±1, REAL extremes
 * (largest, smallest subnormal, the normal/subnormal boundary), decimals kept as text, empty, byte
 * table and 1 MiB BLOBs, and BLOB primary keys. Rows are compared as fingerprints that keep every
 * bit: integers as decimal text, REALs as their IEEE-754 bit pattern, BLOBs as length + SHA-256.
 */
import { createHash } from "node:crypto";
import type { SqliteDriver, SqliteExecutor, SqliteValue } from "@oversync/client";

/** A `files` row as the application writes it. */
export interface FileRow {
  readonly id: Uint8Array;
  readonly name: string;
  readonly data: Uint8Array | null;
}

/** A `samples` row as the application writes it. */
export interface SampleRow {
  readonly id: string;
  readonly i64: bigint | null;
  readonly r64: number | null;
  /** Decimal text for the server's `numeric` column. */
  readonly amount: string | null;
  /** Decimal-looking text for a plain text column (TEXT affinity keeps it text). */
  readonly amountText: string | null;
  readonly note: string | null;
  readonly data: Uint8Array | null;
  readonly fileId: Uint8Array | null;
}

/** A BLOB's print: `<byte length>:<sha256 hex>`; any changed bit changes it. */
export type BlobPrint = string;

export interface FileFingerprint {
  readonly id: string;
  readonly name: string;
  readonly data: BlobPrint | null;
}

export interface SampleFingerprint {
  readonly id: string;
  readonly i64: string | null;
  /** The binary64 bit pattern, 16 hex digits, big-endian. */
  readonly r64: string | null;
  readonly amount: string | null;
  readonly amountText: string | null;
  readonly note: string | null;
  readonly data: BlobPrint | null;
  readonly fileId: string | null;
}

/** Both tables, each sorted by key. */
export interface Fingerprints {
  readonly files: readonly FileFingerprint[];
  readonly samples: readonly SampleFingerprint[];
}

/** 16 bytes from hex. */
export function uuidBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not 32 hex digits: ${hex}`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure reproduces. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

export const ONE_MIB = 1024 * 1024;
const EMPTY = new Uint8Array(0);
const EVERY_BYTE = Uint8Array.from({ length: 256 }, (_, index) => index);

export const FILE_ZERO = uuidBytes("00000000000000000000000000000000");
export const FILE_ONES = uuidBytes("ffffffffffffffffffffffffffffffff");
export const FILE_SPEC = uuidBytes("00112233445566778899aabbccddeeff");
export const FILE_PLAIN = uuidBytes("8a7b6c5d4e3f40218f9e8d7c6b5a4938");

/** BLOB primary keys at the edges of the 16-byte space, with empty, 1 MiB, byte-table and NULL data. */
export const FILE_ROWS: readonly FileRow[] = [
  { id: FILE_ZERO, name: "all-zero key, empty data", data: EMPTY },
  { id: FILE_ONES, name: "all-ones key, 1 MiB data", data: seededBytes(ONE_MIB, 0x5eed) },
  { id: FILE_SPEC, name: "spec key, every byte value", data: EVERY_BYTE },
  { id: FILE_PLAIN, name: "null data", data: null },
];

const sample = (row: Partial<SampleRow> & { id: string }): SampleRow => ({
  i64: null,
  r64: null,
  amount: null,
  amountText: null,
  note: null,
  data: null,
  fileId: null,
  ...row,
});

/** Every value family at its edges. */
export const SAMPLE_ROWS: readonly SampleRow[] = [
  sample({
    id: "int64-max",
    i64: 9223372036854775807n,
    r64: Number.MAX_VALUE,
    amount: "12345678901234567890.123456789012345678901234567890",
    amountText: "9223372036854775808",
    fileId: FILE_ONES,
  }),
  sample({
    id: "int64-min",
    i64: -9223372036854775808n,
    r64: -Number.MAX_VALUE,
    amount: "-0.000000000000000000000000000000000001",
    amountText: "-9223372036854775809",
    fileId: FILE_ZERO,
  }),
  sample({
    id: "two53-plus-1",
    i64: 9007199254740993n,
    r64: Number.MIN_VALUE,
    amount: "9007199254740993",
    amountText: "9007199254740993.000",
    fileId: FILE_SPEC,
  }),
  sample({
    id: "minus-two53-plus-1",
    i64: -9007199254740993n,
    r64: -Number.MIN_VALUE,
    amount: "0.10",
    amountText: "0.10",
  }),
  sample({ id: "min-normal", i64: 0n, r64: 2.2250738585072014e-308, amount: "0", amountText: "-0.0" }),
  sample({ id: "max-subnormal", i64: -1n, r64: 2.225073858507201e-308, amount: "1.000000000000000000001" }),
  sample({ id: "tenth", i64: 1n, r64: 0.1, amount: "99999999999999999999999999999999.99" }),
  sample({ id: "third", i64: 2n ** 53n, r64: 1 / 3, amountText: "1e400" }),
  sample({ id: "two53-real", i64: 2n ** 31n, r64: 2 ** 53, amount: "3.14159265358979323846264338327950288" }),
  sample({ id: "huge-real", i64: -(2n ** 31n), r64: 1e21, note: "large exponent form" }),
  sample({ id: "pi", r64: Math.PI, note: 'ünïcødé ✓ 𝄞 "quoted" \\ back\\slash\nnew line\ttab' }),
  sample({ id: "negative-zero", r64: -0, note: "the wire spells -0 as 0" }),
  sample({ id: "every-byte", data: EVERY_BYTE, note: "" }),
  sample({ id: "empty-blob", data: EMPTY, fileId: FILE_PLAIN }),
  sample({ id: "all-null" }),
];

/** Inserts rows as the application would, in one transaction with deferred foreign keys. */
export async function writeRows(
  driver: SqliteDriver,
  files: readonly FileRow[],
  samples: readonly SampleRow[],
): Promise<void> {
  await driver.transaction(async (tx) => {
    await tx.exec("PRAGMA defer_foreign_keys = ON");
    for (const file of files) await upsertFile(tx, file);
    for (const row of samples) await upsertSample(tx, row);
  });
}

export async function upsertFile(tx: SqliteExecutor, file: FileRow): Promise<void> {
  await tx.run("INSERT OR REPLACE INTO files(id, name, data) VALUES(?, ?, ?)", [
    file.id,
    file.name,
    file.data,
  ]);
}

export async function upsertSample(tx: SqliteExecutor, row: SampleRow): Promise<void> {
  await tx.run(
    "INSERT OR REPLACE INTO samples(id, i64, r64, amount, amount_text, note, data, file_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
    [row.id, row.i64, row.r64, row.amount, row.amountText, row.note, row.data, row.fileId],
  );
}

export function blobPrint(bytes: Uint8Array): BlobPrint {
  return `${bytes.length}:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The IEEE-754 binary64 bit pattern of `value`. */
export function float64Bits(value: number): string {
  const buffer = Buffer.alloc(8);
  buffer.writeDoubleBE(value);
  return buffer.toString("hex");
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/**
 * What every side must hold after a sync. The only value that changes is -0: the wire's
 * canonical float form spells it "0" (protocol-latest §2), so it comes back as +0.
 */
export function expectedFingerprints(files: readonly FileRow[], samples: readonly SampleRow[]): Fingerprints {
  return {
    files: files
      .map((file) => ({
        id: hex(file.id),
        name: file.name,
        data: file.data === null ? null : blobPrint(file.data),
      }))
      .sort(byId),
    samples: samples
      .map((row) => ({
        id: row.id,
        i64: row.i64 === null ? null : row.i64.toString(),
        r64: row.r64 === null ? null : float64Bits(Object.is(row.r64, -0) ? 0 : row.r64),
        amount: row.amount,
        amountText: row.amountText,
        note: row.note,
        data: row.data === null ? null : blobPrint(row.data),
        fileId: row.fileId === null ? null : hex(row.fileId),
      }))
      .sort(byId),
  };
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Reads both tables of a local database. Each value's SQLite storage class must match its column
 * (INTEGER as integer, REAL as real, decimals as text, BLOBs as blob), else it throws: a value that
 * changed class did not round-trip even if it prints the same.
 */
export async function localFingerprints(driver: SqliteExecutor): Promise<Fingerprints> {
  const files = await driver.query<Columns<"id" | "name" | "data" | "t_id" | "t_data">>(
    "SELECT id, name, data, typeof(id) AS t_id, typeof(data) AS t_data FROM files",
  );
  const samples = await driver.query<Columns<SampleColumn | `t_${Exclude<SampleColumn, "id">}`>>(
    "SELECT *, typeof(i64) AS t_i64, typeof(r64) AS t_r64, typeof(amount) AS t_amount, " +
      "typeof(amount_text) AS t_amount_text, typeof(note) AS t_note, typeof(data) AS t_data, " +
      "typeof(file_id) AS t_file_id FROM samples",
  );
  return {
    files: files
      .map((row) => ({
        id: hex(blob(row.id, row.t_id, "files.id")),
        name: text(row.name, "files.name"),
        data: optional(row.data, row.t_data, "blob", (value) => blobPrint(blob(value, "blob", "files.data"))),
      }))
      .sort(byId),
    samples: samples
      .map((row) => ({
        id: text(row.id, "samples.id"),
        i64: optional(row.i64, row.t_i64, "integer", (value) => {
          if (typeof value !== "bigint") throw new Error(`samples.i64 read as ${typeof value}, not bigint`);
          return value.toString();
        }),
        r64: optional(row.r64, row.t_r64, "real", (value) => {
          if (typeof value !== "number") throw new Error(`samples.r64 read as ${typeof value}`);
          return float64Bits(value);
        }),
        amount: optional(row.amount, row.t_amount, "text", (value) => text(value, "samples.amount")),
        amountText: optional(row.amount_text, row.t_amount_text, "text", (value) =>
          text(value, "samples.amount_text"),
        ),
        note: optional(row.note, row.t_note, "text", (value) => text(value, "samples.note")),
        data: optional(row.data, row.t_data, "blob", (value) =>
          blobPrint(blob(value, "blob", "samples.data")),
        ),
        fileId: optional(row.file_id, row.t_file_id, "blob", (value) =>
          hex(blob(value, "blob", "samples.file_id")),
        ),
      }))
      .sort(byId),
  };
}

type SampleColumn = "id" | "i64" | "r64" | "amount" | "amount_text" | "note" | "data" | "file_id";
type Columns<Name extends string> = { readonly [column in Name]: SqliteValue };

function optional<T>(
  value: SqliteValue,
  storageClass: SqliteValue,
  expected: string,
  read: (value: SqliteValue) => T,
): T | null {
  if (storageClass === "null") return null;
  if (storageClass !== expected) {
    throw new Error(`a ${expected} column holds a ${String(storageClass)} value (${String(value)})`);
  }
  return read(value);
}

function blob(value: SqliteValue, storageClass: SqliteValue, what: string): Uint8Array {
  if (storageClass !== "blob" || !(value instanceof Uint8Array)) {
    throw new Error(`${what} is ${String(storageClass)}, not a BLOB`);
  }
  return value;
}

function text(value: SqliteValue, what: string): string {
  if (typeof value !== "string") throw new Error(`${what} is ${typeof value}, not TEXT`);
  return value;
}
