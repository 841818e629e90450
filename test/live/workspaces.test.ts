/**
 * Workspaces of the reference server, end to end over loopback HTTP on real PostgreSQL with our
 * client: each workspace is one scope served under `/w/<workspace>`, each device keeps one SQLite
 * file per scope. Two members converge (pushes both ways, a snapshot restore, a rebuild behind the
 * retained floor, a watch wake-up for the other member's commit); a non-member gets 403 on every
 * sync endpoint; a member's own scope stays out of the others' reach; one person runs three
 * workspaces' clients side by side; and two members' edits of one row meet in the ordinary conflict
 * path. Every wait is for an event (a live query result, a watch subscriber), bounded for liveness.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  EXAMPLE_CLIENT_CONFIG,
  type RunningServer,
  exampleClientSchemaSql,
  workspaceScopeId,
} from "@oversync/cli";
import {
  type SqliteDriver,
  type SyncClient,
  type ResolvedConflict,
  createSyncClient,
} from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { ENDPOINTS, SOURCE_ID_HEADER, SYNC_ENDPOINT_NAMES, fillPath } from "@oversync/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIVENESS_MS } from "../server/watch-support.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  /** The scope the device's database holds (what it is attached to). */
  readonly scopeId: string;
}

let db: TestDatabase;
let dir: string;
let server: RunningServer;
const devices: Device[] = [];

beforeAll(async () => {
  db = await createTestDatabase("oversync_workspaces");
  dir = await mkdtemp(join(tmpdir(), "oversync-workspaces-"));
  server = await startQuietReferenceServer(db.url, join(dir, "data"));
});

