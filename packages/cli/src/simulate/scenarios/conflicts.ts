/**
 * Push conflicts under multi-chunk load: two devices change the same user; the second one's
 * bundle (the conflicting row among six siblings, three rows per chunk) meets the first one's
 * commit. Four resolvers settle it: server wins, client wins, and an app merge that keeps the side
 * with the later `updated_at`, a UTC RFC 3339 timestamp with microseconds in a SQLite TEXT column
 * (once where the server's side is later, once where the device's is).
 */
import {
  type ConflictContext,
  type ConflictResolver,
  type RowValues,
  clientWins,
  mergeRows,
  serverWins,
} from "@oversync/client";
import { addUser, emailOf, newId, renameUser } from "../app-data.js";
import { epochMicros } from "../canonical-rows.js";
import { expectConverged } from "../convergence.js";
import type { Device } from "../device.js";
import { type Scenario, check, checkEqual } from "../scenario.js";

const SIBLINGS = 6;
/** Rows per push chunk: a bundle of seven rows needs three chunks. */
const UPLOAD_LIMIT = 3;

interface ConflictCase {
  readonly name: string;
  readonly resolver: ConflictResolver;
  /** Minutes after the base time of the server's (first device's) and the local (second device's) edit. */
  readonly serverMinute: number;
  readonly localMinute: number;
  readonly winner: "server" | "local";
}

/** The app's merge: the whole row of the side whose `updated_at` is later (the device's on a tie). */
const latestUpdatedAt = mergeRows((conflict: ConflictContext): RowValues => {
  const local = conflict.localRow;
  const server = conflict.serverRow;
  if (local === null || server === null) throw new Error("the merge expects an UPDATE against a live row");
  const localAt = epochMicros(String(local.updated_at));
  const serverAt = epochMicros(String(server.updated_at));
  if (localAt === undefined || serverAt === undefined) {
    throw new Error(`unparsable updated_at: local ${local.updated_at}, server ${server.updated_at}`);
  }
  return localAt >= serverAt ? local : server;
});

const CASES: readonly ConflictCase[] = [
  { name: "server-wins", resolver: serverWins, serverMinute: 1, localMinute: 2, winner: "server" },
  { name: "client-wins", resolver: clientWins, serverMinute: 3, localMinute: 4, winner: "local" },
  {
    name: "merge-server-later",
    resolver: latestUpdatedAt,
    serverMinute: 6,
    localMinute: 5,
    winner: "server",
  },
  { name: "merge-device-later", resolver: latestUpdatedAt, serverMinute: 7, localMinute: 8, winner: "local" },
];

