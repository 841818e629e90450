/**
 * Heavy parity group 9, the one upstream leaves open: the whole business-rich-v0 schema under load.
 * Several devices write typed rows at the edges of their types (64-bit integers near ±2^63,
 * numeric(30,10) decimals as text, doubles across exponents, float4 values, BLOBs of every length,
 * timestamps), BLOB-keyed files with reviews, category trees (self-reference) and teams with their
 * members (a foreign-key cycle); then they re-parent, cascade-delete and break cycles on devices
 * other than the authors, one of them against a concurrent deletion. Every device, and one
 * restored from a snapshot, must hold exactly the model's values, spelled with their storage class.
 */
import { randomUUID } from "node:crypto";
import type { SqliteValue } from "@oversync/client";
import { expect, it } from "vitest";
import { type Device, useDevices } from "../conformance/live-device.js";
import { newUser } from "../conformance/server-calls.js";
import {
  HEAVY,
  HEAVY_TIMEOUT,
  SMALL_LIMITS,
  attachedDevice,
  blobId,
  describeHeavy,
  exactValue,
  expectConverged,
  seededRandom,
} from "./heavy-support.js";

const TYPED_COLUMNS = [
  "id",
  "name",
  "note",
  "count_value",
  "small_count",
  "medium_count",
  "exact_amount",
  "enabled_flag",
  "rating",
  "float4_value",
  "data",
  "created_at",
] as const;

type Random = ReturnType<typeof seededRandom>;

const INT64_MAX = 2n ** 63n - 1n;

/** A signed 64-bit value, often at or next to the edges (and past JavaScript's safe integers). */
function int64(random: Random): bigint {
  switch (random.int(6)) {
    case 0:
      return INT64_MAX - BigInt(random.int(1000));
    case 1:
      return -INT64_MAX - 1n + BigInt(random.int(1000));
    case 2:
      return 2n ** 53n + BigInt(random.int(1000));
    case 3:
      return BigInt(random.int(2_000_001) - 1_000_000);
    default: {
      // Any 64-bit pattern.
      const high = BigInt(random.int(2 ** 32));
      const low = BigInt(random.int(2 ** 32));
      return BigInt.asIntN(64, (high << 32n) | low);
    }
  }
}

/** A numeric(30,10) value as text, with exactly ten decimals (PostgreSQL's committed spelling). */
function decimal(random: Random): string {
  let digits = "";
  const integerDigits = 1 + random.int(20);
  for (let n = 0; n < integerDigits; n++) digits += String(n === 0 ? 1 + random.int(9) : random.int(10));
  let fraction = "";
  for (let n = 0; n < 10; n++) fraction += String(random.int(10));
  return `${random.int(2) === 0 ? "-" : ""}${digits}.${fraction}`;
}

/** A UTC instant in the server's committed spelling, sometimes with microseconds. */
function timestamp(random: Random): string {
  const date = new Date(Date.UTC(2000 + random.int(50), random.int(12), 1 + random.int(28)));
  date.setUTCSeconds(random.int(86_400));
  const base = date.toISOString().slice(0, 19);
  const micros =
    random.int(2) === 0 ? "" : `.${String(random.int(99_999)).padStart(5, "0")}${1 + random.int(9)}`;
  return `${base}${micros}+00:00`;
}

/** `length` pseudo-random bytes. */
function bytes(random: Random, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => random.int(256));
}

/** One typed row's values, in TYPED_COLUMNS order. */
function typedRow(random: Random, name: string): SqliteValue[] {
  const nullable = <T extends SqliteValue>(value: T): T | null => (random.int(5) === 0 ? null : value);
  const notes = [
    "plain",
    "quote ' and \" and \\",
    "line\nbreak\ttab",
    "émoji 🚀 and 漢字",
    "e\u0301 combining",
  ];
  return [
    randomUUID(),
    name,
    nullable(notes[random.int(notes.length)]!),
    nullable(int64(random)),
    nullable(BigInt(random.int(65_536) - 32_768)),
    nullable(BigInt(random.int(2 ** 32) - 2 ** 31)),
    nullable(decimal(random)),
    BigInt(random.int(2)),
    nullable((random.next() - 0.5) * 10 ** (random.int(40) - 20)),
    nullable(Math.fround((random.next() - 0.5) * 10 ** (random.int(10) - 5))),
    nullable(bytes(random, random.int(65))),
    nullable(timestamp(random)),
  ];
}

/** What one device wrote in one batch, for the model. */
interface Graph {
  readonly typed: SqliteValue[][];
  /** Category id -> parent id (null for a root). */
  readonly categories: Map<string, string | null>;
  /** Team id -> its member ids, captain first. */
  readonly teams: Map<string, string[]>;
  /** File id (hex) -> its review ids (hex). */
  readonly files: Map<string, string[]>;
}

