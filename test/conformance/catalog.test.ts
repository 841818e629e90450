/**
 * The live suite's coverage bookkeeping: every test title names catalog IDs, and every catalog ID
 * is either covered by a title or listed with a reason, never both. Static: it runs without a
 * server, so a drifting table fails `npm test` even when the live suite is gated off.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UNCOVERED, catalogIds, coverageReport, titleIds } from "./catalog.js";

const dir = dirname(fileURLToPath(import.meta.url));

describe("live conformance catalog coverage", () => {
  it("knows the catalog's 170 scenario IDs", () => {
    const ids = catalogIds();
    expect(ids).toHaveLength(170);
    expect(new Set(ids).size).toBe(170);
    expect([ids[0], ids.at(-1)]).toEqual(["LC-01", "LV-09"]);
  });

  it("reads the IDs a title starts with, and only those", () => {
    expect(titleIds("PU-03 PU-04 a title that mentions PU-05 later")).toEqual(["PU-03", "PU-04"]);
    expect(titleIds("a title without IDs")).toEqual([]);
  });

  it("accounts for every catalog ID exactly once: a live test or a listed reason", () => {
    const report = coverageReport(dir);
    expect(report.problems).toEqual([]);
    expect(report.covered.length + report.uncovered.length).toBe(170);
    expect(report.uncovered.map((entry) => entry.id)).toEqual(Object.keys(UNCOVERED).sort(byCatalogOrder));
  });
});

function byCatalogOrder(a: string, b: string): number {
  const ids = catalogIds();
  return ids.indexOf(a) - ids.indexOf(b);
}
