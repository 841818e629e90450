import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, it } from "vitest";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Where the upstream fixtures are read from: OVERSQLITE_CONTRACTS_DIR, else ../shared beside the repo. */
export const contractsDir: string =
  process.env.OVERSQLITE_CONTRACTS_DIR ?? join(repoRoot, "..", "shared", "oversqlite-contracts");

export const contractsAvailable: boolean = existsSync(contractsDir);

/**
 * Fixture suites skip when the folder is missing, except under CI=true where a missing folder must
 * fail the run instead of silently passing with nothing checked.
 */
export function requireContracts(): boolean {
  if (contractsAvailable) return true;
  const message = `oversqlite contract fixtures not found at ${contractsDir}; set OVERSQLITE_CONTRACTS_DIR`;
  if (process.env.CI === "true") throw new Error(message);
  console.warn(`${message} (skipping fixture suites)`);
  return false;
}

export function readContract<T = unknown>(relativePath: string): T {
  return JSON.parse(readFileSync(join(contractsDir, relativePath), "utf8")) as T;
}

/**
 * A fixture for a skippable suite's describe body, which vitest runs while collecting even when the
 * suite is skipped: the fixture, or `absent` when the fixtures are missing.
 */
export function readContractIfPresent<T>(relativePath: string, absent: T): T {
  return contractsAvailable ? readContract<T>(relativePath) : absent;
}

export function readContractText(relativePath: string): string {
  return readFileSync(join(contractsDir, relativePath), "utf8");
}

/** Ran/passed counts of fixture cases, printed as `<label>: N cases, N passed` when the file ends. */
export interface FixtureTally {
  /** Declares one counted test case under `label`. */
  it(label: string, name: string, check: () => unknown): void;
  /** Wraps a test body so it counts under `label`; for callers that declare the test themselves. */
  counted<T extends unknown[]>(label: string, body: (...args: T) => unknown): (...args: T) => Promise<void>;
}

/** A tally for this test file; a case counts as passed only when its check finished without throwing. */
export function fixtureTally(): FixtureTally {
  const counts = new Map<string, { cases: number; passed: number }>();
  afterAll(() => {
    for (const [label, { cases, passed }] of counts)
      console.log(`${label}: ${cases} cases, ${passed} passed`);
  });
  const counted: FixtureTally["counted"] =
    (label, body) =>
    async (...args) => {
      const count = counts.get(label) ?? { cases: 0, passed: 0 };
      counts.set(label, count);
      count.cases++;
      await body(...args);
      count.passed++;
    };
  return {
    it: (label, name, check) => it(name, counted(label, check)),
    counted,
  };
}
