/**
 * `GET /metrics` of a real `oversync serve` process on PostgreSQL: the Prometheus text exposition
 * names every figure of SYNC_METRICS with its type, carries prom-client's process metrics, and its
 * series move after a push over loopback (requests by endpoint and status, latency histograms, rows
 * and bytes pushed, bundles committed, pool waits); the JSON log gains the commit's line. Then
 * `oversync simulate` runs device scenarios against it as another process, and the series it
 * drives (requests and latencies by endpoint, bundles committed, rows and bytes transferred, pool
 * waits) have moved when it is done, with no 5xx answer and no watch stream left open.
 */
import { randomUUID } from "node:crypto";
import { SYNC_METRICS } from "@oversync/server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import {
  type ServeProcess,
  killServeProcesses,
  runCli,
  startServe,
  waitFor,
} from "../support/serve-process.js";
import { device, pushBundle, send, signIn, userRow } from "./serve-support.js";

/** One sample of the exposition: a series (name and labels) and its value. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The exposition's samples and its `# TYPE` lines by metric name. */
interface Exposition {
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, string>;
}

/** Parses Prometheus text format 0.0.4 (label values here never hold `"`, `,` or `}`). */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1]!, type[2]!);
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)].map((label) => [
        label[1]!,
        label[2]!,
      ]),
    );
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { samples, types };
}

/** The sum of every series of `name` whose labels include `labels`. */
function total(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter(
      (sample) =>
        sample.name === name &&
        Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** The value of the series `name{labels}` (exactly those labels), or 0 when it is not there yet. */
function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const sample = exposition.samples.find(
    (candidate) =>
      candidate.name === name && JSON.stringify(Object.entries(candidate.labels).sort()) === wanted,
  );
  return sample?.value ?? 0;
}

async function scrape(server: ServeProcess): Promise<Exposition> {
  const reply = await send(`${server.url}/metrics`);
  expect(reply.status).toBe(200);
  expect(reply.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(reply.text);
}

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("oversync_metrics_cli");
});

afterEach(killServeProcesses);

afterAll(async () => {
  await db?.drop();
});

describe("oversync serve /metrics", () => {
  it("exposes every figure, and its series move after a push", async () => {
    const server = await startServe([], { DATABASE_URL: db.url });
    expect(server.stderr()).toContain(
      `  metrics    GET ${server.url}/metrics (Prometheus): this machine only`,
    );
    const before = await scrape(server);
    const kinds = { counter: "counter", updown: "gauge", gauge: "gauge", histogram: "histogram" } as const;
    for (const metric of Object.values(SYNC_METRICS)) {
      expect([metric.name, before.types.get(metric.name)]).toStrictEqual([metric.name, kinds[metric.kind]]);
    }
    expect(before.types.get("process_cpu_user_seconds_total")).toBe("counter");

    const token = await signIn(server.url, "metered");
    const client = device(server.url, token, "metered-phone");
    const rows = [userRow(randomUUID(), "Ada"), userRow(randomUUID(), "Bob")];
    const bundleSeq = await pushBundle(client, 1, rows);
    const after = await scrape(server);

    const moved = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    for (const endpoint of ["connect", "pushCreate", "pushChunk", "pushCommit"]) {
      expect([endpoint, moved("oversync_requests_total", { endpoint, status: "200" })]).toStrictEqual([
        endpoint,
        1,
      ]);
      expect([endpoint, moved("oversync_request_duration_seconds_count", { endpoint })]).toStrictEqual([
        endpoint,
        1,
      ]);
    }
    expect(moved("oversync_requests_total", { endpoint: "dummySignin", status: "200" })).toBe(1);
    expect(moved("oversync_transferred_rows_total", { operation: "push" })).toBe(2);
    expect(moved("oversync_transferred_bytes_total", { operation: "push" })).toBeGreaterThan(0);
    expect(moved("oversync_bundles_committed_total", { origin: "push" })).toBe(1);
    expect(moved("oversync_pool_wait_seconds_count")).toBeGreaterThanOrEqual(4);
    expect(
      value(after, "oversync_request_duration_seconds_bucket", { endpoint: "pushCommit", le: "+Inf" }),
    ).toBe(1);

    // The commit is in the JSON log next to the request lines.
    expect(server.logs.filter((entry) => entry.msg === "bundle committed")).toStrictEqual([
      expect.objectContaining({
        level: "info",
        origin: "push",
        bundleSeq,
        rows: 2,
        scopeId: "metered",
        sourceId: "metered-phone",
      }),
    ]);
    // The access log stays the one request line per request: the handlers add none of their own.
    expect(server.logs.filter((entry) => entry.msg === "request finished")).toStrictEqual([]);
    // Each line is written once its response has closed, just after the client read it.
    const scrapes = () => server.logs.filter((entry) => entry.msg === "request" && entry.path === "/metrics");
    await waitFor(() => scrapes().length >= 2, "the second scrape's request line");
    expect(scrapes().map((entry) => entry.status)).toStrictEqual([200, 200]);
  });

  it("its series move under oversync simulate's load", async () => {
    const server = await startServe([], { DATABASE_URL: db.url });
    const before = await scrape(server);
    const run = runCli([
      "simulate",
      "--scenario=multi-device-sync,watch-peer-push",
      `--server=${server.url}`,
      "--cleanup",
    ]);
    const { code } = await run.exited;
    expect(code, run.stdout()).toBe(0);
    const after = await scrape(server);
    const moved = (name: string, labels: Record<string, string> = {}) =>
      total(after, name, labels) - total(before, name, labels);

    // Besides the first scrape, every request between the two readings is the simulator's.
    expect(moved("oversync_requests_total")).toBeGreaterThan(20);
    for (const endpoint of ["dummySignin", "connect", "pushCommit", "pull", "watch", "watchSubscribers"]) {
      expect([endpoint, moved("oversync_requests_total", { endpoint, status: "200" }) > 0]).toStrictEqual([
        endpoint,
        true,
      ]);
      expect([endpoint, moved("oversync_request_duration_seconds_count", { endpoint }) > 0]).toStrictEqual([
        endpoint,
        true,
      ]);
    }
    const failures = (exposition: Exposition) =>
      exposition.samples
        .filter(
          (sample) => sample.name === "oversync_requests_total" && sample.labels.status?.startsWith("5"),
        )
        .reduce((sum, sample) => sum + sample.value, 0);
    expect(failures(after) - failures(before)).toBe(0);
    expect(moved("oversync_bundles_committed_total", { origin: "push" })).toBeGreaterThanOrEqual(3);
    expect(moved("oversync_transferred_rows_total", { operation: "push" })).toBeGreaterThan(0);
    expect(moved("oversync_transferred_rows_total", { operation: "pull" })).toBeGreaterThan(0);
    expect(moved("oversync_transferred_bytes_total", { operation: "push" })).toBeGreaterThan(0);
    expect(moved("oversync_pool_wait_seconds_count")).toBeGreaterThan(0);
    // Every watch stream the simulator opened has closed again.
    expect(total(after, "oversync_open_watch_streams")).toBe(0);
  });
});
