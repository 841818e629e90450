/**
 * Coverage of the upstream conformance catalog (170 scenario IDs, LC-01 … LV-09) by the live
 * suite. The covered IDs are read from the test titles of this folder (every title starts with the
 * IDs it covers); the one table below says why each remaining ID has no live test. `npm run
 * conformance:coverage` prints the result; catalog.test.ts keeps the table and the titles honest.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** The catalog's groups: ID prefix and scenario count (conformance-catalog.md §4). */
const CATALOG_GROUPS: readonly (readonly [string, number])[] = [
  ["LC", 41],
  ["PU", 24],
  ["PL", 9],
  ["SN", 17],
  ["CF", 13],
  ["SR", 10],
  ["PR", 7],
  ["FK", 7],
  ["TY", 7],
  ["MD", 7],
  ["HV", 3],
  ["WA", 11],
  ["RT", 5],
  ["LV", 9],
];

/** Why a scenario has no live test. */
export type UncoveredReason =
  | "client-local: nothing crosses the wire"
  | "Go-only client API or policy"
  | "needs a server schema the reference server does not have"
  | "heavy or performance run, beyond the suite's few minutes";

/** The scenarios without a live test, each with its reason and where it is checked instead. */
export const UNCOVERED: Readonly<
  Record<string, { readonly reason: UncoveredReason; readonly note: string }>
> = {
  "PU-11": {
    reason: "client-local: nothing crosses the wire",
    note: "a fault inside the freeze transaction, a point no HTTP exchange reaches",
  },
  "PU-19": {
    reason: "needs a server schema the reference server does not have",
    note: "a text sync key named other than id; every example table is keyed by id",
  },
  "SN-09": {
    reason: "client-local: nothing crosses the wire",
    note: "stage rows of two snapshot ids side by side, which only hand-made local state holds",
  },
  "SN-17": {
    reason: "heavy or performance run, beyond the suite's few minutes",
    note: "10 000–100 000-row snapshot profile; snapshot throughput is measured in bench/",
  },
  "FK-06": {
    reason: "client-local: nothing crosses the wire",
    note: "FK-closure validation at open(); test/client-store/config-validation.test.ts",
  },
  "HV-03": {
    reason: "heavy or performance run, beyond the suite's few minutes",
    note: "30 parallel complex multi-batch runs timing server stages; bench/",
  },
  "WA-10": {
    reason: "Go-only client API or policy",
    note: "this client has no paused-downloads switch (stop() ends the loop)",
  },
  "LV-01": {
    reason: "client-local: nothing crosses the wire",
    note: "_sync_* bootstrap, journal and apply-mode reset; test/client-store",
  },
  "LV-02": {
    reason: "client-local: nothing crosses the wire",
    note: "trigger set and coalescing; test/client-store/capture-triggers.test.ts",
  },
  "LV-03": {
    reason: "client-local: nothing crosses the wire",
    note: "configuration validation fixtures; test/client-store/config-validation.test.ts",
  },
  "LV-04": {
    reason: "client-local: nothing crosses the wire",
    note: "a managed table dropped from the config; against a server the handshake refuses that config first (LV-09)",
  },
  "LV-05": {
    reason: "client-local: nothing crosses the wire",
    note: "every durable queue across one restart, legacy table included; the live suite restarts per queue (LC-27, PU-09, PU-10, SR-01)",
  },
  "LV-06": {
    reason: "Go-only client API or policy",
    note: "Go result fields (UserID after Open, skipped_paused); the fields this client has are asserted where used",
  },
};

/** Every catalog ID, in catalog order. */
export function catalogIds(): string[] {
  return CATALOG_GROUPS.flatMap(([prefix, count]) =>
    Array.from({ length: count }, (_, index) => `${prefix}-${String(index + 1).padStart(2, "0")}`),
  );
}

/** A test declaration (`it(` or `it.skipIf(…)(`) and the start of its title. */
const TEST_DECLARATION = /\bit(?:\.skipIf\([^)]*\))?\(\s*["'`]([^"'`]*)/g;
const LEADING_IDS = /^((?:[A-Z]{2}-\d{2}\s+)+)/;

/** The live suite's test titles, by file. */
export function testTitles(dir: string): { file: string; title: string }[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".test.ts") && name !== "catalog.test.ts")
    .sort()
    .flatMap((file) =>
      [...readFileSync(join(dir, file), "utf8").matchAll(TEST_DECLARATION)].map((match) => ({
        file,
        title: match[1]!,
      })),
    );
}

/** The catalog IDs a title starts with. */
export function titleIds(title: string): string[] {
  return LEADING_IDS.exec(title)?.[1]?.trim().split(/\s+/) ?? [];
}

/** What the suite covers, what it does not and why, and any inconsistency between the two. */
export interface CoverageReport {
  readonly total: number;
  readonly covered: readonly string[];
  readonly uncovered: readonly {
    readonly id: string;
    readonly reason: UncoveredReason;
    readonly note: string;
  }[];
  /** Titles without IDs, unknown IDs, IDs both covered and listed, IDs neither covered nor listed. */
  readonly problems: readonly string[];
}

export function coverageReport(dir: string): CoverageReport {
  const ids = catalogIds();
  const known = new Set(ids);
  const problems: string[] = [];
  const covered = new Set<string>();
  for (const { file, title } of testTitles(dir)) {
    const found = titleIds(title);
    if (found.length === 0) problems.push(`${file}: the title "${title}" does not start with catalog IDs`);
    for (const id of found) {
      if (known.has(id)) covered.add(id);
      else problems.push(`${file}: "${title}" names ${id}, which is not in the catalog`);
    }
  }
  for (const id of Object.keys(UNCOVERED)) {
    if (!known.has(id)) problems.push(`the uncovered table lists ${id}, which is not in the catalog`);
    if (covered.has(id)) problems.push(`${id} has a live test but is still listed as uncovered`);
  }
  const uncovered = ids
    .filter((id) => !covered.has(id))
    .map((id) => {
      const entry = UNCOVERED[id];
      if (entry === undefined) problems.push(`${id} has no live test and no reason in the uncovered table`);
      return { id, reason: entry?.reason ?? ("unexplained" as UncoveredReason), note: entry?.note ?? "" };
    });
  return { total: ids.length, covered: ids.filter((id) => covered.has(id)), uncovered, problems };
}
