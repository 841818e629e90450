/**
 * docs/shared-data.md, the Shared data guide: every code block it includes comes from a file this
 * suite runs. The shared-lists example gives two users a workspace's lists and lists of their own
 * against the reference server on PostgreSQL (the workspace converges, the own lists stay apart, the
 * cross-scope connection reads both and writes neither) and runs as a script the way the guide
 * says; the workspace-host example mounts a host's own handler with the same rules. Every wait is
 * for an event (a live query result), bounded for liveness.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_PRESETS, type RunningServer, installSchemaPreset } from "@oversync/cli";
import type { SyncClient } from "@oversync/client";
import { SOURCE_ID_HEADER } from "@oversync/protocol";
import { type SyncRuntime, createSyncService } from "@oversync/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSharedLists } from "../../docs/examples/shared-lists.js";
import { type Session, createWorkspaceHandler } from "../../docs/examples/workspace-host.js";
import { LIVENESS_MS } from "../server/watch-support.js";
import { type LoopbackServer, serveOnLoopback } from "../server-http/http-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { readme, repoRoot, startQuietReferenceServer } from "../support/readme-support.js";
import { RUN_FROM_SOURCE } from "../support/run-from-source.js";

const GUIDE = "docs/shared-data.md";
const RUN = "node --conditions=@oversync/source --import tsx docs/examples/shared-lists.ts";

const guide = () => readFileSync(join(repoRoot, GUIDE), "utf8");

/** Resolves once `client`'s posts are exactly `expected` (a live query; LIVENESS_MS at most). */
function untilTitles(client: SyncClient, expected: string[]): Promise<void> {
  const want = JSON.stringify(expected);
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`posts stayed ${seen}, expected ${want}`));
    }, LIVENESS_MS);
    const stop = client.watchQuery<{ title: string }>("SELECT title FROM posts ORDER BY title", [], {
      onResult: (rows) => {
        seen = JSON.stringify(rows.map((row) => row.title));
        if (seen !== want) return;
        clearTimeout(timer);
        stop();
        resolve();
      },
      onError: (error) => {
        clearTimeout(timer);
        stop();
        reject(error);
      },
    });
  });
}

describe("docs: the Shared data guide", () => {
  it("includes only regions that exist in the examples this suite runs; the README links it", () => {
    const includes = [...guide().matchAll(/^<<< @\/(\S+?)#(\S+)$/gm)].map(([, file, region]) => ({
      file: `docs/${file}`,
      region: region!,
    }));
    expect(includes.map((include) => `${include.file}#${include.region}`)).toEqual([
      "docs/examples/shared-lists.ts#imports",
      "docs/examples/shared-lists.ts#scopes",
      "docs/examples/shared-lists.ts#usage",
      "docs/examples/workspace-host.ts#imports",
      "docs/examples/workspace-host.ts#mount",
      "docs/examples/shared-lists.ts#across",
    ]);
    for (const { file, region } of includes) {
      expect(existsSync(join(repoRoot, file)), file).toBe(true);
      const text = readFileSync(join(repoRoot, file), "utf8");
      expect(text, `${file}#${region}`).toContain(`// #region ${region}\n`);
      expect(text, `${file}#${region}`).toContain(`// #endregion ${region}\n`);
    }
    expect(guide()).toContain(RUN);
    expect(readme()).toContain(`](${GUIDE})`);
    expect(readme()).toContain(RUN);
  });
});

