/**
 * Values that must survive the trip unchanged: BLOB-keyed files with binary payloads (empty, every
 * byte value, large) and their cascading reviews, and every column kind of `typed_rows` at its
 * limits: 64-bit integers exact, decimals digit for digit, REAL bit for bit, BLOBs byte for byte,
 * NULLs as NULLs, timestamps at the same microsecond.
 */
import { randomBytes } from "node:crypto";
import type { SqliteRow, SqliteValue } from "@oversync/client";
import { blobKey, newId } from "../app-data.js";
import { type CanonicalRow, canonicalLocalRow, exampleTable, sortById } from "../canonical-rows.js";
import { expectConverged, sameRows } from "../convergence.js";
import type { Device } from "../device.js";
import { type Scenario, type ScenarioContext, checkEqual } from "../scenario.js";

const filesSync: Scenario = {
  name: "files-sync",
  description: "BLOB-keyed files and reviews, byte for byte; deletes cascade",
  async run(context) {
    const files = [
      ["document.txt", new TextEncoder().encode("This is the content of document 1")],
      ["image.jpg", Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46])],
      ["all-bytes.bin", Uint8Array.from({ length: 256 }, (_, index) => index)],
      ["empty.bin", new Uint8Array(0)],
      ["large.bin", new Uint8Array(randomBytes(256 * 1024))],
    ] as const;
    const fileIds = files.map(() => newId());
    const writer = await context.step("device 1: sign in, add 5 files and 6 reviews, push", async () => {
      const device = await context.openDevice("device-1");
      await device.attach(context.userId);
      await device.edit(async (run) => {
        for (const [index, [name, data]] of files.entries()) {
          await run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
            blobKey(fileIds[index]!),
            name,
            data,
          ]);
        }
        for (let index = 0; index < 6; index++) {
          await run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
            blobKey(newId()),
            `Review ${index + 1}`,
            blobKey(fileIds[index % files.length]!),
          ]);
        }
      });
      checkEqual((await device.client.pushPending()).outcome, "committed", "push outcome");
      return device;
    });
    const reader = await context.step("device 2: sign in restores files and reviews", async () => {
      const device = await context.openDevice("device-2");
      const attached = await device.attach(context.userId);
      checkEqual([attached.outcome, attached.restore?.rowCount], ["used_remote_state", 11], "attach");
      await expectBlobKeys(device);
      await expectConverged(context, [writer, device]);
      return device;
    });
    await context.step(
      "device 1 deletes a file (its reviews cascade) and rewrites another's bytes",
      async () => {
        await writer.run("DELETE FROM files WHERE id = ?", [blobKey(fileIds[0]!)]);
        await writer.run("UPDATE files SET data = ? WHERE id = ?", [
          Uint8Array.from([0, 0, 0, 255, 0]),
          blobKey(fileIds[3]!),
        ]);
        checkEqual((await writer.client.pushPending()).outcome, "committed", "push outcome");
      },
    );
    await context.step("device 2 pulls: 4 files, 4 reviews, bytes equal", async () => {
      checkEqual((await reader.client.pullToStable()).outcome, "applied_incremental", "pull outcome");
      checkEqual(
        [await reader.count("files"), await reader.count("file_reviews")],
        [4, 4],
        "files and reviews",
      );
      await expectBlobKeys(reader);
      await expectConverged(context, [writer, reader]);
    });
  },
};

/** `typed_rows` columns in SQLite's own types, as an app binds them. */
type TypedRow = Record<string, SqliteValue>;

const TYPED_ROWS: readonly TypedRow[] = [
  {
    name: "Largest",
    note: "ünïcødé ✓ 🎉 \"double\" 'single' back\\slash\nnew line\ttab",
    count_value: 9223372036854775807n,
    small_count: 32767n,
    medium_count: 2147483647n,
    exact_amount: "99999999999999999999.9999999999",
    enabled_flag: 1n,
    rating: Number.MAX_VALUE,
    float4_value: Math.fround(3.4028234663852886e38),
    data: Uint8Array.from({ length: 256 }, (_, index) => 255 - index),
    created_at: "2262-04-11T23:47:16.854775Z",
  },
  {
    name: "Smallest",
    note: "",
    count_value: -9223372036854775808n,
    small_count: -32768n,
    medium_count: -2147483648n,
    exact_amount: "-99999999999999999999.9999999999",
    enabled_flag: 0n,
    rating: -5e-324,
    float4_value: Math.fround(1.401298464324817e-45),
    data: new Uint8Array(0),
    created_at: "0001-01-01T00:00:00Z",
  },
  {
    name: "Nulls",
    note: null,
    count_value: null,
    small_count: null,
    medium_count: null,
    exact_amount: null,
    enabled_flag: 0n,
    rating: null,
    float4_value: null,
    data: null,
    created_at: null,
  },
  {
    name: "Ordinary",
    note: "second device",
    count_value: 42n,
    small_count: 7n,
    medium_count: 123456n,
    exact_amount: "0.0000000001",
    enabled_flag: 1n,
    // An integral REAL must stay REAL, not come back as INTEGER 2.
    rating: 2,
    float4_value: Math.fround(0.1),
    data: Uint8Array.from([0xca, 0xfe, 0xba, 0xbe]),
    created_at: "1969-07-20T20:17:40.000001Z",
  },
];

