/**
 * Runs `watch/behavior/automatic-downloads.json` against `SyncClient.start()` (the automatic
 * download worker with watch "auto") over the loopback fake server.
 *
 * Observations:
 * - watch attempts and their `after_bundle_seq`, and pulls: the requests the server received after
 *   `start()`;
 * - `watchCloseCount`: watch responses the client released (read to their end or cancelled), seen
 *   through the client's `fetch` option, which hands the engine a pass-through body that notes
 *   both;
 * - users: the whole `users` table.
 *
 * Timing: the polling interval is short (25 ms), so a timer pull while a healthy stream is open
 * would show up inside the observation window; reconnects come after 10 ms, or after a minute
 * when the case pins exact counts (so a reconnect cannot land inside the observation, as the
 * upstream runners do with 1 s). Each case waits (bounded) until the expectations hold; exact
 * counts must then still hold after a settle window (or the case's `observeForMillis`), so an
 * extra pull arriving late is caught.
 */
import type { EndpointName } from "@oversync/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeStream } from "../client-support/fake-sync-server.js";
import { type ServerScript, applyServerScript } from "../client-support/fixture-scripts.js";
import { failFirst, sseLinesReply, statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type EngineHarness, startEngineHarness } from "./engine-harness.js";

interface ExpectedWatchState {
  watchCloseCount?: number;
  fallbackPullsAtLeast?: number;
  fallbackPullsExactly?: number;
  watchAttemptsAtLeast?: number;
  watchAttemptsExactly?: number;
  watchAfterBundleSeqsContains?: number[];
  observeForMillis?: number;
  stopActiveWatchBeforeAssert?: boolean;
  users?: { id: string; name: string }[];
}

interface WatchCase {
  name: string;
  serverScript: ServerScript;
  expectedState: ExpectedWatchState;
}

const FILE = "watch/behavior/automatic-downloads.json";
/** Polling interval: far below every observation window. */
const INTERVAL_MILLIS = 25;
/** Longest wait for a case's expectations to hold. */
const EVENTUALLY_MILLIS = 5_000;
/** How long exact counts must keep holding once reached. */
const EXACT_SETTLE_MILLIS = 150;
/** The upstream runners' bound on stopping an active watch worker. */
const STOP_BOUND_MILLIS = 1_000;

const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("watch automatic downloads fixtures", () => {
  const cases = available ? readContract<{ cases: WatchCase[] }>(FILE).cases : [];
  for (const fixture of cases) tally.it(FILE, `${FILE} ${fixture.name}`, () => runCase(fixture));
});

describe("automatic downloads watch rounds beyond the fixtures", () => {
  let harness: EngineHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  async function started(options: {
    intervalMillis: number;
    reconnectMillis: number;
  }): Promise<EngineHarness> {
    const h = harness!;
    await h.client.open();
    await h.client.attach("user-1");
    h.client.start({
      watch: "auto",
      intervalMillis: options.intervalMillis,
      reconnectMinMillis: options.reconnectMillis,
      reconnectMaxMillis: options.reconnectMillis,
    });
    return h;
  }
  const count = (h: EngineHarness, endpoint: EndpointName) => h.server.requestsTo(endpoint).length;

  it("switches to polling after a 403 bundle_change_watch_forbidden setup answer", async () => {
    harness = await startEngineHarness();
    harness.backend.enqueueWatchReply(
      statusReply(403, { error: "bundle_change_watch_forbidden", message: "watch is not allowed" }),
    );
    const h = await started({ intervalMillis: 20, reconnectMillis: 10 });
    await eventually("three polls", async () => count(h, "pull") >= 3);
    // Polling continues, but /sync/watch is never asked again (reconnects would come every 10 ms).
    expect(count(h, "watch")).toBe(1);
  });

  it("retries a refused watch setup after the reconnect delay, not the polling interval", async () => {
    harness = await startEngineHarness();
    harness.backend.enqueueWatchReply(
      statusReply(503, { error: "bundle_change_watch_disabled", message: "bundle change watch is disabled" }),
    );
    const h = await started({ intervalMillis: 60_000, reconnectMillis: 10 });
    await eventually("a second watch attempt", async () => count(h, "watch") >= 2);
    expect(count(h, "pull")).toBe(1);
  });

  it("skips the fallback pull when the stream's last event pull failed", async () => {
    harness = await startEngineHarness();
    harness.backend.appendBundle({
      rows: [
        {
          schema: "main",
          table: "users",
          key: { id: "u1" },
          op: "INSERT",
          payload: { id: "u1", name: "Ada" },
        },
      ],
    });
    harness.backend.enqueueWatchReply(sseLinesReply(["event: bundle", 'data: {"bundle_seq":1}', ""]));
    harness.backend.override("pull", (next) =>
      failFirst(1, statusReply(500, { error: "temporary", message: "retry" }), next),
    );
    const h = await started({ intervalMillis: 60_000, reconnectMillis: 60_000 });
    await eventually("the event pull", async () => count(h, "pull") >= 1);
    await delay(EXACT_SETTLE_MILLIS);
    // One failed event pull, no fallback pull on the ended stream; the reconnect (a minute away)
    // would catch up from the checkpoint.
    expect(count(h, "pull")).toBe(1);
    expect(count(h, "watch")).toBe(1);
  });
});

