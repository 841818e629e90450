/**
 * The packages as a user gets them: a clean build, `npm pack` of every workspace package, publint
 * and arethetypeswrong on each tarball, then a fresh app outside the repository that installs the
 * tarballs (and its third-party dependencies from the npm registry), type-checks its code with
 * `strict` and `exactOptionalPropertyTypes` under NodeNext against the shipped `.d.ts`, and runs
 * a server and two clients on better-sqlite3 files with plain `node` (no tsx, no path mapping),
 * loads the packages through `require`, and runs the `oversync` binary.
 *
 * Slow (a full build and an install); set SKIP_PACKED_INSTALL=1 to leave it out of a local run.
 * CI always runs it.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { repoRoot } from "../support/readme-support.js";

const PACKAGES = ["protocol", "server", "client", "react", "kysely", "cli"] as const;
const skip = process.env.SKIP_PACKED_INSTALL === "1" && process.env.CI !== "true";
const require = createRequire(import.meta.url);

/**
 * The workspace's version of a third-party package, so the app gets what the repository tests. Read
 * from the root node_modules, since not every package exports its package.json (kysely does not).
 */
function workspaceVersion(name: string): string {
  const manifest = join(repoRoot, "node_modules", name, "package.json");
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

/** The environment without npm's per-run variables, so a nested npm works on its own folder. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, ...extra };
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end; never throws on a non-zero exit (the caller asserts on `code`). */
async function run(file: string, args: readonly string[], cwd: string, env = cleanEnv()): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd, env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : 1,
      stdout: failed.stdout ?? "",
      stderr: `${failed.stderr ?? ""}${String(error)}`,
    };
  }
}