describe("docs: the shared-lists example against the reference server", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "oversync-shared-lists-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("two users share the workspace's lists and keep their own apart", async () => {
    const workspace = `team-${randomUUID().slice(0, 8)}`;
    const [adaId, graceId] = [`ada-${randomUUID()}`, `grace-${randomUUID()}`];
    const ada = await openSharedLists(server.url, dir, adaId, workspace);
    const grace = await openSharedLists(server.url, dir, graceId, workspace);
    try {
      await ada.add(ada.shared, "Plan the offsite");
      await ada.add(ada.mine, "Call the dentist");
      await grace.add(grace.shared, "Book a venue");
      await grace.add(grace.mine, "Water the plants");
      const both = ["Book a venue", "Plan the offsite"];
      await Promise.all([untilTitles(ada.shared.client, both), untilTitles(grace.shared.client, both)]);

      expect(await ada.allTitles()).toEqual([
        { list: "mine", title: "Call the dentist" },
        { list: "shared", title: "Book a venue" },
        { list: "shared", title: "Plan the offsite" },
      ]);
      expect(await grace.allTitles()).toEqual([
        { list: "mine", title: "Water the plants" },
        { list: "shared", title: "Book a venue" },
        { list: "shared", title: "Plan the offsite" },
      ]);
      // The cross-scope connection reads only: a write through it changes nothing.
      await expect(
        ada.everything.run("INSERT INTO shared.posts (id, title, content) VALUES (?, 'sneaky', '')", [
          randomUUID(),
        ]),
      ).rejects.toThrow(/readonly|read-only|query_only/i);

      for (const user of [ada, grace]) {
        for (const scope of [user.mine, user.shared]) await scope.client.sync();
      }
      const { rows } = await db.pool.query(
        "SELECT _sync_scope_id AS scope, title FROM business.posts WHERE _sync_scope_id = ANY($1) ORDER BY title",
        [[adaId, graceId, `workspace:${workspace}`]],
      );
      expect(rows).toEqual([
        { scope: `workspace:${workspace}`, title: "Book a venue" },
        { scope: adaId, title: "Call the dentist" },
        { scope: `workspace:${workspace}`, title: "Plan the offsite" },
        { scope: graceId, title: "Water the plants" },
      ]);
    } finally {
      await ada.close();
      await grace.close();
    }
  });

  it("runs as a script, as the guide says, and prints what the second user sees", async () => {
    const child = spawn(process.execPath, [...RUN_FROM_SOURCE, "docs/examples/shared-lists.ts", server.url], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout.trim()).toBe("[ { list: 'shared', title: 'Plan the offsite' } ]");
  });
});

describe("docs: the workspace-host example", () => {
  let db: TestDatabase;
  let service: SyncRuntime;
  let server: LoopbackServer;
  const ada = randomUUID();
  const eve = randomUUID();
  const sessions = new Map<string, Session>([
    ["ada-token", { userId: ada, workspaces: ["team"] }],
    ["eve-token", { userId: eve, workspaces: [] }],
  ]);

  beforeAll(async () => {
    db = await createTestDatabase();
    await installSchemaPreset(db.pool, EXAMPLE_PRESETS.business);
    service = createSyncService({
      pool: db.pool,
      appName: "workspace-host",
      registeredTables: EXAMPLE_PRESETS.business.registeredTables,
      maxSupportedSchemaVersion: 1,
      logger: { warn: () => {}, error: () => {} },
    });
    await service.bootstrap();
    server = await serveOnLoopback(
      createWorkspaceHandler(service, async (token) => sessions.get(token) ?? null),
    );
  });

  afterAll(async () => {
    await server?.close();
    await service?.close();
    await db?.drop();
  });

  async function connect(path: string, token: string | undefined) {
    const response = await fetch(`${server.origin}${path}/sync/connect`, {
      method: "POST",
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        [SOURCE_ID_HEADER]: "device-1",
      },
      body: JSON.stringify({ has_local_pending_rows: false }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("serves each user's own scope and the workspaces they are a member of; 403 and 401 otherwise", async () => {
    expect(await connect("", "ada-token")).toEqual({ status: 200, body: { resolution: "initialize_empty" } });
    expect(await connect("/w/team", "ada-token")).toEqual({
      status: 200,
      body: { resolution: "initialize_empty" },
    });
    expect(await connect("/w/team", "eve-token")).toEqual({
      status: 403,
      body: { error: "scope_forbidden", message: "not a member of workspace team" },
    });
    expect((await connect("/w/team", undefined)).status).toBe(401);
    expect((await connect("/w/team", "forged")).status).toBe(401);
    const { rows } = await db.pool.query<{ user_id: string }>(
      "SELECT user_id FROM sync.user_state ORDER BY user_id",
    );
    expect(rows.map((row) => row.user_id).sort()).toEqual([ada, "workspace:team"].sort());
  });
});
