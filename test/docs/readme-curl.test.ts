import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RunningServer } from "@oversync/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { readme, startQuietReferenceServer } from "../support/readme-support.js";

const README_ORIGIN = "http://127.0.0.1:8080";

/** The README's curl block (the one after `<!-- curl-examples -->`). */
function curlExamples(): string {
  const text = readme();
  const start = text.indexOf("```sh\n", text.indexOf("<!-- curl-examples -->")) + 6;
  return text.slice(start, text.indexOf("```", start));
}

describe("README: the curl examples against the reference server", () => {
  let db: TestDatabase;
  let dataDir: string;
  let server: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), "oversync-readme-"));
    server = await startQuietReferenceServer(db.url, dataDir);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("every command succeeds and prints what the README promises", async () => {
    // -f turns an HTTP error into a failing command; -w ends each reply with a newline to split on.
    const script = curlExamples()
      .replaceAll(README_ORIGIN, server.url)
      .replaceAll("curl -s ", "curl -sf -w '\\n' ");
    expect(script).toContain("curl -sf");
    const { stdout } = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", script]);
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0]!)).toStrictEqual({ status: "healthy", lifecycle: "running" });
    expect(JSON.parse(lines[1]!)).toMatchObject({ protocol_version: "v1" });
    expect(JSON.parse(lines[2]!)).toEqual({ resolution: "initialize_empty" });
    expect(JSON.parse(lines[3]!)).toEqual({ stable_bundle_seq: 0, bundles: [], has_more: false });
  });
});
