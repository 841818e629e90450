/**
 * Runs `local-schema/config-validation.json`: every case opens the local runtime on its schema (after
 * an optional first initialization plus `beforeValidationSql`) and expects either a typed
 * configuration error carrying every message fragment, or success; then checks `expectedQueries`.
 */
import { type SyncConfig, isClientError } from "@oversync/client";
import { openSyncStore } from "../../packages/client/src/store/sync-store.js";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { execAll, withTempDatabase } from "./store-harness.js";

const FILE = "local-schema/config-validation.json";

interface ValidationCase {
  name: string;
  schemaSql: string[];
  config: SyncConfig;
  initializeBeforeValidation?: boolean;
  beforeValidationSql?: string[];
  afterOpenSql?: string[];
  expectedError: { kind: string; messageContains: string[] } | null;
  expectedQueries?: { name: string; sql: string; value: string | number }[];
}

/** Fixture error kinds and the client error code each one means. */
const ERROR_CODES: Record<string, string> = { configuration: "config_invalid" };

const available = requireContracts();
const fixture = available ? readContract<{ cases: ValidationCase[] }>(FILE) : undefined;
const tally = fixtureTally();

describe.skipIf(!available)(FILE, () => {
  for (const testCase of fixture?.cases ?? []) {
    tally.it(FILE, testCase.name, async () => {
      await withTempDatabase(async (driver) => {
        await execAll(driver, testCase.schemaSql);
        if (testCase.initializeBeforeValidation === true) {
          await openSyncStore(driver, testCase.config);
          await execAll(driver, testCase.beforeValidationSql ?? []);
        }
        const outcome = await openSyncStore(driver, testCase.config).then(
          () => undefined,
          (error: unknown) => error,
        );
        if (testCase.expectedError === null) {
          expect(outcome).toBeUndefined();
          await execAll(driver, testCase.afterOpenSql ?? []);
        } else {
          const code = ERROR_CODES[testCase.expectedError.kind];
          expect(code, `known error kind ${testCase.expectedError.kind}`).toBeDefined();
          expect(isClientError(outcome, code as never), String(outcome)).toBe(true);
          for (const fragment of testCase.expectedError.messageContains) {
            expect((outcome as Error).message).toContain(fragment);
          }
        }
        for (const query of testCase.expectedQueries ?? []) {
          const [row] = await driver.query(query.sql);
          const value = row === undefined ? undefined : Object.values(row)[0];
          const expected = typeof query.value === "number" ? BigInt(query.value) : query.value;
          expect(value, query.name).toEqual(expected);
        }
      });
    });
  }
});
