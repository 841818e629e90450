/**
 * docs/openapi.yaml: current with the endpoint table, and compared with upstream's description of
 * the June revision on the endpoints the latest revision did not change. Upstream's file is test
 * data read from the shared reference folder beside the fixtures (never copied here); without it
 * the comparison is skipped, except on CI.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENDPOINTS, ENDPOINT_NAMES } from "@oversync/protocol";
import { type TestContext, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { OPENAPI_PATH, openApiPath, openApiYaml } from "../../scripts/openapi-document.js";
import { contractsDir } from "../support/contracts.js";
import { type Difference, type Json, compareOperations, operationsOf } from "../support/openapi-shape.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIFFERENCES_PATH = "docs/openapi-differences.md";
// The shared reference folder sits beside the fixtures, wherever OVERSQLITE_CONTRACTS_DIR puts them.
const UPSTREAM_PATH = join(contractsDir, "..", "reference", "upstream-openapi", "two_way_sync.yaml");

function read(path: string): string {
  return readFileSync(join(repoRoot, path), "utf8");
}

/** The rows of the markdown table under `heading`, each cell trimmed and without backticks. */
function tableUnder(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`${DIFFERENCES_PATH} has no "${heading}"`);
  const section = markdown.slice(start + heading.length + 2).split("\n## ")[0]!;
  return section
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .slice(2)
    .map((line) =>
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim().replaceAll("`", "")),
    );
}

/** Upstream's description, or a skip (a failure on CI) when ../shared does not have it. */
function upstream(context: TestContext): Json {
  if (!existsSync(UPSTREAM_PATH)) {
    if (process.env.CI === "true") throw new Error(`${UPSTREAM_PATH} is missing; CI compares with it`);
    context.skip(`upstream's OpenAPI file is absent (${UPSTREAM_PATH}); comparison skipped`);
  }
  // Upstream's file repeats a key (`parameters` under GET /sync/pull); the later one wins.
  return parse(readFileSync(UPSTREAM_PATH, "utf8"), { uniqueKeys: false }) as Json;
}

describe("docs/openapi.yaml", () => {
  it("is what `npm run openapi` writes from the endpoint table", () => {
    expect(read(OPENAPI_PATH), "docs/openapi.yaml is stale: run `npm run openapi`").toBe(openApiYaml());
  });

  it("describes each endpoint of the table once, and nothing else", () => {
    const document = parse(read(OPENAPI_PATH)) as Json;
    const expected = ENDPOINT_NAMES.map(
      (name) => `${ENDPOINTS[name].method} ${openApiPath(ENDPOINTS[name].path)}`,
    );
    expect(operationsOf(document).sort()).toEqual(expected.sort());
  });

  it("is linked from the README with its differences from upstream", () => {
    expect(read("README.md")).toContain(`](${OPENAPI_PATH})`);
    expect(read("README.md")).toContain(`](${DIFFERENCES_PATH})`);
  });
});

describe("docs/openapi.yaml against upstream's June description", () => {
  const notes = read(DIFFERENCES_PATH);
  const compared = tableUnder(notes, "## Endpoints compared").map(([endpoint]) => endpoint!);

  it("compares endpoints both describe", (context) => {
    const theirs = operationsOf(upstream(context));
    const ours = operationsOf(parse(read(OPENAPI_PATH)) as Json);
    expect(compared.length).toBeGreaterThan(0);
    for (const endpoint of compared) {
      expect(theirs, endpoint).toContain(endpoint);
      expect(ours, endpoint).toContain(endpoint);
    }
  });

  it(`differs on them exactly as ${DIFFERENCES_PATH} lists and explains`, (context) => {
    const found = compareOperations(parse(read(OPENAPI_PATH)) as Json, upstream(context), compared);
    const listed = tableUnder(notes, "## Differences on the compared endpoints").map(
      ([endpoint, where, ours, theirs, why]): Difference & { why: string } => ({
        endpoint: endpoint!,
        where: where!,
        ours: ours!,
        upstream: theirs!,
        why: why ?? "",
      }),
    );
    for (const row of listed) expect(row.why, `${row.endpoint} ${row.where}: explain why`).not.toBe("");
    const key = (row: Difference) => `${row.endpoint} | ${row.where} | ${row.ours} | ${row.upstream}`;
    expect(listed.map(key).sort(), `update the table in ${DIFFERENCES_PATH}`).toEqual(found.map(key).sort());
  });
});
