/**
 * Three `oversync serve` processes over one PostgreSQL database, as a horizontally scaled
 * deployment runs them: started at the same moment (their schema installs and bootstraps meet), and
 * reached through a round-robin proxy that sends each request to the next process, so one device's
 * push create, chunk and commit, its pulls and its watch stream land on different processes.
 *
 * - Many devices with automatic sync and watch converge, PostgreSQL holding exactly their rows.
 * - A commit through one process wakes a watch stream held by each other process.
 * - Snapshot build and chunk slots and the per-scope cap on open snapshot sessions hold across the
 *   processes (they live in PostgreSQL); the watch stream cap is per process, as documented.
 * - No process answers a 5xx or logs an error.
 *
 * Waits are for events or conditions with a liveness bound, never fixed sleeps. The numbers it
 * measures (throughput, cross-process wake-up latency) are printed, not asserted; docs/scaling.md
 * quotes a run.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type PushRow, canonicalRequestHash } from "@oversync/protocol";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Device } from "../../packages/cli/src/simulate/device.js";
import { PostgresChecks } from "../../packages/cli/src/simulate/postgres-checks.js";
import {
  SNAPSHOT_SLOT_LOCK_CLASSES,
  type SnapshotSlotKind,
} from "../../packages/server/src/snapshot/snapshot-capacity.js";
import { untilClient } from "../support/client-events.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { type RoundRobinProxy, startRoundRobinProxy } from "../support/round-robin-proxy.js";
import { type ServeProcess, startServe } from "../support/serve-process.js";
import { type Reply, device, send, signIn, userRow } from "./serve-support.js";

const PROCESSES = 3;
const USERS = 4;
const DEVICES_PER_USER = 3;
const ROWS_PER_DEVICE = 10;
/** Bundles each process commits in the wake-up measurement (each wakes a watcher on every process). */
const WAKE_UP_ROUNDS = 6;
/** The push load: scopes pushing at once, and one-row bundles each pushes back to back. */
const LOAD_WRITERS = 8;
const LOAD_BUNDLES_PER_WRITER = 6;
/** Liveness bound of every wait: a hang fails the test instead of the run. */
const WAIT_MILLIS = 30_000;
/** The defaults of `oversync serve` (protocol DEFAULT_BUNDLE_LIMITS, snapshot-sessions.ts, bundle-watch.ts). */
const MAX_SNAPSHOT_BUILDS = 2;
const MAX_SNAPSHOT_CHUNK_READS = 8;
const MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE = 8;
const MAX_WATCH_STREAMS_PER_USER = 16;

let db: TestDatabase;
let dir: string;
let servers: ServeProcess[];
let proxy: RoundRobinProxy;
let checks: PostgresChecks;
const devices: Device[] = [];
/** What the test measured, printed at the end for docs/scaling.md. */
const numbers: Record<string, unknown> = {};

beforeAll(async () => {
  db = await createTestDatabase("oversync_procs");
  dir = await mkdtemp(join(tmpdir(), "oversync-procs-"));
  const started = performance.now();
  servers = await Promise.all(
    Array.from({ length: PROCESSES }, () => startServe([], { DATABASE_URL: db.url })),
  );
  numbers.startup_ms_three_processes_at_once = Math.round(performance.now() - started);
  proxy = await startRoundRobinProxy(servers.map((server) => server.url));
  checks = await PostgresChecks.connect(db.url);
}, 120_000);

afterAll(async () => {
  for (const device of devices) await device.close().catch(() => undefined);
  await proxy?.close();
  for (const server of servers ?? []) server.child.kill("SIGTERM");
  const exits = await Promise.all((servers ?? []).map((server) => server.exited));
  await checks?.end();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
  expect(exits.every((exit) => exit.code === 0)).toBe(true);
  console.log(`three-process numbers: ${JSON.stringify(numbers)}`);
}, 60_000);

/** Resolves once `check` holds, re-checked on the device's table and status changes and every 100 ms. */
function until(device: Device, what: string, check: () => Promise<boolean>): Promise<void> {
  return untilClient(device.client, what, check, { timeoutMillis: WAIT_MILLIS, pollMillis: 100 });
}

