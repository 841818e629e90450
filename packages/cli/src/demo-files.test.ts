import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveDemoFiles } from "./demo-files.js";

describe("the demo's files at /demo/", () => {
  let parent: string;
  let serve: ReturnType<typeof serveDemoFiles>;
  const get = (path: string, method = "GET") => serve(new Request(`http://127.0.0.1${path}`, { method }));

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), "oversync-demo-files-"));
    const dir = join(parent, "dist");
    await mkdir(join(dir, "assets"), { recursive: true });
    await writeFile(join(dir, "index.html"), "<!doctype html><title>demo</title>");
    await writeFile(join(dir, "sw.js"), "self;");
    await writeFile(join(dir, "assets", "main-abc123.js"), "console.log(1);");
    await writeFile(join(dir, "assets", "sqlite3-abc123.wasm"), new Uint8Array([0, 97, 115, 109]));
    await writeFile(join(dir, ".build-stamp"), "{}");
    await writeFile(join(parent, "secret.txt"), "outside");
    await symlink(join(parent, "secret.txt"), join(dir, "assets", "link.txt"));
    serve = serveDemoFiles(dir);
  });

  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it("serves index.html at /demo/ and redirects /demo there", async () => {
    const index = await get("/demo/");
    expect(index?.status).toBe(200);
    expect(index?.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index?.headers.get("cache-control")).toBe("no-cache");
    expect(await index?.text()).toContain("<title>demo</title>");
    const bare = await get("/demo");
    expect(bare?.status).toBe(308);
    expect(bare?.headers.get("location")).toBe("/demo/");
  });

  it("gives each file its content type; hashed assets may be cached for good", async () => {
    const wasm = await get("/demo/assets/sqlite3-abc123.wasm");
    expect(wasm?.status).toBe(200);
    expect(wasm?.headers.get("content-type")).toBe("application/wasm");
    expect(new Uint8Array(await wasm!.arrayBuffer())).toEqual(new Uint8Array([0, 97, 115, 109]));
    const script = await get("/demo/assets/main-abc123.js");
    expect(script?.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script?.headers.get("cache-control")).toContain("immutable");
    const worker = await get("/demo/sw.js");
    expect(worker?.headers.get("cache-control")).toBe("no-cache");
    const head = await get("/demo/assets/main-abc123.js", "HEAD");
    expect(head?.status).toBe(200);
    expect(head?.headers.get("content-length")).toBe("15");
    expect(await head?.text()).toBe("");
  });

  it("answers 404 for missing files, directories, hidden files and every way out of the directory", async () => {
    for (const path of [
      "/demo/missing.js",
      "/demo/assets",
      "/demo/assets/",
      "/demo/.build-stamp",
      "/demo/..%2fsecret.txt",
      "/demo/assets/..%2f..%2fsecret.txt",
      "/demo/assets/..%5c..%5csecret.txt",
      "/demo/%00index.html",
      "/demo//index.html",
      "/demo/%E0%A4%A",
      "/demo/assets/link.txt",
    ]) {
      expect((await get(path))?.status, path).toBe(404);
    }
  });

  it("leaves every other path to the sync routes, and refuses writes", async () => {
    // The URL parser resolves dot segments first: these name paths outside /demo/.
    for (const path of [
      "/",
      "/sync/pull",
      "/demonstration",
      "/demo/../secret.txt",
      "/demo/%2e%2e/secret.txt",
    ]) {
      expect(await get(path), path).toBeUndefined();
    }
    const post = await get("/demo/index.html", "POST");
    expect(post?.status).toBe(405);
    expect(post?.headers.get("allow")).toBe("GET, HEAD");
  });
});