afterAll(async () => {
  for (const device of devices) {
    await device.client.close();
    await device.driver.close();
  }
  await server?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh id with a readable prefix, so tests never share users or workspaces. */
const fresh = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function signIn(user: string, workspaces?: string[]): Promise<string> {
  const response = await fetch(`${server.url}/dummy-signin`, {
    method: "POST",
    body: JSON.stringify({ user, password: "any", ...(workspaces === undefined ? {} : { workspaces }) }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

/**
 * A device's database for one scope: the workspace's (`baseUrl` `<server>/w/<workspace>`, attached
 * to the workspace's scope id) or, without `workspace`, the user's own. Not attached yet.
 */
async function openDevice(token: string, user: string, workspace?: string): Promise<Device> {
  const driver = await openBetterSqlite3Driver(join(dir, `${randomUUID()}.db`));
  await driver.exec(exampleClientSchemaSql());
  const client = createSyncClient({
    driver,
    baseUrl: workspace === undefined ? server.url : `${server.url}/w/${workspace}`,
    tokenProvider: () => token,
    config: EXAMPLE_CLIENT_CONFIG,
  });
  await client.open();
  const device = { driver, client, scopeId: workspace === undefined ? user : workspaceScopeId(workspace) };
  devices.push(device);
  return device;
}

/** `openDevice`, then attached to its scope. */
async function attachedDevice(token: string, user: string, workspace?: string): Promise<Device> {
  const device = await openDevice(token, user, workspace);
  await device.client.attach(device.scopeId);
  return device;
}

function addPost(device: Device, title: string, id: string = randomUUID()): Promise<unknown> {
  return device.driver.run("INSERT INTO posts (id, title, content) VALUES (?, ?, '')", [id, title]);
}

async function titles(device: Device): Promise<string[]> {
  const rows = await device.driver.query<{ title: string }>("SELECT title FROM posts ORDER BY title");
  return rows.map((row) => row.title);
}

/** Resolves once the device's posts are exactly `expected` (a live query; LIVENESS_MS at most). */
function untilTitles(device: Device, expected: string[]): Promise<void> {
  const want = JSON.stringify([...expected].sort());
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`posts stayed ${seen}, expected ${want}`));
    }, LIVENESS_MS);
    const stop = device.client.watchQuery<{ title: string }>("SELECT title FROM posts ORDER BY title", [], {
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

/** The server's posts of `scopeId`, by title. */
async function serverTitles(scopeId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ title: string }>(
    "SELECT title FROM business.posts WHERE _sync_scope_id = $1 ORDER BY title",
    [scopeId],
  );
  return rows.map((row) => row.title);
}

/** Waits until the server holds `expected` watch streams on `scopeId` (the test helper). */
async function untilSubscribers(scopeId: string, expected: number): Promise<void> {
  const deadline = Date.now() + LIVENESS_MS;
  for (;;) {
    const url = `${server.url}/test/watch-subscribers?user_id=${encodeURIComponent(scopeId)}`;
    const { subscriber_count: count } = (await (await fetch(url)).json()) as { subscriber_count: number };
    if (count === expected) return;
    if (Date.now() > deadline) throw new Error(`${scopeId} has ${count} watch streams, expected ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("two members of one workspace", () => {
  it("converge: pushes both ways, a new device's snapshot restore, a rebuild behind the floor", async () => {
    const workspace = fresh("team");
    const [ada, grace] = [fresh("ada"), fresh("grace")];
    const adaTeam = await attachedDevice(await signIn(ada, [workspace]), ada, workspace);
    const graceToken = await signIn(grace, [workspace]);
    const graceTeam = await attachedDevice(graceToken, grace, workspace);

    await addPost(adaTeam, "Plan the offsite");
    expect(await adaTeam.client.sync()).toMatchObject({ pushOutcome: "committed" });
    await graceTeam.client.sync();
    expect(await titles(graceTeam)).toEqual(["Plan the offsite"]);
    await addPost(graceTeam, "Book a venue");
    await graceTeam.client.sync();
    await adaTeam.client.sync();
    expect(await titles(adaTeam)).toEqual(["Book a venue", "Plan the offsite"]);
    expect(await serverTitles(workspaceScopeId(workspace))).toEqual(["Book a venue", "Plan the offsite"]);
    // Neither member's own scope received any of it.
    expect([await serverTitles(ada), await serverTitles(grace)]).toEqual([[], []]);

    // Grace's new tablet restores the workspace from a snapshot.
    const tablet = await openDevice(graceToken, grace, workspace);
    expect(await tablet.client.attach(tablet.scopeId)).toMatchObject({
      status: "connected",
      outcome: "used_remote_state",
    });
    expect(await titles(tablet)).toEqual(["Book a venue", "Plan the offsite"]);

    // Ada commits twice more, the workspace's history is pruned up to the latest bundle, and Grace's
    // laptop, left behind the floor, rebuilds from a snapshot by itself.
    for (const title of ["Send invites", "Order lunch"]) {
      await addPost(adaTeam, title);
      await adaTeam.client.sync();
    }
    const latest = Number((await adaTeam.client.syncStatus()).lastBundleSeqSeen);
    const floor = await fetch(`${server.url}/test/retention-floor`, {
      method: "POST",
      body: JSON.stringify({ user_id: workspaceScopeId(workspace), retained_bundle_floor: latest }),
    });
    expect(floor.status).toBe(200);
    const report = await graceTeam.client.sync();
    expect(report.remoteOutcome).toBe("applied_snapshot");
    expect(await titles(graceTeam)).toEqual([
      "Book a venue",
      "Order lunch",
      "Plan the offsite",
      "Send invites",
    ]);
  });

  it("a member's watching device applies another member's commit as it lands", async () => {
    const workspace = fresh("team");
    const [ada, grace] = [fresh("ada"), fresh("grace")];
    const adaTeam = await attachedDevice(await signIn(ada, [workspace]), ada, workspace);
    const graceTeam = await attachedDevice(await signIn(grace, [workspace]), grace, workspace);
    // A polling interval far beyond the test: only the watch stream can bring the change in time.
    graceTeam.client.start({ watch: "auto", intervalMillis: 3_600_000 });
    await untilSubscribers(workspaceScopeId(workspace), 1);
    await addPost(adaTeam, "Plan the offsite");
    await adaTeam.client.sync();
    await untilTitles(graceTeam, ["Plan the offsite"]);
    await graceTeam.client.stop();
    await untilSubscribers(workspaceScopeId(workspace), 0);
  });

  it("edit one row at once: the later push meets the ordinary conflict path", async () => {
    const workspace = fresh("team");
    const [ada, grace] = [fresh("ada"), fresh("grace")];
    const adaTeam = await attachedDevice(await signIn(ada, [workspace]), ada, workspace);
    const graceTeam = await attachedDevice(await signIn(grace, [workspace]), grace, workspace);
    const id = randomUUID();
    await addPost(adaTeam, "Plan the offsite", id);
    await adaTeam.client.sync();
    await graceTeam.client.sync();
    const conflicts: ResolvedConflict[] = [];
    graceTeam.client.onConflict((conflict) => conflicts.push(conflict));

    const rename = "UPDATE posts SET title = ? WHERE id = ?";
    await adaTeam.driver.run(rename, ["Plan the offsite (Friday)", id]);
    await graceTeam.driver.run(rename, ["Plan the offsite (Monday)", id]);
    await adaTeam.client.sync();
    const report = await graceTeam.client.sync();
    // The server's row wins (the default resolver), and Grace's client reports what it replaced.
    expect(report.syncStatus.pending.pendingRowCount).toBe(0);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({
      table: "posts",
      resolution: "server_won",
      localValues: { title: "Plan the offsite (Monday)" },
      serverValues: { title: "Plan the offsite (Friday)" },
    });
    expect(await titles(graceTeam)).toEqual(["Plan the offsite (Friday)"]);
    expect(await serverTitles(workspaceScopeId(workspace))).toEqual(["Plan the offsite (Friday)"]);
  });
});

describe("who may reach a workspace", () => {
  /** A request to each sync endpoint below `base`, with `token`'s user. */
  async function everyEndpoint(base: string, token: string | undefined) {
    const params = {
      push_id: randomUUID(),
      bundle_seq: "1",
      snapshot_id: randomUUID(),
    };
    const answers: { endpoint: string; status: number; body: unknown }[] = [];
    for (const name of SYNC_ENDPOINT_NAMES) {
      const endpoint = ENDPOINTS[name];
      const response = await fetch(`${base}${fillPath(endpoint.path, params)}?after_bundle_seq=0`, {
        method: endpoint.method,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          [SOURCE_ID_HEADER]: "probe-device",
        },
        ...(endpoint.method === "POST" ? { body: "{}" } : {}),
      });
      const body = response.headers.get("content-type") === "application/json" ? await response.json() : null;
      if (body === null) await response.body?.cancel();
      answers.push({ endpoint: name, status: response.status, body });
    }
    return answers;
  }

  it("a non-member gets 403 scope_forbidden on every sync endpoint of the workspace", async () => {
    const workspace = fresh("team");
    const member = fresh("ada");
    const adaTeam = await attachedDevice(await signIn(member, [workspace]), member, workspace);
    await addPost(adaTeam, "Plan the offsite");
    await adaTeam.client.sync();

    const mallory = fresh("mallory");
    const malloryToken = await signIn(mallory, [fresh("elsewhere")]);
    const base = `${server.url}/w/${workspace}`;
    const answers = await everyEndpoint(base, malloryToken);
    expect(answers.map((answer) => answer.endpoint)).toEqual(SYNC_ENDPOINT_NAMES);
    for (const answer of answers) {
      expect(answer, answer.endpoint).toMatchObject({
        status: 403,
        body: {
          error: "scope_forbidden",
          message: expect.stringContaining(`not a member of workspace ${workspace}`),
        },
      });
    }
    // An id that cannot be a workspace's names no route at all.
    for (const path of [
      "/w/te.am/sync/capabilities",
      "/w/a%20b/sync/capabilities",
      `/w/${"x".repeat(65)}/sync/pull`,
    ]) {
      const reply = await fetch(`${server.url}${path}`, {
        headers: { authorization: `Bearer ${malloryToken}`, [SOURCE_ID_HEADER]: "probe-device" },
      });
      expect([path, reply.status, ((await reply.json()) as { error: string }).error]).toEqual([
        path,
        404,
        "not_found",
      ]);
    }
    // Without a token the answer stays 401; with the member's token the same requests get past the gate.
    for (const answer of await everyEndpoint(base, undefined))
      expect(answer.status, answer.endpoint).toBe(401);
    const memberAnswers = await everyEndpoint(base, await signIn(member, [workspace]));
    expect(memberAnswers.filter((answer) => answer.status === 403 || answer.status === 401)).toEqual([]);

    // Our client reports the refusal as a 403 that only the app can fix; nothing was written.
    const intruder = await openDevice(malloryToken, mallory, workspace);
    await expect(intruder.client.attach(intruder.scopeId)).rejects.toMatchObject({ status: 403 });
    expect(await titles(intruder)).toEqual([]);
    expect(await serverTitles(workspaceScopeId(workspace))).toEqual(["Plan the offsite"]);
    // Mallory's own scope works as ever: the 403 is about the workspace, not her token.
    const own = await attachedDevice(malloryToken, mallory);
    await addPost(own, "Mallory's note");
    expect(await own.client.sync()).toMatchObject({ pushOutcome: "committed" });
  });

  it("a member's own scope stays out of the other members' reach", async () => {
    const workspace = fresh("team");
    const [ada, grace] = [fresh("ada"), fresh("grace")];
    const adaToken = await signIn(ada, [workspace]);
    const graceToken = await signIn(grace, [workspace]);
    const adaOwn = await attachedDevice(adaToken, ada);
    const adaTeam = await attachedDevice(adaToken, ada, workspace);
    await addPost(adaOwn, "Call the dentist");
    await addPost(adaTeam, "Plan the offsite");
    await adaOwn.client.sync();
    await adaTeam.client.sync();

    const graceOwn = await attachedDevice(graceToken, grace);
    const graceTeam = await attachedDevice(graceToken, grace, workspace);
    expect(await titles(graceTeam)).toEqual(["Plan the offsite"]);
    expect(await titles(graceOwn)).toEqual([]);
    expect(await serverTitles(ada)).toEqual(["Call the dentist"]);
    // No path names Ada's own scope for Grace: `/w/<ada>` is a workspace scope, not Ada's.
    const reply = await fetch(`${server.url}/w/${ada}/sync/pull?after_bundle_seq=0`, {
      headers: { authorization: `Bearer ${graceToken}`, [SOURCE_ID_HEADER]: "grace-laptop" },
    });
    expect([reply.status, ((await reply.json()) as { error: string }).error]).toEqual([
      403,
      "scope_forbidden",
    ]);
    // And no one can sign in as a workspace's scope.
    const squatter = await fetch(`${server.url}/dummy-signin`, {
      method: "POST",
      body: JSON.stringify({ user: workspaceScopeId(workspace), password: "any" }),
    });
    expect([squatter.status, ((await squatter.json()) as { error: string }).error]).toEqual([
      400,
      "invalid_request",
    ]);
  });
});

describe("one person in three workspaces", () => {
  it("runs one client per workspace side by side, each syncing only its own scope", async () => {
    const workspaces = [fresh("north"), fresh("south"), fresh("west")];
    const carol = fresh("carol");
    const token = await signIn(carol, workspaces);
    const clients = await Promise.all(workspaces.map((workspace) => attachedDevice(token, carol, workspace)));
    for (const device of clients) device.client.start();
    for (const workspace of workspaces) await untilSubscribers(workspaceScopeId(workspace), 1);
    await Promise.all(clients.map((device, index) => addPost(device, `carol in ${workspaces[index]}`)));
    // Another member of the middle workspace writes there too; only Carol's client for it receives it.
    const dave = fresh("dave");
    const daveSouth = await attachedDevice(await signIn(dave, [workspaces[1]!]), dave, workspaces[1]);
    await addPost(daveSouth, "dave in south");
    await daveSouth.client.sync();

    const expected = [
      [`carol in ${workspaces[0]}`],
      [`carol in ${workspaces[1]}`, "dave in south"],
      [`carol in ${workspaces[2]}`],
    ];
    await Promise.all(clients.map((device, index) => untilTitles(device, expected[index]!)));
    // Carol's uploads landed in their workspaces' scopes, each once, and none in her own.
    for (const [index, device] of clients.entries()) {
      await device.client.sync();
      expect(await serverTitles(device.scopeId)).toEqual([...expected[index]!].sort());
    }
    expect(await serverTitles(carol)).toEqual([]);
    await Promise.all(clients.map((device) => device.client.stop()));
    for (const workspace of workspaces) await untilSubscribers(workspaceScopeId(workspace), 0);
  });
});
