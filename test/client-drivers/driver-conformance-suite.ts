/**
 * Runs the driver conformance cases (driver-conformance-cases.ts) as a vitest suite for a Node
 * driver, each case on real SQLite files in a temporary directory of its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "vitest";
import type { SqliteDriver } from "@oversync/client";
import {
  type DriverTraits,
  closeAllDrivers,
  driverConformanceCases,
  groupCases,
} from "./driver-conformance-cases.js";

/** Opens a driver on a SQLite file path. */
export type DriverOpener = (filename: string) => Promise<SqliteDriver>;

/** Registers the conformance suite for one driver. */
export function describeDriverConformance(
  title: string,
  open: DriverOpener,
  traits: DriverTraits = { functionResults: true },
): void {
  describe(title, () => {
    for (const [group, cases] of groupCases(driverConformanceCases(traits))) {
      describe(group, () => {
        for (const { name, run } of cases) {
          it(name, async () => {
            const dir = mkdtempSync(join(tmpdir(), "oversync-driver-"));
            const opened: SqliteDriver[] = [];
            const openHere = async (filename: string) => {
              const driver = await open(join(dir, filename));
              opened.push(driver);
              return driver;
            };
            try {
              await run({ driver: await openHere("main.db"), open: openHere });
            } finally {
              await closeAllDrivers(opened);
              rmSync(dir, { recursive: true, force: true });
            }
          });
        }
      });
    }
  });
}