function expectSuccess(result: Run, what: string): void {
  if (result.code !== 0)
    throw new Error(`${what} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
}

/** The script of a dev dependency's command (`bin`), run with this Node. */
function binScript(name: string): string {
  const dir = join(repoRoot, "node_modules", name);
  const { bin } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  return join(dir, Object.values(bin)[0]!);
}

const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");

describe.skipIf(skip)("published packages", () => {
  let work: string;
  let app: string;
  const tarballs = new Map<string, { path: string; files: string[] }>();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "oversync-packed-"));
    // Stale outputs of deleted sources would ship, so the build starts from nothing.
    for (const name of PACKAGES) {
      rmSync(join(repoRoot, "packages", name, "dist"), { recursive: true, force: true });
      rmSync(join(repoRoot, "packages", name, "tsconfig.tsbuildinfo"), { force: true });
    }
    expectSuccess(await run(process.execPath, [tsc, "-b", "tsconfig.build.json"], repoRoot), "npm run build");
    const packs = join(work, "packs");
    mkdirSync(packs);
    const packed = await run(
      "npm",
      ["pack", "--workspaces", "--json", "--pack-destination", packs],
      repoRoot,
    );
    expectSuccess(packed, "npm pack");
    for (const entry of JSON.parse(packed.stdout) as {
      name: string;
      filename: string;
      files: { path: string }[];
    }[]) {
      tarballs.set(entry.name, {
        path: join(packs, entry.filename),
        files: entry.files.map((file) => file.path),
      });
    }
  }, 300_000);

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("every package packs its build, its sources without tests, a README and the LICENSE", () => {
    expect([...tarballs.keys()].sort()).toEqual([
      "@oversync/cli",
      "@oversync/client",
      "@oversync/kysely",
      "@oversync/protocol",
      "@oversync/react",
      "@oversync/server",
    ]);
    for (const [name, { files }] of tarballs) {
      expect(files, name).toEqual(expect.arrayContaining(["package.json", "README.md", "LICENSE"]));
      expect(files, name).toEqual(
        expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "src/index.ts"]),
      );
      expect(
        files.filter((file) => /\.test\.|tsbuildinfo|tsconfig/.test(file)),
        name,
      ).toEqual([]);
      expect(
        files.filter((file) => !/^(dist|src)\/|^(package\.json|README\.md|LICENSE)$/.test(file)),
        name,
      ).toEqual([]);
    }
    expect(tarballs.get("@oversync/client")!.files).toEqual(
      expect.arrayContaining([
        "dist/drivers/better-sqlite3.js",
        "dist/drivers/node-sqlite.js",
        "dist/drivers/sqlite-wasm.js",
        "dist/drivers/sqlite-wasm-worker.js",
        "dist/tabs/tab-sync-client.js",
      ]),
    );
    expect(tarballs.get("@oversync/cli")!.files).toContain("dist/bin.js");
  });

  it("publint finds nothing to report in any tarball", async () => {
    const publint = binScript("publint");
    for (const [name, { path }] of tarballs) {
      const result = await run(process.execPath, [publint, "run", path, "--strict"], work);
      expectSuccess(result, `publint ${name}`);
      expect(result.stdout, name).toContain("All good!");
    }
  }, 120_000);

  it("arethetypeswrong finds no problem for ESM consumers (node16 from ESM, bundler)", async () => {
    const attw = binScript("@arethetypeswrong/cli");
    for (const [name, { path }] of tarballs) {
      // ESM only: CommonJS apps load the packages through require(esm), which the "node16 from
      // CJS" and "node10" resolutions predate, so the esm-only profile leaves those out.
      const result = await run(
        process.execPath,
        [attw, path, "--profile", "esm-only", "--format", "ascii"],
        work,
      );
      expectSuccess(result, `attw ${name}`);
    }
  }, 120_000);

  describe("an app outside the repository", () => {
    let db: TestDatabase;

    beforeAll(async () => {
      app = join(work, "app");
      mkdirSync(app);
      writeFileSync(
        join(app, "package.json"),
        JSON.stringify({ name: "oversync-consumer", private: true, type: "module" }, null, 2),
      );
      writeFileSync(
        join(app, "tsconfig.json"),
        JSON.stringify(
          {
            compilerOptions: {
              target: "ES2022",
              lib: ["ES2023"],
              module: "NodeNext",
              moduleResolution: "NodeNext",
              strict: true,
              exactOptionalPropertyTypes: true,
              noUncheckedIndexedAccess: true,
              skipLibCheck: false,
              types: ["node"],
              outDir: "dist",
              rootDir: "src",
            },
            include: ["src"],
          },
          null,
          2,
        ),
      );
      mkdirSync(join(app, "src"));
      copyFileSync(join(repoRoot, "test/packaging/consumer/round-trip.ts"), join(app, "src/round-trip.ts"));
      copyFileSync(
        join(repoRoot, "test/packaging/consumer/require-check.cjs"),
        join(app, "require-check.cjs"),
      );
      const thirdParty = ["pg", "better-sqlite3", "@types/node", "@types/pg", "react", "kysely"].map(
        (name) => `${name}@${workspaceVersion(name)}`,
      );
      // Install scripts are skipped: better-sqlite3's would compile it from source (its prebuilt
      // download is out of reach here), which takes minutes. The same version's binary, built for
      // this Node by the workspace install, is copied in instead.
      const installed = await run(
        "npm",
        [
          "install",
          "--ignore-scripts",
          "--no-audit",
          "--no-fund",
          "--prefer-offline",
          ...[...tarballs.values()].map(({ path }) => path),
          ...thirdParty,
        ],
        app,
      );
      expectSuccess(installed, "npm install");
      const binary = "build/Release/better_sqlite3.node";
      const target = join(app, "node_modules/better-sqlite3", binary);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(join(dirname(require.resolve("better-sqlite3/package.json")), binary), target);
      db = await createTestDatabase("oversync_packed");
    }, 300_000);

    afterAll(async () => {
      await db?.drop();
    });

    it("installs our packages from the tarballs, with no second copy of any", () => {
      const lock = JSON.parse(readFileSync(join(app, "node_modules/.package-lock.json"), "utf8")) as {
        packages: Record<string, { resolved?: string; version?: string }>;
      };
      const ours = Object.entries(lock.packages).filter(([path]) => path.includes("node_modules/@oversync/"));
      expect(ours.map(([path]) => path).sort()).toEqual(
        PACKAGES.map((name) => `node_modules/@oversync/${name}`).sort(),
      );
      for (const [path, entry] of ours) expect(entry.resolved, path).toMatch(/^file:.*\.tgz$/);
      expect(
        lock.packages["node_modules/better-sqlite3"],
        "better-sqlite3 is the app's own choice",
      ).toBeDefined();
    });

    it("type-checks and compiles the app with strict and exactOptionalPropertyTypes (NodeNext)", async () => {
      expectSuccess(await run(process.execPath, [tsc, "-p", "tsconfig.json"], app), "tsc");
    }, 120_000);

    it("runs a server and two clients with plain node: a row written on one device reaches the other and back", async () => {
      const result = await run(
        process.execPath,
        ["dist/round-trip.js"],
        app,
        cleanEnv({ DATABASE_URL: db.url }),
      );
      expectSuccess(result, "node dist/round-trip.js");
      const seen = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
      expect(seen).toEqual({
        id: expect.any(String),
        pushOutcome: "committed",
        restored: [{ id: seen.id, body: "written on the phone" }],
        synced: [{ id: seen.id, body: "edited on the laptop" }],
        refused: "authentication_failed",
      });
      const { rows } = await db.pool.query("SELECT body FROM app.notes WHERE _sync_scope_id = 'ada'");
      expect(rows).toEqual([{ body: "edited on the laptop" }]);
    }, 120_000);

    it("loads from CommonJS through require(esm), as the same modules an import gets", async () => {
      const result = await run(process.execPath, ["require-check.cjs"], app);
      expectSuccess(result, "node require-check.cjs");
      expect(JSON.parse(result.stdout.trim().split("\n").at(-1)!)).toEqual({
        createSyncClient: "function",
        openBetterSqlite3Driver: "function",
        createSyncHandler: "function",
        canonicalJson: "function",
        useQuery: "function",
        OversyncDialect: "function",
        sameModule: true,
      });
    });

    it("installs the oversync command, which prints its version", async () => {
      const result = await run(join(app, "node_modules/.bin/oversync"), ["--version"], app);
      expectSuccess(result, "oversync --version");
      expect(result.stdout).toBe(`${workspaceVersion("@oversync/cli")}\n`);
    });
  });
});