/** Percentiles of a list of milliseconds, rounded to 0.1 ms. */
function summarize(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
  return { count: sorted.length, p50_ms: at(0.5), p95_ms: at(0.95), max_ms: at(1) };
}

/** A device's `users` rows as (id, name) pairs, ordered by id. */
async function userNames(device: Device): Promise<[string, string][]> {
  const rows = await device.query<{ id: string; name: string }>("SELECT id, name FROM users ORDER BY id");
  return rows.map((row) => [row.id, row.name]);
}

describe("three reference-server processes over one PostgreSQL", () => {
  it("many devices with automatic sync and watch converge through a round-robin proxy", async () => {
    // Each user's first device initializes the scope; the others attach to it (a snapshot each).
    const byUser = new Map<string, Device[]>();
    await Promise.all(
      Array.from({ length: USERS }, async (_, u) => {
        const user = `procs-user-${u}`;
        const mine: Device[] = [];
        for (let d = 0; d < DEVICES_PER_USER; d++) {
          const opened = await Device.open(`${user}-d${d}`, join(dir, `${user}-d${d}.db`), proxy.url);
          devices.push(opened);
          mine.push(opened);
        }
        await mine[0]!.attach(user);
        await Promise.all(mine.slice(1).map((other) => other.attach(user)));
        byUser.set(user, mine);
      }),
    );
    for (const opened of devices) opened.client.start({ uploadDelayMillis: 20, reconnectMinMillis: 100 });

    // Every device inserts its rows one statement at a time, renames half of them and deletes two.
    const expected = new Map<string, Map<string, string>>();
    const started = performance.now();
    await Promise.all(
      [...byUser].map(async ([user, mine]) => {
        const rows = new Map<string, string>();
        expected.set(user, rows);
        await Promise.all(
          mine.map(async (writer) => {
            const ids: string[] = [];
            for (let r = 0; r < ROWS_PER_DEVICE; r++) {
              const id = randomUUID();
              ids.push(id);
              rows.set(id, `${writer.name} row ${r}`);
              await writer.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
                id,
                `${writer.name} row ${r}`,
                `${writer.name}-${r}@example.com`,
              ]);
              // Pacing, so the writes reach the server as many bundles rather than one.
              await new Promise((resolve) => setTimeout(resolve, 15));
            }
            for (const id of ids.slice(0, ROWS_PER_DEVICE / 2)) {
              rows.set(id, `${rows.get(id)} renamed`);
              await writer.run("UPDATE users SET name = name || ' renamed' WHERE id = ?", [id]);
            }
            for (const id of ids.slice(-2)) {
              rows.delete(id);
              await writer.run("DELETE FROM users WHERE id = ?", [id]);
            }
          }),
        );
      }),
    );

    // Converged: every device holds its user's final rows and has nothing left to push…
    await Promise.all(
      [...byUser].flatMap(([user, mine]) => {
        const want = JSON.stringify([...expected.get(user)!].sort(([a], [b]) => (a < b ? -1 : 1)));
        return mine.map((reader) =>
          until(
            reader,
            `${reader.name} to hold its user's rows`,
            async () =>
              reader.client.status.pendingChangeCount === 0 &&
              JSON.stringify(await userNames(reader)) === want,
          ),
        );
      }),
    );
    numbers.rows_converged_ms = Math.round(performance.now() - started);
    // …and stands at the scope's newest bundle, which PostgreSQL holds exactly these rows at.
    for (const [user, mine] of byUser) {
      const latest = await checks.latestBundleSeq(user);
      for (const reader of mine) {
        await until(
          reader,
          `${reader.name} to reach bundle ${latest}`,
          async () => (await reader.syncState()).lastBundleSeqSeen === latest,
        );
      }
    }
    const elapsedMs = performance.now() - started;

    let bundles = 0n;
    for (const [user, mine] of byUser) {
      const server = await checks.rows("users", user);
      expect(server.map((row) => [row.id, row.name])).toStrictEqual(
        [...expected.get(user)!].sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      for (const reader of mine) {
        expect(await reader.rows("users")).toStrictEqual(server);
        expect(await reader.syncState()).toMatchObject({
          dirtyRows: 0n,
          outboxState: "none",
          outboxRows: 0n,
          stagedSnapshotRows: 0n,
          bindingState: "attached",
          attachedUserId: user,
        });
        expect(reader.client.status).toMatchObject({ lastError: null, automaticSync: "running" });
      }
      expect(await checks.openPushSessions(user)).toStrictEqual([]);
      expect((await checks.rowStates(user, "users")).live).toBe(server.length);
      bundles += await checks.latestBundleSeq(user);
    }

    // The proxy spread the work: requests evenly, watch streams and commits over several processes,
    // and push sessions continued on another process than the one that staged their rows.
    const upstreamsOf = (path: RegExp) =>
      new Set(proxy.requests.filter((entry) => path.test(entry.path)).map((entry) => entry.upstream));
    const perUpstream = servers.map(
      (_, upstream) => proxy.requests.filter((entry) => entry.upstream === upstream).length,
    );
    expect(Math.max(...perUpstream) - Math.min(...perUpstream)).toBeLessThanOrEqual(1);
    expect(upstreamsOf(/^\/sync\/watch$/).size).toBeGreaterThan(1);
    expect(upstreamsOf(/\/commit$/).size).toBeGreaterThan(1);
    const sessions = new Map<string, Set<number>>();
    for (const entry of proxy.requests) {
      const pushId = /^\/sync\/push-sessions\/([^/]+)\/(chunks|commit)$/.exec(entry.path)?.[1];
      if (pushId !== undefined) sessions.set(pushId, (sessions.get(pushId) ?? new Set()).add(entry.upstream));
    }
    expect([...sessions.values()].some((upstreams) => upstreams.size > 1)).toBe(true);
    expect(proxy.requests.filter((entry) => entry.status >= 500)).toStrictEqual([]);

    const writes = USERS * DEVICES_PER_USER * (ROWS_PER_DEVICE + ROWS_PER_DEVICE / 2 + 2);
    numbers.devices = devices.length;
    numbers.local_writes = writes;
    numbers.bundles_committed = Number(bundles);
    numbers.requests_through_proxy = proxy.requests.length;
    numbers.writes_to_convergence_ms = Math.round(elapsedMs);
    numbers.bundles_per_second = Math.round((Number(bundles) / elapsedMs) * 1000);
    numbers.requests_per_second = Math.round((proxy.requests.length / elapsedMs) * 1000);

    for (const opened of devices) await opened.client.stop();
  });

  it("a commit through one process wakes a watch stream held by each other process", async () => {
    const user = "procs-wake-user";
    const token = await signIn(servers[0]!.url, user);
    const writers = servers.map((server, index) => device(server.url, token, `procs-writer-${index}`));
    expect((await writers[0]!.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
    const watchers = await Promise.all(
      servers.map((server, index) => WatchStream.open(server.url, token, `procs-watcher-${index}`)),
    );

    const crossProcess: number[] = [];
    const sameProcess: number[] = [];
    const commits: number[] = [];
    const afterAnswer: number[] = [];
    for (let round = 1; round <= WAKE_UP_ROUNDS; round++) {
      for (const [index, writer] of writers.entries()) {
        const rows: PushRow[] = [userRow(randomUUID(), `wake ${round}.${index}`)];
        const create = await writer.post("/sync/push-sessions", {
          source_bundle_id: round,
          planned_row_count: rows.length,
          canonical_request_hash: canonicalRequestHash(rows),
        });
        expect(create.status).toBe(200);
        const pushId = (create.body as { push_id: string }).push_id;
        const chunk = await writer.post(`/sync/push-sessions/${pushId}/chunks`, {
          start_row_ordinal: 0,
          rows,
        });
        expect(chunk.status).toBe(200);
        const sent = performance.now();
        const commit = await writer.post(`/sync/push-sessions/${pushId}/commit`);
        const answered = performance.now();
        commits.push(answered - sent);
        expect(commit.status).toBe(200);
        const seq = (commit.body as { bundle_seq: number }).bundle_seq;
        for (const [watcherIndex, watcher] of watchers.entries()) {
          const event = await watcher.waitFor(seq);
          expect(event).toMatchObject({
            bundle_seq: seq,
            source_id: writer.sourceId,
            source_bundle_id: round,
          });
          (watcherIndex === index ? sameProcess : crossProcess).push(event.at - sent);
          if (watcherIndex !== index) afterAnswer.push(event.at - answered);
        }
      }
    }
    for (const watcher of watchers) watcher.close();
    numbers.wake_up_commit_round_trip = summarize(commits);
    numbers.wake_up_other_process = summarize(crossProcess);
    numbers.wake_up_same_process = summarize(sameProcess);
    numbers.wake_up_other_process_after_commit_answer = summarize(afterAnswer);
    expect(crossProcess).toHaveLength(WAKE_UP_ROUNDS * PROCESSES * (PROCESSES - 1));
  });

  it("measures push throughput through a proxy over one process and over three", async () => {
    // The same load twice: WRITERS scopes, each pushing one-row bundles back to back while every
    // process holds a watch stream on it (so each commit also fans out a wake-up).
    const load = async (label: string, origin: (writer: number) => string) => {
      const tokens = await Promise.all(
        Array.from({ length: LOAD_WRITERS }, (_, writer) =>
          signIn(servers[0]!.url, `procs-load-${label}-${writer}`),
        ),
      );
      const watchers: WatchStream[] = [];
      for (const [writer, token] of tokens.entries()) {
        const seed = device(servers[0]!.url, token, `procs-load-${writer}`);
        expect((await seed.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
        for (const server of servers)
          watchers.push(await WatchStream.open(server.url, token, "procs-load-watch"));
      }
      const latencies: number[] = [];
      const started = performance.now();
      await Promise.all(
        tokens.map(async (token, writer) => {
          const client = device(origin(writer), token, `procs-load-${writer}`);
          for (let bundle = 1; bundle <= LOAD_BUNDLES_PER_WRITER; bundle++) {
            const begun = performance.now();
            const seq = await pushOneRow(client, bundle);
            latencies.push(performance.now() - begun);
            expect(seq).toBe(bundle);
          }
        }),
      );
      const elapsed = performance.now() - started;
      for (const watcher of watchers) watcher.close();
      return {
        bundles: LOAD_WRITERS * LOAD_BUNDLES_PER_WRITER,
        bundles_per_second: Math.round((LOAD_WRITERS * LOAD_BUNDLES_PER_WRITER * 1000) / elapsed),
        push_latency: summarize(latencies),
      };
    };
    // Both through a proxy, so they differ only in the processes behind it.
    const single = await startRoundRobinProxy([servers[0]!.url]);
    try {
      numbers.push_load_one_process = await load("one", () => single.url);
    } finally {
      await single.close();
    }
    numbers.push_load_three_processes = await load("three", () => proxy.url);
  });

  it("snapshot build slots are shared by every process", async () => {
    const user = "procs-build-user";
    const token = await signIn(servers[0]!.url, user);
    const seed = device(servers[0]!.url, token, "procs-build-seed");
    expect((await seed.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
    // Builds that took their slot then wait on a table lock the test holds, for as long as it needs.
    const locker = await holdTableLock("business.users");
    const held = Array.from({ length: MAX_SNAPSHOT_BUILDS }, (_, index) =>
      device(servers[index]!.url, token, `procs-build-${index}`).post("/sync/snapshot-sessions"),
    );
    await waitForSlots("build", MAX_SNAPSHOT_BUILDS);
    for (const server of servers) {
      const refused = await device(server.url, token, "procs-build-refused").post("/sync/snapshot-sessions");
      expectCapacityRefusal(refused, "snapshot_build_capacity");
    }
    await locker.release();
    for (const reply of await Promise.all(held)) expect(reply.status).toBe(200);
    const after = await device(servers[2]!.url, token, "procs-build-after").post("/sync/snapshot-sessions");
    expect(after.status).toBe(200);
  });

  it("snapshot chunk slots are shared by every process", async () => {
    const user = "procs-chunk-user";
    const token = await signIn(servers[0]!.url, user);
    const seed = device(servers[0]!.url, token, "procs-chunk-seed");
    expect((await seed.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
    const created = await seed.post("/sync/snapshot-sessions");
    expect(created.status).toBe(200);
    const path = `/sync/snapshot-sessions/${(created.body as { snapshot_id: string }).snapshot_id}?after_row_ordinal=0`;
    const locker = await holdTableLock("sync.snapshot_session_rows");
    const held = Array.from({ length: MAX_SNAPSHOT_CHUNK_READS }, (_, index) =>
      device(servers[index % PROCESSES]!.url, token, "procs-chunk-seed").get(path),
    );
    await waitForSlots("chunk", MAX_SNAPSHOT_CHUNK_READS);
    for (const server of servers) {
      expectCapacityRefusal(
        await device(server.url, token, "procs-chunk-seed").get(path),
        "snapshot_chunk_capacity",
      );
    }
    await locker.release();
    for (const reply of await Promise.all(held)) expect(reply.status).toBe(200);
  });

  it("a scope's cap on open snapshot sessions counts the sessions of every process", async () => {
    const user = "procs-cap-user";
    const token = await signIn(servers[0]!.url, user);
    const seed = device(servers[0]!.url, token, "procs-cap-seed");
    expect((await seed.post("/sync/connect", { has_local_pending_rows: false })).status).toBe(200);
    const sessions: string[] = [];
    for (let index = 0; index < MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE; index++) {
      const reply = await device(servers[index % PROCESSES]!.url, token, `procs-cap-${index}`).post(
        "/sync/snapshot-sessions",
      );
      expect(reply.status).toBe(200);
      sessions.push((reply.body as { snapshot_id: string }).snapshot_id);
    }
    for (const server of servers) {
      const refused = await device(server.url, token, "procs-cap-more").post("/sync/snapshot-sessions");
      expectCapacityRefusal(refused, "snapshot_build_capacity");
      expect((refused.body as { message: string }).message).toContain(
        `already being read through ${MAX_OPEN_SNAPSHOT_SESSIONS_PER_SCOPE} snapshot sessions`,
      );
    }
    // A session deleted through one process makes room for a create through another.
    const removed = await send(`${servers[1]!.url}/sync/snapshot-sessions/${sessions[0]}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": "procs-cap-0" },
    });
    expect(removed.status).toBe(204);
    expect(
      (await device(servers[2]!.url, token, "procs-cap-more").post("/sync/snapshot-sessions")).status,
    ).toBe(200);
  });

  it("the watch stream cap counts per process, as documented", async () => {
    const user = "procs-watch-cap-user";
    const token = await signIn(servers[0]!.url, user);
    expect(
      (
        await device(servers[0]!.url, token, "procs-watch-seed").post("/sync/connect", {
          has_local_pending_rows: false,
        })
      ).status,
    ).toBe(200);
    const streams: WatchStream[] = [];
    for (let index = 0; index < MAX_WATCH_STREAMS_PER_USER; index++) {
      streams.push(await WatchStream.open(servers[0]!.url, token, `procs-watch-${index}`));
    }
    const refused = await send(`${servers[0]!.url}/sync/watch?after_bundle_seq=0`, {
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": "procs-watch-more" },
    });
    expect([refused.status, (refused.body as { error: string }).error]).toStrictEqual([
      429,
      "bundle_change_watch_limit_exceeded",
    ]);
    streams.push(await WatchStream.open(servers[1]!.url, token, "procs-watch-elsewhere"));
    const counts = await Promise.all(
      servers.map(async (server) => {
        const reply = await send(`${server.url}/test/watch-subscribers?user_id=${user}`);
        return (reply.body as { subscriber_count: number }).subscriber_count;
      }),
    );
    expect(counts).toStrictEqual([MAX_WATCH_STREAMS_PER_USER, 1, 0]);
    for (const stream of streams) stream.close();
  });

  it("no process answered a 5xx or logged an error", async () => {
    for (const [index, server] of servers.entries()) {
      const errors = server.logs.filter((entry) => entry.level === "error");
      const failures = server.logs.filter(
        (entry) => entry.msg === "request" && typeof entry.status === "number" && entry.status >= 500,
      );
      expect({ process: index, errors, failures }).toStrictEqual({
        process: index,
        errors: [],
        failures: [],
      });
    }
    expect(proxy.requests.filter((entry) => entry.status >= 500)).toStrictEqual([]);
  });
});

/** Pushes one users row as bundle `sourceBundleId` of the device's source (create, chunk, commit); returns its seq. */
async function pushOneRow(client: ReturnType<typeof device>, sourceBundleId: number): Promise<number> {
  const rows: PushRow[] = [userRow(randomUUID(), `load ${sourceBundleId}`)];
  const create = await client.post("/sync/push-sessions", {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  });
  expect(create.status).toBe(200);
  const pushId = (create.body as { push_id: string }).push_id;
  expect(
    (await client.post(`/sync/push-sessions/${pushId}/chunks`, { start_row_ordinal: 0, rows })).status,
  ).toBe(200);
  const commit = await client.post(`/sync/push-sessions/${pushId}/commit`);
  expect(commit.status).toBe(200);
  return (commit.body as { bundle_seq: number }).bundle_seq;
}

/** A 429 capacity refusal with its Retry-After. */
function expectCapacityRefusal(reply: Reply, code: string): void {
  expect([
    reply.status,
    (reply.body as { error: string }).error,
    reply.headers.get("retry-after"),
  ]).toStrictEqual([429, code, "1"]);
}

/**
 * Holds an ACCESS EXCLUSIVE lock on `table` in an open transaction of the test's own, so a snapshot
 * build or chunk read that has taken its slot waits on its next statement until `release()`.
 */
async function holdTableLock(table: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query("BEGIN");
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await client.query("COMMIT");
      await client.end();
    },
  };
}

/**
 * Waits until `count` slots of `kind` are held on the test's database (advisory locks, whichever
 * process holds them; pg_locks lists every database's).
 */
async function waitForSlots(kind: SnapshotSlotKind, count: number): Promise<void> {
  const deadline = Date.now() + WAIT_MILLIS;
  for (;;) {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid AND objsubid = 2
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [SNAPSHOT_SLOT_LOCK_CLASSES[kind]],
    );
    if (rows[0]!.n === count) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} ${kind} slots to be taken`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** One bundle-change event as a watcher received it, with the moment it arrived. */
interface ReceivedEvent {
  readonly bundle_seq: number;
  readonly source_id?: string;
  readonly source_bundle_id?: number;
  readonly at: number;
}

/** An open `GET /sync/watch` stream whose events are read as they arrive. */
class WatchStream {
  private readonly events: ReceivedEvent[] = [];
  private wake: (() => void) | undefined;
  private ended: Error | undefined;

  private constructor(private readonly controller: AbortController) {}

  /** Opens a stream after the scope's newest bundle, so it only reports bundles committed from now on. */
  static async open(origin: string, token: string, sourceId: string): Promise<WatchStream> {
    const controller = new AbortController();
    const response = await fetch(`${origin}/sync/watch?after_bundle_seq=${Number.MAX_SAFE_INTEGER}`, {
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": sourceId },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const stream = new WatchStream(controller);
    void stream.read(response.body!.pipeThrough(new TextDecoderStream()).getReader());
    return stream;
  }

  private async read(reader: ReadableStreamDefaultReader<string>): Promise<void> {
    let buffer = "";
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        const at = performance.now();
        buffer += chunk.value;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split("\n").find((line) => line.startsWith("data: "));
          if (frame.startsWith("event: bundle") && data !== undefined) {
            this.events.push({ ...(JSON.parse(data.slice(6)) as Omit<ReceivedEvent, "at">), at });
          }
          end = buffer.indexOf("\n\n");
        }
        this.wake?.();
      }
      this.ended = new Error("the watch stream ended");
    } catch (error) {
      this.ended = error as Error;
    }
    this.wake?.();
  }

  /** The event for `seq`, waiting for it; fails on a later event first or when the stream ends. */
  async waitFor(seq: number): Promise<ReceivedEvent> {
    const deadline = Date.now() + WAIT_MILLIS;
    for (;;) {
      const index = this.events.findIndex((event) => event.bundle_seq >= seq);
      if (index >= 0) return this.events.splice(0, index + 1).at(-1)!;
      if (this.ended !== undefined) throw this.ended;
      if (Date.now() > deadline) throw new Error(`timed out waiting for the event of bundle ${seq}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now() + 1);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  close(): void {
    this.controller.abort();
  }
}