describeHeavy("heavy: business-rich-v0 under load", (server) => {
  const devices = useDevices(server);

  /** Writes one batch of the rich graph on `device` in one transaction, children before parents. */
  async function writeGraph(
    device: Device,
    random: Random,
    label: string,
    typedRows: number,
  ): Promise<Graph> {
    const graph: Graph = { typed: [], categories: new Map(), teams: new Map(), files: new Map() };
    await device.driver.transaction(async (tx) => {
      const insertTyped = `INSERT INTO typed_rows (${TYPED_COLUMNS.join(", ")}) VALUES (${TYPED_COLUMNS.map(() => "?").join(", ")})`;
      for (let n = 0; n < typedRows; n++) {
        const row = typedRow(random, `${label} typed ${n}`);
        // Every batch holds both ends of the 64-bit range, whatever the random draws.
        if (n < 2) row[3] = n === 0 ? INT64_MAX : -INT64_MAX - 1n;
        await tx.run(insertTyped, row);
        graph.typed.push(row);
      }
      // Category trees three levels deep, grandchildren first (the keys are deferred).
      for (let tree = 0; tree < 3; tree++) {
        const root = randomUUID();
        const children = [randomUUID(), randomUUID()];
        for (const [c, child] of children.entries()) {
          for (let g = 0; g < 2; g++) {
            const grandchild = randomUUID();
            await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, ?, ?)", [
              grandchild,
              `${label} tree ${tree}.${c}.${g}`,
              child,
            ]);
            graph.categories.set(grandchild, child);
          }
          await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, ?, ?)", [
            child,
            `${label} tree ${tree}.${c}`,
            root,
          ]);
          graph.categories.set(child, root);
        }
        await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, ?, NULL)", [
          root,
          `${label} tree ${tree}`,
        ]);
        graph.categories.set(root, null);
      }
      // Teams whose captain is one of their own members: a cycle closed inside the transaction.
      for (let t = 0; t < 3; t++) {
        const team = randomUUID();
        const members = [randomUUID(), randomUUID(), randomUUID()];
        await tx.run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, ?, ?)", [
          team,
          `${label} team ${t}`,
          members[0]!,
        ]);
        for (const [m, member] of members.entries()) {
          await tx.run("INSERT INTO team_members (id, name, team_id) VALUES (?, ?, ?)", [
            member,
            `${label} member ${t}.${m}`,
            team,
          ]);
        }
        graph.teams.set(team, members);
      }
      // BLOB-keyed files, each with up to three BLOB-keyed reviews.
      for (let f = 0; f < 6; f++) {
        const file = blobId();
        const reviews: string[] = [];
        for (let r = 0; r < f % 4; r++) {
          const review = blobId();
          await tx.run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
            review,
            `${label} review ${f}.${r}`,
            file,
          ]);
          reviews.push(Buffer.from(review).toString("hex"));
        }
        await tx.run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
          file,
          `${label} file ${f}`,
          bytes(random, random.int(1024)),
        ]);
        graph.files.set(Buffer.from(file).toString("hex"), reviews);
      }
    });
    return graph;
  }

  /** Every device pushes, then every device pulls: all hold the same committed state. */
  async function syncAll(all: readonly Device[]): Promise<void> {
    for (const device of all) await device.client.sync();
    for (const device of all) await device.client.pullToStable();
  }

  it(
    "group 9 business-rich-v0 under load: typed rows, BLOB-keyed files and reviews, category cascades and team cycles converge exactly",
    async () => {
      const { rows } = HEAVY;
      const random = seededRandom(HEAVY.seed + 9);
      const user = await newUser(server, "heavy-rich");
      const all = [
        await attachedDevice(devices, user, SMALL_LIMITS),
        await attachedDevice(devices, user, SMALL_LIMITS),
        await attachedDevice(devices, user, SMALL_LIMITS),
      ];
      const [d0, d1, d2] = all as [Device, Device, Device];

      // Load: each device writes two batches; every batch is one bundle pushed in many chunks.
      const graphs: Graph[] = [];
      const typedPerBatch = Math.max(2, Math.floor(rows / 4));
      for (let wave = 0; wave < 2; wave++) {
        for (const [n, device] of all.entries()) {
          graphs.push(await writeGraph(device, random, `d${n} wave ${wave}`, typedPerBatch));
          expect((await device.client.pushPending()).outcome).toBe("committed");
        }
        await syncAll(all);
      }
      const typed = new Map(graphs.flatMap((graph) => graph.typed.map((row) => [row[0] as string, row])));
      const categories = new Map(graphs.flatMap((graph) => [...graph.categories]));
      const teams = new Map(graphs.flatMap((graph) => [...graph.teams]));
      const files = new Map(graphs.flatMap((graph) => [...graph.files]));

      // Edits on devices other than the authors: typed values rewritten at the edges of their types.
      const typedIds = [...typed.keys()];
      await d1.driver.transaction(async (tx) => {
        // Every third row, sparing the first batch's two 64-bit extremes (rows 0 and 1).
        for (let n = 2; n < typedIds.length; n += 3) {
          const id = typedIds[n]!;
          const row = typedRow(random, `rewritten ${n}`);
          row[0] = id;
          await tx.run(
            `UPDATE typed_rows SET ${TYPED_COLUMNS.slice(1)
              .map((column) => `${column} = ?`)
              .join(", ")} WHERE id = ?`,
            [...row.slice(1), id],
          );
          typed.set(id, row);
        }
      });
      // A subtree moves under another root; a root's whole tree is deleted by cascade.
      const roots = [...categories].filter(([, parent]) => parent === null).map(([id]) => id);
      const children = (parent: string) => [...categories].filter(([, p]) => p === parent).map(([id]) => id);
      const moved = children(roots[0]!)[0]!;
      await d2.run("UPDATE categories SET parent_id = ? WHERE id = ?", [roots[1]!, moved]);
      categories.set(moved, roots[1]!);
      const removeTree = (id: string) => {
        for (const child of children(id)) removeTree(child);
        categories.delete(id);
      };
      // Teams: one deleted after its cycle is broken, one deleted outright (members cascade).
      const teamIds = [...teams.keys()];
      await d2.driver.transaction(async (tx) => {
        await tx.run("UPDATE teams SET captain_member_id = NULL WHERE id = ?", [teamIds[0]!]);
        await tx.run("DELETE FROM teams WHERE id = ?", [teamIds[0]!]);
        await tx.run("DELETE FROM teams WHERE id = ?", [teamIds[1]!]);
      });
      teams.delete(teamIds[0]!);
      teams.delete(teamIds[1]!);
      // A new captain for another team, from its own members.
      const captained = teamIds[2]!;
      await d0.run("UPDATE teams SET captain_member_id = ? WHERE id = ?", [
        teams.get(captained)![2]!,
        captained,
      ]);
      teams.set(captained, [teams.get(captained)![2]!, ...teams.get(captained)!.slice(0, 2)]);
      // Files deleted with their reviews (BLOB foreign keys cascade).
      const fileIds = [...files.keys()];
      for (const file of fileIds.slice(0, 4)) {
        await d0.run("DELETE FROM files WHERE id = ?", [Buffer.from(file, "hex")]);
        files.delete(file);
      }
      await syncAll(all);

      // A concurrent deletion: d1 deletes a root while d2, not yet aware, renames a grandchild of
      // it and adds a new child under it. d1 syncs first; d2's edits meet the tombstones and the
      // default resolver (server wins) drops them.
      const doomed = roots[2]!;
      const grandchild = children(children(doomed)[0]!)[0]!;
      await d1.run("DELETE FROM categories WHERE id = ?", [doomed]);
      await d2.run("UPDATE categories SET name = 'renamed under a deleted root' WHERE id = ?", [grandchild]);
      await d2.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'orphan to be', ?)", [
        randomUUID(),
        doomed,
      ]);
      removeTree(doomed);
      await d1.client.sync();
      await syncAll(all);

      const fresh = await attachedDevice(devices, user, SMALL_LIMITS);
      expect(fresh.net.count("snapshot_chunk")).toBeGreaterThan(1);
      const contents = await expectConverged(d0, [d1, d2, fresh]);

      // The model, value for value and storage class for storage class.
      const expectedTyped = [...typed.values()]
        .map((row) => Object.fromEntries(TYPED_COLUMNS.map((column, n) => [column, exactValue(row[n]!)])))
        .sort((x, y) => (x.id! < y.id! ? -1 : x.id! > y.id! ? 1 : 0));
      expect(contents.typed_rows).toEqual(expectedTyped);
      const columnPairs = (table: string, key: string, value: string) =>
        new Map(contents[table]!.map((row) => [row[key], row[value]]));
      expect(columnPairs("categories", "id", "parent_id")).toEqual(
        new Map([...categories].map(([id, parent]) => [exactValue(id), exactValue(parent)])),
      );
      expect(columnPairs("teams", "id", "captain_member_id")).toEqual(
        new Map([...teams].map(([team, members]) => [exactValue(team), exactValue(members[0]!)])),
      );
      expect(columnPairs("team_members", "id", "team_id")).toEqual(
        new Map(
          [...teams].flatMap(([team, members]) => members.map((m) => [exactValue(m), exactValue(team)])),
        ),
      );
      expect(contents.files!.map((row) => row.id)).toEqual(
        [...files.keys()].sort().map((hex) => `blob:${hex}`),
      );
      expect(columnPairs("file_reviews", "id", "file_id")).toEqual(
        new Map(
          [...files].flatMap(([file, reviews]) =>
            reviews.map((review) => [`blob:${review}`, `blob:${file}`]),
          ),
        ),
      );
      // Both ends of the 64-bit range made it through unchanged (the model check above covers them
      // too; this says so should the generator ever change).
      const counts = new Set(contents.typed_rows!.map((row) => row.count_value));
      expect(counts).toContain(`int:${INT64_MAX}`);
      expect(counts).toContain(`int:${-INT64_MAX - 1n}`);
    },
    HEAVY_TIMEOUT,
  );
});
