/** What the README tests share: reading a quoted example region and starting the reference server. */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEV_JWT_SECRET, type RunningServer, startServer } from "@oversync/cli";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The README as it is on disk. */
export function readme(): string {
  return readFileSync(join(repoRoot, "README.md"), "utf8");
}

/** The part of an example file between `// readme:begin` and `// readme:end`, as the README shows it (unindented). */
export function exampleRegion(file: string): string {
  const text = readFileSync(join(repoRoot, file), "utf8");
  const body = text.slice(text.indexOf("// readme:begin\n") + 16, text.indexOf("  // readme:end"));
  return body
    .split("\n")
    .map((line) => line.replace(/^ {2}/, ""))
    .join("\n")
    .trim();
}

/**
 * An example as the README quotes it: the imports between `// readme:imports` and
 * `// readme:imports-end` (the published entry points an app imports), a blank line, the region.
 */
export function exampleWithImports(file: string): string {
  const text = readFileSync(join(repoRoot, file), "utf8");
  const start = text.indexOf("// readme:imports\n");
  const imports = text
    .slice(start + "// readme:imports\n".length, text.indexOf("// readme:imports-end"))
    .trim();
  return `${imports}\n\n${exampleRegion(file)}`;
}

/**
 * Starts the reference server on a free loopback port over `databaseUrl` (embedded PGlite in
 * `dataDir` when undefined), logging nothing.
 */
export function startQuietReferenceServer(
  databaseUrl: string | undefined,
  dataDir: string,
): Promise<RunningServer> {
  return startServer({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
    jwtSecret: { secret: DEV_JWT_SECRET, isDevDefault: true },
    tokenTtlSeconds: 600,
    shutdownGraceMs: 1000,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    say: () => {},
  });
}
