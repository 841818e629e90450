/**
 * Heavy parity groups 3 and 5: long-horizon divergent writers, and repeated conflict convergence,
 * after prior committed bundles. The tests keep a model of the server (each hot row's value and
 * version, and the version each writer last saw), so they know exactly which pushes must conflict,
 * how the resolver settles each, and what every device must hold afterwards.
 */
import type { ConflictResolver } from "@oversync/client";
import { expect, it } from "vitest";
import { type Device, useDevices } from "../conformance/live-device.js";
import { newUser } from "../conformance/server-calls.js";
import {
  HEAVY,
  HEAVY_TIMEOUT,
  SMALL_LIMITS,
  attachedDevice,
  describeHeavy,
  expectConverged,
  seededRandom,
} from "./heavy-support.js";

/** Hot rows both writers keep changing. */
const HOT_ROWS = 12;

/** A writer as the model sees it. */
interface Writer {
  readonly name: string;
  device: Device;
  /** Conflicts its resolver was asked to settle. */
  conflicts: number;
  /** Changes made since its last push: hot row -> new name, or null for a delete. */
  readonly pending: Map<string, string | null>;
  /** The server version of each hot row this writer last learned (pull, or its own commit). */
  readonly seen: Map<string, number>;
  /** Hot rows present in its database. */
  readonly present: Set<string>;
}