const conflicts: Scenario = {
  name: "conflicts",
  description: "chunked conflicts: server wins, client wins, updated_at merge",
  async run(context) {
    let active: ConflictCase = CASES[0]!;
    const seen: ConflictContext[] = [];
    const resolver: ConflictResolver = (conflict) => {
      seen.push(conflict);
      return active.resolver(conflict);
    };
    const targets = new Map(CASES.map((entry) => [entry.name, newId()]));
    const siblings = new Map(CASES.map((entry) => [entry.name, Array.from({ length: SIBLINGS }, newId)]));
    const first = await context.step(
      "device 1: sign in, add a target and 6 siblings per case, push",
      async () => {
        const device = await context.openDevice("device-1", { uploadLimit: UPLOAD_LIMIT });
        await device.attach(context.userId);
        for (const entry of CASES) {
          await addUser(device, targets.get(entry.name)!, `${entry.name} baseline`, timestamp(0, 0));
          for (const [index, id] of siblings.get(entry.name)!.entries()) {
            await addUser(device, id, `${entry.name} sibling ${index + 1}`, timestamp(0, 0));
          }
        }
        checkEqual((await device.client.pushPending()).outcome, "committed", "baseline push");
        return device;
      },
    );
    const second = await context.step("device 2: sign in restores the baseline", async () => {
      const device = await context.openDevice("device-2", { uploadLimit: UPLOAD_LIMIT, resolver });
      checkEqual(
        (await device.attach(context.userId)).restore?.rowCount,
        CASES.length * (SIBLINGS + 1),
        "rows restored",
      );
      return device;
    });
    for (const entry of CASES) {
      active = entry;
      await context.step(`${entry.name}: both devices edit the target, device 2 pushes last`, async () => {
        const target = targets.get(entry.name)!;
        const serverName = `${entry.name} server edit`;
        const localName = `${entry.name} device edit`;
        await renameUser(first, target, serverName, timestamp(entry.serverMinute, 123_456));
        checkEqual((await first.client.pushPending()).outcome, "committed", "device 1 push");
        await renameUser(second, target, localName, timestamp(entry.localMinute, 654_321));
        const siblingNames = siblings
          .get(entry.name)!
          .map((_, index) => `${entry.name} sibling ${index + 1} edited`);
        for (const [index, id] of siblings.get(entry.name)!.entries()) {
          await renameUser(second, id, siblingNames[index]!, timestamp(entry.localMinute, index + 1));
        }
        const mark = second.requests.length;
        seen.length = 0;
        checkEqual((await second.client.pushPending()).outcome, "committed", "device 2 push");
        checkEqual(
          second.requestsTo("POST", "/sync/push-sessions", mark).length,
          2,
          "push sessions (conflict, then again)",
        );
        const chunks = second.requestsTo("POST", "/sync/push-sessions/:id/chunks", mark).length;
        check(
          chunks >= 4,
          `device 2 uploaded ${chunks} chunks; a multi-chunk push (at least 4) was expected`,
        );
        context.note(`${entry.name}: device 2 uploaded ${chunks} chunks in 2 push sessions`);
        checkEqual(
          seen.map((conflict) => [
            conflict.table,
            conflict.key.id,
            conflict.localOp,
            conflict.serverRow?.name,
          ]),
          [["users", target, "UPDATE", serverName]],
          "conflicts the resolver saw",
        );
        await second.client.pullToStable();
        await first.client.pullToStable();
        const expected =
          entry.winner === "server"
            ? { name: serverName, at: timestamp(entry.serverMinute, 123_456) }
            : { name: localName, at: timestamp(entry.localMinute, 654_321) };
        for (const device of [first, second]) {
          await expectUser(device, target, expected.name, expected.at);
          for (const [index, id] of siblings.get(entry.name)!.entries()) {
            await expectUser(device, id, siblingNames[index]!, timestamp(entry.localMinute, index + 1));
          }
        }
        await expectConverged(context, [first, second]);
      });
    }
    await context.step("the server holds every user once", async () => {
      const users = await context.postgres?.rows("users", context.userId);
      if (users !== undefined) checkEqual(users.length, CASES.length * (SIBLINGS + 1), "PostgreSQL users");
    });
  },
};

/** 2026-03-24T18:MM:00.ffffffZ: RFC 3339 with microseconds in UTC (trailing zeros trimmed, as RFC3339Nano writes). */
function timestamp(minute: number, micros: number): string {
  const fraction = micros === 0 ? "" : `.${String(micros).padStart(6, "0").replace(/0+$/, "")}`;
  return `2026-03-24T18:${String(minute).padStart(2, "0")}:00${fraction}Z`;
}

/** The user's name, email and `updated_at` instant on `device`. */
async function expectUser(device: Device, id: string, name: string, updatedAt: string): Promise<void> {
  const [row] = await device.query<{ name: string; email: string; updated_at: string }>(
    "SELECT name, email, updated_at FROM users WHERE id = ?",
    [id],
  );
  checkEqual(
    row === undefined ? undefined : [row.name, row.email, epochMicros(row.updated_at)],
    [name, emailOf(name), epochMicros(updatedAt)],
    `${device.name} user ${id} (name, email, updated_at instant)`,
  );
}

export const CONFLICT_SCENARIOS: readonly Scenario[] = [conflicts];