/** What the rows become in the update round: other extremes in every column. */
const UPDATED_VALUES: readonly TypedRow[] = [
  {
    count_value: -1n,
    exact_amount: "12345678901234567890.1234567890",
    rating: 0.1 + 0.2,
    data: new Uint8Array(0),
  },
  {
    count_value: 9007199254740993n,
    exact_amount: "-0.0000000001",
    rating: 1e-310,
    created_at: "2000-02-29T12:00:00.5Z",
  },
  { note: "no longer null", float4_value: Math.fround(-16777216), data: Uint8Array.from([0]) },
  { small_count: null, enabled_flag: 0n, rating: -2.5e-8, created_at: "2026-03-24T18:42:11.123456+05:30" },
];

const typedRows: Scenario = {
  name: "typed-rows",
  description: "every typed_rows column kind at its limits, bit for bit",
  async run(context) {
    const ids = TYPED_ROWS.map(() => newId());
    const written = TYPED_ROWS.map((row, index): TypedRow => ({ id: ids[index]!, ...row }));
    const writer = await context.step("device 1: sign in, write 4 typed rows, push", async () => {
      const device = await context.openDevice("device-1");
      await device.attach(context.userId);
      for (const row of written) await insertRow(device, row);
      checkEqual((await device.client.pushPending()).outcome, "committed", "push outcome");
      await expectTypedRows(context, [device], written);
      return device;
    });
    const reader = await context.step("device 2: sign in restores the rows exactly", async () => {
      const device = await context.openDevice("device-2");
      checkEqual((await device.attach(context.userId)).restore?.rowCount, 4, "rows restored");
      await expectTypedRows(context, [writer, device], written);
      return device;
    });
    await context.step(
      "device 1 moves every row to other extremes; device 2 pulls them exactly",
      async () => {
        const updated = written.map((row, index) => ({ ...row, ...UPDATED_VALUES[index] }));
        for (const [index, change] of UPDATED_VALUES.entries()) {
          const columns = Object.keys(change);
          await writer.run(
            `UPDATE typed_rows SET ${columns.map((column) => `${column} = ?`).join(", ")} WHERE id = ?`,
            [...columns.map((column) => change[column]!), ids[index]!],
          );
        }
        checkEqual((await writer.client.pushPending()).outcome, "committed", "push outcome");
        checkEqual((await reader.client.pullToStable()).outcome, "applied_incremental", "pull outcome");
        await expectTypedRows(context, [writer, reader], updated);
      },
    );
    await context.step("both devices and the server agree", () => expectConverged(context, [writer, reader]));
  },
};

async function insertRow(device: Device, row: TypedRow): Promise<void> {
  const columns = Object.keys(row);
  await device.run(
    `INSERT INTO typed_rows (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    columns.map((column) => row[column]!),
  );
}

/** Every device, and PostgreSQL with `--db`, holds exactly `rows` as written (storage classes included). */
async function expectTypedRows(
  context: ScenarioContext,
  devices: readonly Device[],
  rows: readonly TypedRow[],
): Promise<void> {
  const table = exampleTable("typed_rows");
  const expected: CanonicalRow[] = sortById(rows.map((row) => canonicalLocalRow(table, row as SqliteRow)));
  for (const device of devices)
    sameRows(await device.rows("typed_rows"), expected, `typed_rows on ${device.name}`);
  if (context.postgres !== undefined) {
    sameRows(await context.postgres.rows("typed_rows", context.userId), expected, "typed_rows in PostgreSQL");
  }
}

/** The files' and reviews' keys (and the reviews' file ids) are 16-byte BLOBs, their data BLOBs. */
async function expectBlobKeys(device: Device): Promise<void> {
  const [row] = await device.query<{ bad: bigint }>(
    `SELECT (SELECT count(*) FROM files WHERE typeof(id) <> 'blob' OR length(id) <> 16 OR typeof(data) <> 'blob')
          + (SELECT count(*) FROM file_reviews
              WHERE typeof(id) <> 'blob' OR length(id) <> 16 OR typeof(file_id) <> 'blob' OR length(file_id) <> 16)
            AS bad`,
  );
  checkEqual(row?.bad, 0n, `${device.name}: file rows whose keys or data are not BLOBs of the right size`);
}

export const VALUE_SCENARIOS: readonly Scenario[] = [filesSync, typedRows];