describeHeavy("heavy: conflicts", (server) => {
  const devices = useDevices(server);

  /** Names of `hot` rows present on `device`, by id. */
  async function hotNames(device: Device, hot: readonly string[]): Promise<Map<string, string>> {
    const rows = await device.query<{ id: string; name: string }>(
      `SELECT id, name FROM users WHERE id IN (${hot.map(() => "?").join(", ")})`,
      hot,
    );
    return new Map(rows.map((row) => [row.id, row.name]));
  }

  it(
    "group 3 long-horizon divergent writers: two writers push for many rounds on stale bases, pull rarely, and converge on the model",
    async () => {
      const { rounds } = HEAVY;
      const random = seededRandom(HEAVY.seed + 3);
      const user = await newUser(server, "heavy-divergent");
      const writers: Writer[] = ["a", "b"].map((name) => ({
        name,
        device: undefined as unknown as Device,
        conflicts: 0,
        pending: new Map(),
        seen: new Map(),
        present: new Set(),
      }));
      const [a, b] = writers as [Writer, Writer];
      // Local edits win; a deletion elsewhere wins (keeping a local update of a deleted row is invalid).
      const resolverOf =
        (writer: Writer): ConflictResolver =>
        (conflict) => {
          writer.conflicts++;
          return conflict.serverRowDeleted ? { kind: "accept_server" } : { kind: "keep_local" };
        };
      a.device = await attachedDevice(devices, user, { ...SMALL_LIMITS, resolver: resolverOf(a) });

      // Prior bundles: the hot rows, then unrelated history.
      const hot: string[] = [];
      for (let n = 0; n < HOT_ROWS; n++) hot.push(await a.device.insertUser(`hot ${n}`));
      await a.device.client.pushPending();
      let ownRows = 0;
      for (let n = 0; n < 4; n++) {
        await a.device.insertUser(`history ${n}`);
        ownRows++;
        await a.device.client.pushPending();
      }
      b.device = await attachedDevice(devices, user, { ...SMALL_LIMITS, resolver: resolverOf(b) });

      // The server as the model sees it: each hot row's name (null once deleted) and version.
      const model = new Map<string, string | null>(hot.map((id, n) => [id, `hot ${n}`]));
      const version = new Map<string, number>(hot.map((id) => [id, 1]));
      for (const writer of writers) {
        for (const id of hot) {
          writer.seen.set(id, 1);
          writer.present.add(id);
        }
      }
      let expectedConflicts = 0;

      /** Pushes `writer`'s changes and advances the model as the server and resolver will. */
      const push = async (writer: Writer): Promise<void> => {
        await writer.device.client.pushPending();
        for (const [id, value] of writer.pending) {
          const stale = writer.seen.get(id) !== version.get(id);
          if (stale) expectedConflicts++;
          if (stale && model.get(id) === null) {
            // accept_server: the deletion stands, locally too.
            writer.present.delete(id);
          } else {
            model.set(id, value);
            version.set(id, version.get(id)! + 1);
          }
          writer.seen.set(id, version.get(id)!);
        }
        writer.pending.clear();
      };

      /** A whole sync: the push, then everything the server holds. */
      const sync = async (writer: Writer): Promise<void> => {
        await push(writer);
        await writer.device.client.pullToStable();
        for (const id of hot) {
          writer.seen.set(id, version.get(id)!);
          if (model.get(id) === null) writer.present.delete(id);
          else writer.present.add(id);
        }
        const expected = new Map([...model].filter((entry): entry is [string, string] => entry[1] !== null));
        expect(await hotNames(writer.device, hot)).toEqual(expected);
      };

      for (let round = 1; round <= rounds; round++) {
        // Who goes first alternates, so each writer's pushes meet the other's fresh commits.
        for (const writer of round % 2 === 1 ? [a, b] : [b, a]) {
          const candidates = hot.filter((id) => writer.present.has(id));
          for (let n = 0; n < 3 && candidates.length > 0; n++) {
            const id = candidates.splice(random.int(candidates.length), 1)[0]!;
            const liveRows = [...model.values()].filter((value) => value !== null).length;
            // Now and then a delete, while more than half the hot rows are still alive.
            if (n === 0 && round % 5 === 0 && liveRows > HOT_ROWS / 2) {
              await writer.device.run("DELETE FROM users WHERE id = ?", [id]);
              writer.present.delete(id);
              writer.pending.set(id, null);
            } else {
              const name = `${writer.name} round ${round} change ${n}`;
              await writer.device.renameUser(id, name);
              writer.pending.set(id, name);
            }
          }
          await writer.device.insertUser(`${writer.name} own ${round}`);
          ownRows++;
          // Each writer pulls only every fourth round; in between it pushes on stale bases.
          if ((round + (writer === a ? 0 : 2)) % 4 === 0) await sync(writer);
          else await push(writer);
        }
      }

      await sync(a);
      await sync(b);
      await sync(a);
      // The model says conflicts happened (so the resolver count below means something).
      expect(expectedConflicts).toBeGreaterThan(0);
      expect(a.conflicts + b.conflicts).toBe(expectedConflicts);
      const fresh = await attachedDevice(devices, user);
      const contents = await expectConverged(a.device, [b.device, fresh]);
      const live = [...model.values()].filter((value) => value !== null).length;
      expect(contents.users).toHaveLength(live + ownRows);
    },
    HEAVY_TIMEOUT,
  );

  it(
    "group 5 repeated conflict convergence: the same rows conflict every round, settled by client-wins and server-wins in turn",
    async () => {
      const { rounds } = HEAVY;
      const user = await newUser(server, "heavy-repeated");
      const counted = (resolver: ConflictResolver, counter: { n: number }): ConflictResolver => {
        return (conflict) => {
          counter.n++;
          return resolver(conflict);
        };
      };
      const aConflicts = { n: 0 };
      const bConflicts = { n: 0 };
      // a takes the server's side (the default), b insists on its own.
      const a = await attachedDevice(devices, user, {
        ...SMALL_LIMITS,
        resolver: counted(() => ({ kind: "accept_server" }), aConflicts),
      });
      const hot: string[] = [];
      const hotPosts: string[] = [];
      for (let n = 0; n < 3; n++) {
        hot.push(await a.insertUser(`hot ${n}`));
        hotPosts.push(await a.insertPost(hot[n]!, `hot post ${n}`));
      }
      await a.client.pushPending();
      // Prior committed bundles the conflicts come after.
      for (let n = 0; n < 5; n++) {
        await a.insertUser(`earlier ${n}`);
        await a.client.pushPending();
      }
      const b = await attachedDevice(devices, user, {
        ...SMALL_LIMITS,
        resolver: counted(() => ({ kind: "keep_local" }), bConflicts),
      });
      const observer = await attachedDevice(devices, user, SMALL_LIMITS);

      const change = async (device: Device, label: string) => {
        await device.driver.transaction(async (tx) => {
          for (const [n, id] of hot.entries()) {
            await tx.run("UPDATE users SET name = ? WHERE id = ?", [`${label} ${n}`, id]);
            await tx.run("UPDATE posts SET title = ? WHERE id = ?", [`${label} post ${n}`, hotPosts[n]!]);
          }
        });
      };
      for (let round = 1; round <= rounds; round++) {
        // Both change every hot row from the same base; one pushes first and the other conflicts on
        // all six rows. b always ends up winning: by keep_local when second, by a's accept_server when first.
        await change(a, `a round ${round}`);
        await change(b, `b round ${round}`);
        const [first, second] = round % 2 === 1 ? [a, b] : [b, a];
        expect((await first.client.pushPending()).outcome).toBe("committed");
        const settled = (await second.client.pushPending()).outcome;
        expect(settled).toBe(second === b ? "committed" : "no_change");
        for (const device of [a, b, observer]) {
          await device.client.pullToStable();
          expect(
            (await device.query("SELECT name FROM users WHERE name LIKE '% round %' ORDER BY name")).map(
              (row) => row.name,
            ),
          ).toEqual(hot.map((_, n) => `b round ${round} ${n}`));
          expect(await device.query("SELECT title FROM posts ORDER BY title")).toEqual(
            hot.map((_, n) => ({ title: `b round ${round} post ${n}` })),
          );
        }
      }
      expect(bConflicts.n).toBe(6 * Math.ceil(rounds / 2));
      expect(aConflicts.n).toBe(6 * Math.floor(rounds / 2));
      await expectConverged(a, [b, observer, await attachedDevice(devices, user)]);
    },
    HEAVY_TIMEOUT,
  );
});
