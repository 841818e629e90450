/**
 * What a scenario is and what it gets to run: a fresh user id, timed steps, devices that the
 * runner closes afterwards, and the PostgreSQL checks when `--db` was given. Assertions throw
 * ScenarioAssertionError, so the report can tell a broken promise of the sync system from a
 * scenario that could not run (a refused request, a crashed process).
 */
import type { Device, DeviceOptions } from "./device.js";
import type { PostgresChecks } from "./postgres-checks.js";

/** One device story. */
export interface Scenario {
  /** The `--scenario` name, e.g. `fresh-install`. */
  readonly name: string;
  /** One line for `--help` and the report. */
  readonly description: string;
  run(context: ScenarioContext): Promise<void>;
}

/** What a scenario run is given. */
export interface ScenarioContext {
  /** The server under test (the `--server` URL). */
  readonly serverUrl: string;
  /** The server's admin token (OVERSYNC_ADMIN_TOKEN), sent to its test helpers; see server-api.ts. */
  readonly adminToken: string | undefined;
  /** A user id no other run uses, so scenarios can share any server. */
  readonly userId: string;
  /** Another fresh user id for the same run (user-switch); it is cleaned up with the run. */
  newUserId(label: string): string;
  /** PostgreSQL assertions; undefined without `--db`. */
  readonly postgres: PostgresChecks | undefined;
  /** This run's directory; its SQLite files live here. */
  readonly workDir: string;
  /** Runs `body` as a named, timed step of the report. */
  step<T>(name: string, body: () => Promise<T>): Promise<T>;
  /** Opens (or reopens) the device whose SQLite file is `<workDir>/<name>.db`; closed when the run ends. */
  openDevice(name: string, options?: DeviceOptions): Promise<Device>;
  /** Releases `resource` when the run ends (proxies, child processes), newest first. */
  defer(release: () => Promise<void>): void;
  /** A detail line, shown with `--verbose`. */
  note(message: string): void;
}

/** A promise of the sync system the scenario found broken. */
export class ScenarioAssertionError extends Error {
  override readonly name = "ScenarioAssertionError";
}

/** Throws ScenarioAssertionError(`message`) unless `condition` holds. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ScenarioAssertionError(message);
}

/** Throws unless `actual` equals `expected` (deep, bigint-aware), naming `what`. */
export function checkEqual<T>(actual: T, expected: T, what: string): void {
  const shownActual = show(actual);
  const shownExpected = show(expected);
  check(shownActual === shownExpected, `${what}: expected ${shownExpected}, got ${shownActual}`);
}

/** JSON with bigints as `123n` and byte arrays as hex, keys in a stable order. */
export function show(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === "bigint") return `${item}n`;
    if (item instanceof Uint8Array) return `x'${Buffer.from(item).toString("hex")}'`;
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      return Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)));
    }
    return item;
  });
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than undefined or false, and
 * returns that; after `timeoutMs` it fails saying what it waited for (`what` may be a function, to
 * describe the last value seen).
 */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      throw new ScenarioAssertionError(
        `${typeof what === "string" ? what : what()} (waited ${timeoutMs} ms)`,
      );
    }
    await sleep(intervalMs);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
