/**
 * The heavy suite's gate, knobs and shared checks. It reuses the live conformance suite's server,
 * devices and server calls (test/conformance) and adds a second gate, the volume knobs, a per-test
 * timer and an exact, typed comparison of every synced table across devices.
 */
import { randomUUID } from "node:crypto";
import { EXAMPLE_TABLES } from "@oversync/cli";
import type { SqliteValue } from "@oversync/client";
import { afterEach, beforeEach, expect } from "vitest";
import type { Device, DeviceFactory, DeviceOptions } from "../conformance/live-device.js";
import { LIVE_GATE, type LiveServer, describeLive, liveEnabled } from "../conformance/live-server.js";
import type { LiveUser } from "../conformance/server-calls.js";

/** The second gate, as upstream names its heavy lane. */
export const HEAVY_GATE = "OVERSQLITE_REALSERVER_HEAVY";

/** True when the heavy suite runs: both gates on. */
export const heavyEnabled: boolean = liveEnabled && process.env[HEAVY_GATE] === "true";

/** An integer knob from the environment; a malformed or too small value fails loudly rather than shrinking a test. */
function knob(name: string, fallback: number, min = 1): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`${name}=${text} is not an integer >= ${min}`);
  return value;
}

/** Volume knobs; the defaults keep the whole suite within a few minutes on a 2-core machine. */
export const HEAVY = {
  /** Rows per load batch (multi-chunk pushes, the rich schema's typed rows). */
  rows: knob("OVERSQLITE_HEAVY_ROWS", 1500, 8),
  /** Rounds of the long-horizon, conflict and catch-up groups. */
  rounds: knob("OVERSQLITE_HEAVY_ROUNDS", 64, 6),
  /** The deliberately small limit: rows per upload chunk, bundles per pull page, rows per committed-rows page and per snapshot chunk. */
  chunk: knob("OVERSQLITE_HEAVY_CHUNK", 7),
  /** Seed of the pseudo-random choices (which rows a round touches, typed values), for replaying a failure. */
  seed: knob("OVERSQLITE_HEAVY_SEED", 20_260_324),
} as const;

/** Per-test bound (a liveness limit, not a timing assertion): the volumes are knobs. */
export const HEAVY_TIMEOUT = 600_000;

/** Device options with every limit set to the small chunk. */
export const SMALL_LIMITS = {
  uploadLimit: HEAVY.chunk,
  downloadLimit: HEAVY.chunk,
  snapshotChunkRows: HEAVY.chunk,
} as const satisfies DeviceOptions;

/**
 * Declares a heavy suite: the live suite's describeLive (server found or started) behind both
 * gates, skipped with a message otherwise (a skipped test never counts as passing). Every test's
 * elapsed time is printed as "heavy group <N name>: N.N s".
 */
export function describeHeavy(name: string, body: (server: LiveServer) => void): void {
  const gate = {
    enabled: heavyEnabled,
    hint: `set ${LIVE_GATE}=true and ${HEAVY_GATE}=true to run the heavy suite (npm run heavy)`,
  };
  describeLive(
    name,
    (server) => {
      let started = 0;
      beforeEach(() => {
        started = performance.now();
      });
      afterEach((context) => {
        const seconds = (performance.now() - started) / 1000;
        // Titles read "group N <parity group>: <what it shows>"; the label is the part before the colon.
        const group = context.task.name.split(":")[0]!.replace(/^group /, "");
        console.log(`heavy group ${group}: ${seconds.toFixed(1)} s`);
      });
      body(server);
    },
    gate,
  );
}

/** A device of `user` with `options`, attached (and so holding the account's current state). */
export async function attachedDevice(
  devices: DeviceFactory,
  user: LiveUser,
  options: DeviceOptions = {},
): Promise<Device> {
  const device = await devices.open(user, options);
  expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
  return device;
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with OVERSQLITE_HEAVY_SEED. */
export function seededRandom(seed: number = HEAVY.seed): { next(): number; int(below: number): number } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, int: (below) => Math.floor(next() * below) };
}

/**
 * One SQLite value spelled with its storage class, so a comparison is exact: INTEGER as the bigint's
 * digits, REAL as its IEEE-754 bits (so -0, NaN payloads and the last ulp count), TEXT as is, BLOB
 * as hex. An INTEGER 1 and a TEXT "1" (or a REAL 1.0) therefore differ.
 */
export function exactValue(value: SqliteValue): string | null {
  if (value === null) return null;
  if (typeof value === "bigint") return `int:${value}`;
  if (typeof value === "number") {
    const bits = new DataView(new ArrayBuffer(8));
    bits.setFloat64(0, value);
    return `real:${bits.getBigUint64(0).toString(16).padStart(16, "0")}`;
  }
  if (typeof value === "string") return `text:${value}`;
  return `blob:${Buffer.from(value).toString("hex")}`;
}

/** Every row of every synced table, each value spelled exactly, sorted by key. */
export type TableContents = Record<string, Record<string, string | null>[]>;

/** The canonical contents of the example application's eight tables on `device`. */
export async function contentsOf(device: Device): Promise<TableContents> {
  const result: TableContents = {};
  for (const table of EXAMPLE_TABLES) {
    const columns = table.columns.map((column) => column.name);
    // ORDER BY id compares TEXT keys as strings and BLOB keys bytewise: the same order everywhere.
    const rows = await device.query<Record<string, SqliteValue>>(
      `SELECT ${columns.join(", ")} FROM ${table.name} ORDER BY id`,
    );
    result[table.name] = rows.map((row) =>
      Object.fromEntries(columns.map((column) => [column, exactValue(row[column] ?? null)])),
    );
  }
  return result;
}

/**
 * Asserts that every device holds exactly `reference`'s tables, nothing queued or staged, no broken
 * foreign key, and the same checkpoint; returns the reference contents for further checks.
 */
export async function expectConverged(reference: Device, others: readonly Device[]): Promise<TableContents> {
  const expected = await contentsOf(reference);
  const checkpoint = await reference.client.lastBundleSeqSeen();
  for (const device of [reference, ...others]) {
    expect(await contentsOf(device)).toEqual(expected);
    expect(await device.isClean()).toBe(true);
    expect(await device.query("PRAGMA foreign_key_check")).toEqual([]);
    expect(await device.client.lastBundleSeqSeen()).toBe(checkpoint);
  }
  return expected;
}

/** A fresh random id as a 16-byte BLOB key (files and file_reviews store uuid keys as BLOBs). */
export function blobId(): Uint8Array {
  return Buffer.from(randomUUID().replaceAll("-", ""), "hex");
}
