/**
 * The few assertions the driver conformance cases need, written without vitest or Node so the same
 * cases run in a browser page. Equality is strict as SQLite values need it: a bigint never equals a
 * number, -0 is not 0, and byte arrays compare byte by byte.
 */

/** Fails with `message` unless `condition` holds. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Fails unless `actual` deeply equals `expected` (same types, Object.is for primitives). */
export function assertEqual(actual: unknown, expected: unknown, what = "value"): void {
  const difference = differ(actual, expected, "");
  if (difference !== undefined) {
    throw new Error(
      `${what}${difference.path}: expected ${show(difference.expected)}, got ${show(difference.actual)}`,
    );
  }
}

/** Fails unless each field of `expected` equals the same field of `actual` (toMatchObject, one level). */
export function assertFields(actual: unknown, expected: Record<string, unknown>, what = "value"): void {
  assert(typeof actual === "object" && actual !== null, `${what}: expected an object, got ${show(actual)}`);
  for (const [key, value] of Object.entries(expected)) {
    assertEqual((actual as Record<string, unknown>)[key], value, `${what}.${key}`);
  }
}

/** The error `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>, what = "the call"): Promise<unknown> {
  let result: unknown;
  try {
    result = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`${what} should have failed, but resolved with ${show(result)}`);
}

interface Difference {
  readonly path: string;
  readonly actual: unknown;
  readonly expected: unknown;
}

function differ(actual: unknown, expected: unknown, path: string): Difference | undefined {
  if (Object.is(actual, expected)) return undefined;
  const here = { path, actual, expected };
  if (typeof actual !== "object" || typeof expected !== "object" || actual === null || expected === null) {
    return here;
  }
  if (expected instanceof Uint8Array) {
    if (!(actual instanceof Uint8Array) || actual.byteLength !== expected.byteLength) return here;
    const at = expected.findIndex((byte, index) => actual[index] !== byte);
    return at === -1 ? undefined : { path: `${path}[${at}]`, actual: actual[at], expected: expected[at] };
  }
  if (Array.isArray(expected) !== Array.isArray(actual)) return here;
  // Rows of some bindings (node:sqlite) are null-prototype objects: as plain as an object literal.
  if (
    !(isPlain(actual) && isPlain(expected)) &&
    Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)
  ) {
    return here;
  }
  const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  for (const key of keys) {
    const inner = differ(
      (actual as Record<string, unknown>)[key],
      (expected as Record<string, unknown>)[key],
      Array.isArray(expected) ? `${path}[${key}]` : `${path}.${key}`,
    );
    if (inner !== undefined) return inner;
  }
  return undefined;
}

function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A value as the failure message shows it: bigint with `n`, -0 signed, bytes by length. */
export function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (Object.is(value, -0)) return "-0";
  if (value instanceof Uint8Array) return `Uint8Array(${value.byteLength})`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object" || value === null) return String(value);
  try {
    return JSON.stringify(value, (_, inner) =>
      typeof inner === "bigint"
        ? `${inner}n`
        : inner instanceof Uint8Array
          ? `Uint8Array(${inner.byteLength})`
          : inner,
    );
  } catch {
    return Object.prototype.toString.call(value);
  }
}
