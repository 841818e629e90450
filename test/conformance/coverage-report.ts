/**
 * `npm run conformance:coverage`: prints how much of the upstream conformance catalog the live
 * suite covers and why each remaining ID is not covered, grouped by reason. Exits 1 when the test
 * titles and the uncovered table disagree (catalog.ts).
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { coverageReport } from "./catalog.js";

const report = coverageReport(dirname(fileURLToPath(import.meta.url)));
console.log(`catalog coverage: ${report.covered.length}/${report.total}`);
const byReason = new Map<string, (typeof report.uncovered)[number][]>();
for (const entry of report.uncovered)
  byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry]);
for (const [reason, entries] of byReason) {
  console.log(`\nuncovered: ${reason} (${entries.length})`);
  for (const { id, note } of entries) console.log(`  ${id}  ${note}`);
}
if (report.problems.length > 0) {
  console.error(`\n${report.problems.length} problem(s):`);
  for (const problem of report.problems) console.error(`  ${problem}`);
  process.exitCode = 1;
}