/** What the client did with watch responses and when it asked for pulls, in order. */
type ClientEvent = "watch-released" | "pull";

async function runCase(fixture: WatchCase): Promise<void> {
  const expected = fixture.expectedState;
  const events: ClientEvent[] = [];
  const harness = await startEngineHarness({ client: { fetch: observingFetch(events) } });
  try {
    const controls = applyServerScript(harness.backend, fixture.serverScript);
    await harness.client.open();
    await harness.client.attach("user-1");
    const firstRequest = harness.server.requests.length;
    const since = () => harness.server.requests.slice(firstRequest);
    const pulls = () => since().filter((request) => request.endpoint === "pull").length;
    const watchAfters = () =>
      since()
        .filter((request) => request.endpoint === "watch")
        .map((request) => Number(request.query.after_bundle_seq));
    const exact = expected.watchAttemptsExactly !== undefined || expected.fallbackPullsExactly !== undefined;
    const reconnectMillis = exact ? 60_000 : 10;

    harness.client.start({
      watch: "auto",
      intervalMillis: INTERVAL_MILLIS,
      reconnectMinMillis: reconnectMillis,
      reconnectMaxMillis: reconnectMillis,
    });

    const wakeBundles = fixture.serverScript.wakeBundles as unknown[] | undefined;
    if (wakeBundles !== undefined && wakeBundles.length > 0) {
      // The wake-up must reach an open stream: wait until the server holds one.
      await eventually(`${fixture.name}: watch stream opened`, async () => openWatch(harness) !== undefined);
      controls.deliverWakeBundles();
    }

    const met = async (): Promise<boolean> => {
      const attempts = watchAfters();
      const pullCount = pulls();
      return (
        (await usersMatch(harness, expected.users)) &&
        (expected.watchAttemptsAtLeast === undefined || attempts.length >= expected.watchAttemptsAtLeast) &&
        (expected.watchAttemptsExactly === undefined || attempts.length === expected.watchAttemptsExactly) &&
        (expected.watchAfterBundleSeqsContains ?? []).every((seq) => attempts.includes(seq)) &&
        (expected.fallbackPullsAtLeast === undefined || pullCount >= expected.fallbackPullsAtLeast) &&
        (expected.fallbackPullsExactly === undefined || pullCount === expected.fallbackPullsExactly) &&
        (expected.watchCloseCount === undefined || releasedCount(events) >= expected.watchCloseCount)
      );
    };
    await eventually(`${fixture.name}: expected state`, met);
    const observe = expected.observeForMillis ?? (exact ? EXACT_SETTLE_MILLIS : 0);
    if (observe > 0) await delay(observe);

    if (expected.stopActiveWatchBeforeAssert) {
      const stream = openWatch(harness);
      expect(stream, `${fixture.name}: a watch stream is open before stop`).toBeDefined();
      const started = Date.now();
      await withBound(harness.client.stop(), STOP_BOUND_MILLIS, `${fixture.name}: stop()`);
      expect(Date.now() - started, `${fixture.name}: stop() duration`).toBeLessThan(STOP_BOUND_MILLIS);
      // The server sees the connection go away from the client's side.
      expect(await withBound(stream!.closed, STOP_BOUND_MILLIS, `${fixture.name}: stream close`)).toBe(
        "client",
      );
      const requestsAtStop = harness.server.requests.length;
      await delay(EXACT_SETTLE_MILLIS);
      expect(harness.server.requests.length, `${fixture.name}: requests after stop`).toBe(requestsAtStop);
    }

    const label = fixture.name;
    if (expected.watchCloseCount !== undefined) {
      expect(releasedCount(events), `${label}: watch close count`).toBe(expected.watchCloseCount);
      // A failed or ended watch is released before its fallback pull is sent.
      expect(events.indexOf("watch-released"), `${label}: close before fallback pull`).toBeLessThan(
        events.indexOf("pull"),
      );
    }
    if (expected.fallbackPullsAtLeast !== undefined)
      expect(pulls(), `${label}: fallback pulls`).toBeGreaterThanOrEqual(expected.fallbackPullsAtLeast);
    if (expected.fallbackPullsExactly !== undefined)
      expect(pulls(), `${label}: fallback pulls`).toBe(expected.fallbackPullsExactly);
    if (expected.watchAttemptsAtLeast !== undefined)
      expect(watchAfters().length, `${label}: watch attempts`).toBeGreaterThanOrEqual(
        expected.watchAttemptsAtLeast,
      );
    if (expected.watchAttemptsExactly !== undefined)
      expect(watchAfters().length, `${label}: watch attempts`).toBe(expected.watchAttemptsExactly);
    for (const seq of expected.watchAfterBundleSeqsContains ?? [])
      expect(watchAfters(), `${label}: watch after_bundle_seq values`).toContain(seq);
    if (expected.users !== undefined) {
      expect(await harness.query("SELECT id, name FROM users ORDER BY id"), `${label}: users`).toEqual(
        expected.users,
      );
    }
  } finally {
    await harness.close();
  }
}

