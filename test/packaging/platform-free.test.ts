/**
 * The platform-free core (DESIGN.md): `@oversync/protocol`, the client's main entry, its browser
 * driver (`@oversync/client/sqlite-wasm` and its worker module) and its tabs layer
 * (`@oversync/client/tabs`), the React bindings and the Kysely dialect bundle for a browser with no
 * Node built-in and no Node global, and the server's handler and runtime import a Node built-in
 * only in the node:http adapter. Each core also type-checks with
 * no Node types at all (only the ECMAScript and web-standard DOM libraries), which catches a
 * `Buffer`, `process` or `NodeJS.*` that no import would show. Bundles are built from the sources
 * (the `@oversync/source` condition), so no build step is needed.
 */
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { type Metafile, build } from "esbuild";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/readme-support.js";

const SOURCE_CONDITION = "@oversync/source";

/** Node globals a browser lacks, as they would appear in bundled code. */
const NODE_GLOBALS =
  /\b(?:Buffer\.|process\.(?:env|versions|platform|nextTick|exit|argv|cwd)\b|__dirname|__filename|setImmediate\()/;

async function bundle(contents: string, platform: "browser" | "node", minify: boolean) {
  const result = await build({
    stdin: { contents, resolveDir: repoRoot, loader: "ts" },
    bundle: true,
    platform,
    format: "esm",
    minify,
    write: false,
    metafile: true,
    conditions: [SOURCE_CONDITION],
    logLevel: "silent",
  });
  return {
    bytes: result.outputFiles[0]!.contents,
    text: result.outputFiles[0]!.text,
    metafile: result.metafile,
  };
}

/** Every Node built-in import in a bundle, with the file that made it. */
function builtinImports(metafile: Metafile): { importer: string; path: string }[] {
  return Object.entries(metafile.inputs).flatMap(([importer, input]) =>
    input.imports.filter((entry) => entry.external).map((entry) => ({ importer, path: entry.path })),
  );
}

describe("browser bundles", () => {
  for (const entry of [
    "@oversync/protocol",
    "@oversync/client",
    "@oversync/client/sqlite-wasm",
    "@oversync/client/sqlite-wasm-worker",
    "@oversync/client/tabs",
    "@oversync/react",
    "@oversync/kysely",
    "@oversync/cli/example-client",
  ]) {
    it(`${entry} bundles for --platform=browser with no Node built-in or global`, async () => {
      // esbuild refuses a Node built-in on the browser platform, naming the file that imports it.
      const { text, metafile } = await bundle(`export * from "${entry}";`, "browser", false);
      expect(builtinImports(metafile)).toEqual([]);
      expect(text).not.toMatch(NODE_GLOBALS);
      const inputs = Object.keys(metafile.inputs);
      expect(inputs.filter((input) => /better-sqlite3|node-sqlite/.test(input))).toEqual([]);
    });
  }

  it("reports the client's browser bundle size (minified, gzip)", async () => {
    const sizes = [];
    for (const [what, contents] of [
      ["an app's import of createSyncClient", 'export { createSyncClient } from "@oversync/client";'],
      ["every export of @oversync/client", 'export * from "@oversync/client";'],
    ] as const) {
      const { bytes } = await bundle(contents, "browser", true);
      const gzip = gzipSync(bytes).byteLength;
      sizes.push(`${what}: ${kib(bytes.byteLength)} minified, ${kib(gzip)} gzip`);
      expect(gzip).toBeGreaterThan(0);
    }
    console.log(
      `@oversync/client browser bundle (esbuild, with zod and @noble/hashes):\n  ${sizes.join("\n  ")}`,
    );
  });
});

describe("server runtime", () => {
  it("imports Node built-ins only in the node:http adapter, and never pg, prom-client or OpenTelemetry", async () => {
    const { metafile } = await bundle('export * from "@oversync/server";', "node", false);
    const imports = builtinImports(metafile);
    expect(
      imports.filter(({ importer }) => !importer.endsWith("packages/server/src/http/node-listener.ts")),
    ).toEqual([]);
    // The metrics adapters' libraries are optional peers, reached only through their own entries.
    expect(
      Object.keys(metafile.inputs).filter((input) =>
        /node_modules\/(pg|prom-client|@opentelemetry)/.test(input),
      ),
    ).toEqual([]);
  });
});

describe("no Node types", () => {
  /** Each core's folder, and its files that are Node-only (reached only through their own entry). */
  const cores = [
    { dir: "packages/protocol/src", nodeOnly: [] },
    { dir: "packages/client/src", nodeOnly: ["drivers/better-sqlite3.ts", "drivers/node-sqlite.ts"] },
    { dir: "packages/react/src", nodeOnly: [] },
    { dir: "packages/kysely/src", nodeOnly: [] },
    { dir: "packages/server/src", nodeOnly: ["http/node-listener.ts", "index.ts"] },
  ];

  it("the protocol, the client's engine and the server's runtime type-check without @types/node", () => {
    const roots = cores.flatMap(({ dir, nodeOnly }) =>
      sourceFiles(join(repoRoot, dir)).filter(
        (file) => !nodeOnly.includes(relative(join(repoRoot, dir), file)),
      ),
    );
    const program = ts.createProgram(roots, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ["lib.es2023.d.ts", "lib.es2024.string.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
      types: [],
      customConditions: [SOURCE_CONDITION],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      verbatimModuleSyntax: true,
    });
    const reached = program.getSourceFiles().map((file) => relative(repoRoot, file.fileName));
    const nodeOnly = cores.flatMap(({ dir, nodeOnly }) => nodeOnly.map((file) => join(dir, file)));
    expect(reached.filter((file) => nodeOnly.includes(file))).toEqual([]);
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file ? relative(repoRoot, diagnostic.file.fileName) : "";
      return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`;
    });
    expect(problems).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
    .map((file) => join(dir, file));
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
