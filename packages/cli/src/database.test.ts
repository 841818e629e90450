import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockDataDir } from "./data-dir-lock.js";
import { maskDatabaseUrl } from "./database.js";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "oversync-lock-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("maskDatabaseUrl", () => {
  it("hides the password wherever it is given and keeps the rest", () => {
    expect(maskDatabaseUrl("postgres://app:s3cr%40t@db.example:5433/sync?sslmode=require")).toBe(
      "postgres://app:****@db.example:5433/sync?sslmode=require",
    );
    expect(maskDatabaseUrl("postgresql://app@127.0.0.1/sync?password=s3cret")).toBe(
      "postgresql://app@127.0.0.1/sync?password=****",
    );
    expect(maskDatabaseUrl("postgres://127.0.0.1/sync")).toBe("postgres://127.0.0.1/sync");
  });

  it("refuses a malformed URL with invalid_config", () => {
    expect(() => maskDatabaseUrl("not a url")).toThrow(expect.objectContaining({ code: "invalid_config" }));
  });
});

describe("the data directory lock", () => {
  it("is exclusive while held and free again after release", async () => {
    const dataDir = join(root, "exclusive");
    const lock = await lockDataDir(dataDir);
    expect(await readFile(`${dataDir}.lock`, "utf8")).toBe(`${process.pid}\n`);
    // Our own pid is a running process, so a second taker is refused.
    await expect(lockDataDir(dataDir)).rejects.toMatchObject({ code: "data_dir_locked" });
    await lock.release();
    const again = await lockDataDir(dataDir);
    await again.release();
  });

  it("replaces a lock left by a process that is gone", async () => {
    const dataDir = join(root, "stale");
    // A pid far above any default pid_max cannot belong to a running process.
    await writeFile(`${dataDir}.lock`, "2147483646\n");
    const lock = await lockDataDir(dataDir);
    expect(await readFile(`${dataDir}.lock`, "utf8")).toBe(`${process.pid}\n`);
    await lock.release();
  });
});