/**
 * A fetch that passes everything through, notes each pull request, and hands back watch
 * responses with a body that notes when the client released it (read to the end, failed, or
 * cancelled); the body's bytes are unchanged.
 */
function observingFetch(events: ClientEvent[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.endsWith("/sync/pull")) events.push("pull");
    const response = await fetch(input, init);
    if (!url.pathname.endsWith("/sync/watch") || response.body === null) return response;
    const reader = response.body.getReader();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      events.push("watch-released");
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const chunk = await reader.read();
          if (chunk.done) {
            release();
            controller.close();
          } else {
            controller.enqueue(chunk.value);
          }
        } catch (error) {
          release();
          controller.error(error);
        }
      },
      async cancel(reason) {
        release();
        await reader.cancel(reason);
      },
    });
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

function releasedCount(events: readonly ClientEvent[]): number {
  return events.filter((event) => event === "watch-released").length;
}

function openWatch(harness: EngineHarness): FakeStream | undefined {
  return harness.server.openStreams().find((stream) => stream.request.endpoint === "watch");
}

async function usersMatch(harness: EngineHarness, users: ExpectedWatchState["users"]): Promise<boolean> {
  if (users === undefined) return true;
  const rows = await harness.query<{ id: string; name: string }>("SELECT id, name FROM users ORDER BY id");
  return JSON.stringify(rows.map(({ id, name }) => ({ id, name }))) === JSON.stringify(users);
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + EVENTUALLY_MILLIS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(10);
  }
  if (!(await check())) throw new Error(`${what}: not reached within ${EVENTUALLY_MILLIS} ms`);
}

function delay(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

async function withBound<T>(promise: Promise<T>, millis: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${millis} ms`)), millis);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
