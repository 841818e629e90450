/** What the README tests share: reading a quoted example region and starting the reference server. */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEV_JWT_SECRET,
  EXAMPLE_CLIENT_CONFIG,
  type RunningServer,
  type ServeConfig,
  exampleClientSchemaSql,
  startServer,
} from "@oversync/cli";
import {
  type SqliteDriver,
  type SyncClient,
  type SyncClientOptions,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The README as it is on disk. */
export function readme(): string {
  return readFileSync(join(repoRoot, "README.md"), "utf8");
}

/**
 * The part of an example file between `// readme:begin` and `// readme:end` (or, for a file with
 * several, `// readme:begin <name>` and `// readme:end <name>`), as the README shows it (unindented).
 */
export function exampleRegion(file: string, name?: string): string {
  const text = readFileSync(join(repoRoot, file), "utf8");
  const suffix = name === undefined ? "" : ` ${name}`;
  const begin = `// readme:begin${suffix}\n`;
  const body = text.slice(text.indexOf(begin) + begin.length, text.indexOf(`  // readme:end${suffix}\n`));
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
 * `dataDir` when undefined), logging nothing; `extra` adds settings such as `demoDir`.
 */
export function startQuietReferenceServer(
  databaseUrl: string | undefined,
  dataDir: string,
  extra: Partial<Pick<ServeConfig, "demoDir" | "testHooks">> = {},
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
    ...extra,
  });
}

/** A bearer token for `user` from the reference server's `/dummy-signin`. */
export async function signIn(server: RunningServer, user: string): Promise<string> {
  const reply = await fetch(new URL("/dummy-signin", server.url), {
    method: "POST",
    body: JSON.stringify({ user, password: "any" }),
  });
  return ((await reply.json()) as { token: string }).token;
}

/** A device of the example schema: a SQLite file with its tables and an opened (not attached) client. */
export async function openExampleDevice(
  server: RunningServer,
  file: string,
  token: () => string,
  options: Partial<SyncClientOptions> = {},
): Promise<{ readonly driver: SqliteDriver; readonly client: SyncClient }> {
  const driver = await openBetterSqlite3Driver(file);
  await driver.exec(exampleClientSchemaSql());
  const client = createSyncClient({
    driver,
    baseUrl: server.url,
    tokenProvider: token,
    config: EXAMPLE_CLIENT_CONFIG,
    ...options,
  });
  await client.open();
  return { driver, client };
}
