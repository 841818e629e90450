/**
 * The assertion most scenarios end with: every device of the user has nothing left to push, stands
 * at the same bundle checkpoint and holds the same rows, value for value, in all eight example
 * tables; with `--db`, PostgreSQL holds exactly those rows for the user, its newest bundle is that
 * checkpoint, no push session is left half-staged, and its row-version bookkeeping counts exactly
 * the live rows.
 */
import { EXAMPLE_TABLES } from "../example-schema.js";
import type { CanonicalRow } from "./canonical-rows.js";
import type { Device } from "./device.js";
import { type ScenarioContext, check, checkEqual, show } from "./scenario.js";

/** Checks that `devices` (all attached to `userId`, the run's user by default) and the server agree. */
export async function expectConverged(
  context: ScenarioContext,
  devices: readonly Device[],
  userId: string = context.userId,
): Promise<void> {
  const [first] = devices;
  check(first !== undefined, "expectConverged needs at least one device");
  const checkpoints = new Map<string, bigint>();
  for (const device of devices) {
    const state = await device.syncState();
    checkEqual(
      { binding: state.bindingState, user: state.attachedUserId },
      { binding: "attached", user: userId },
      `${device.name} attachment`,
    );
    checkEqual(
      { dirtyRows: state.dirtyRows, outbox: state.outboxState, outboxRows: state.outboxRows },
      { dirtyRows: 0n, outbox: "none", outboxRows: 0n },
      `${device.name} has nothing left to push`,
    );
    checkEqual(state.stagedSnapshotRows, 0n, `${device.name} staged snapshot rows`);
    checkpoints.set(device.name, state.lastBundleSeqSeen);
  }
  const checkpoint = checkpoints.get(first.name)!;
  check(
    [...checkpoints.values()].every((seq) => seq === checkpoint),
    `devices stand at different bundle checkpoints: ${show(Object.fromEntries(checkpoints))}`,
  );
  for (const table of EXAMPLE_TABLES) {
    const expected = await first.rows(table.name);
    for (const device of devices.slice(1)) {
      sameRows(await device.rows(table.name), expected, `${table.name} on ${device.name} vs ${first.name}`);
    }
    if (context.postgres !== undefined) {
      sameRows(
        await context.postgres.rows(table.name, userId),
        expected,
        `PostgreSQL ${table.name} vs ${first.name}`,
      );
      const states = await context.postgres.rowStates(userId, table.name);
      checkEqual(states.live, expected.length, `PostgreSQL sync.row_state live keys of ${table.name}`);
    }
  }
  if (context.postgres !== undefined) {
    checkEqual(
      await context.postgres.latestBundleSeq(userId),
      checkpoint,
      "PostgreSQL newest bundle vs device checkpoints",
    );
    checkEqual(await context.postgres.openPushSessions(userId), [], "PostgreSQL push sessions left staged");
  }
}

/** Checks that two ordered row lists are equal, naming the first row that differs. */
export function sameRows(
  actual: readonly CanonicalRow[],
  expected: readonly CanonicalRow[],
  what: string,
): void {
  const expectedById = new Map(expected.map((row) => [row.id, row]));
  const actualById = new Map(actual.map((row) => [row.id, row]));
  const missing = expected.filter((row) => !actualById.has(row.id)).map((row) => row.id);
  const extra = actual.filter((row) => !expectedById.has(row.id)).map((row) => row.id);
  check(
    missing.length === 0 && extra.length === 0,
    `${what}: ${actual.length} rows, expected ${expected.length}; missing ${show(missing.slice(0, 5))}, unexpected ${show(extra.slice(0, 5))}`,
  );
  for (const row of actual) {
    const want = expectedById.get(row.id)!;
    check(show(row) === show(want), `${what}: row ${row.id} is ${show(row)}, expected ${show(want)}`);
  }
}
