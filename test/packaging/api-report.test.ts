/**
 * The public surface changes only on purpose: each entry point's exports and declarations must
 * match its committed API report (packages/<package>/api/*.api.md, written by
 * `npm run api-report`), and a name exported by two entry points must be the same thing in both.
 */
import { existsSync, readFileSync } from "node:fs";
import { relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type ExportedName, buildReports, entryPoints, repoRoot } from "./api-report.js";

describe("API reports", () => {
  let built: ReturnType<typeof buildReports>;

  beforeAll(() => {
    built = buildReports();
  }, 120_000);

  for (const entry of entryPoints()) {
    it(`${entry.specifier} matches ${relative(repoRoot, entry.report)}`, () => {
      const expected = built.reports.get(entry.report)!;
      const committed = existsSync(entry.report) ? readFileSync(entry.report, "utf8") : "";
      // A plain comparison first: the message names the fix before the (long) diff.
      if (committed !== expected) {
        expect.fail(
          `the exports of ${entry.specifier} differ from ${relative(repoRoot, entry.report)}; if the change is ` +
            "deliberate, run `npm run api-report` and commit the report with it\n" +
            firstDifference(committed, expected),
        );
      }
    });
  }

  it("no name is exported by two entry points for two different things", () => {
    const byName = new Map<string, Map<string, string[]>>();
    for (const [specifier, names] of built.exports) {
      for (const { name, origin } of names as ExportedName[]) {
        const origins = byName.get(name) ?? new Map<string, string[]>();
        origins.set(origin, [...(origins.get(origin) ?? []), specifier]);
        byName.set(name, origins);
      }
    }
    const clashes = [...byName]
      .filter(([, origins]) => origins.size > 1)
      .map(
        ([name, origins]) =>
          `${name}: ${[...origins].map(([origin, where]) => `${where} → ${origin}`).join("; ")}`,
      );
    expect(clashes).toEqual([]);
  });
});

function firstDifference(committed: string, expected: string): string {
  const a = committed.split("\n");
  const b = expected.split("\n");
  const line = a.findIndex((text, index) => text !== b[index]);
  const at = line === -1 ? a.length : line;
  return `first difference at line ${at + 1}:\n  committed: ${a[at] ?? "(end of file)"}\n  current:   ${b[at] ?? "(end of file)"}`;
}
