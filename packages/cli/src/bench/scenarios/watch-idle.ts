/**
 * What idle watch streams cost the server: --watch-streams GET /sync/watch streams (ten per
 * account, under the per-user cap of 16) are opened against `oversync serve` and left idle; the
 * child's RSS is read before they open and once they are all open and settled. Each round starts
 * a new server. At 1,000 streams the per-stream figure is close to the garbage collector's noise;
 * --watch-streams=10000 shows it more clearly.
 */
import { randomUUID } from "node:crypto";
import { type ClientRequest, get } from "node:http";
import { ENDPOINTS } from "@oversync/protocol";
import type { BenchContext } from "../context.js";
import type { ServeChild } from "../serve-child.js";
import { median, mib } from "../stats.js";
import { WireClient } from "../wire-client.js";

const STREAMS_PER_USER = 10;
const SETTLE_MS = 1000;

export async function runWatchIdle(ctx: BenchContext): Promise<void> {
  const { watchStreams: streams } = ctx.sizes;
  const db = await ctx.database();
  const users = Array.from({ length: Math.ceil(streams / STREAMS_PER_USER) }, () => `watch-${randomUUID()}`);
  const before: number[] = [];
  const after: number[] = [];
  const perStream: number[] = [];
  for (let round = 0; round < ctx.rounds; round++) {
    // A fresh server each round: memory a previous round's streams left would hide this round's.
    const server = await ctx.serve(db);
    ctx.progress(`round ${round + 1}/${ctx.rounds}: connecting ${users.length} accounts`);
    const tokens: string[] = [];
    for (const user of users) {
      const token = await server.token(user);
      await new WireClient(server.origin, token, "device").connect();
      tokens.push(token);
    }
    await settle();
    const idle = await steadyRss(server);
    ctx.progress(`round ${round + 1}/${ctx.rounds}: opening ${streams} streams`);
    const open: ClientRequest[] = [];
    try {
      await Promise.all(
        Array.from({ length: streams }, (_, index) => {
          const token = tokens[Math.floor(index / STREAMS_PER_USER)]!;
          return openWatch(server.origin, token, `device-${index % STREAMS_PER_USER}`, open);
        }),
      );
      await settle();
      const loaded = await steadyRss(server);
      before.push(mib(idle));
      after.push(mib(loaded));
      perStream.push((loaded - idle) / 1024 / streams);
    } finally {
      for (const request of open) request.destroy();
      await server.close();
    }
  }
  const f = ctx.figures;
  f.add("watch-idle.rss-before", "server RSS before the streams open", "MiB", before);
  f.add(
    "watch-idle.rss-after",
    `server RSS with ${streams.toLocaleString("en-US")} idle streams open`,
    "MiB",
    after,
    {
      baseline: "watch-idle.rss-before",
    },
  );
  f.add("watch-idle.per-stream", "server memory per idle stream", "KiB", perStream);
  ctx.notes.push(
    `${users.length} accounts × ${STREAMS_PER_USER} streams, a new server each round; RSS is the median of ` +
      `5 readings 200 ms apart, ${SETTLE_MS} ms after the accounts connected and after the streams opened.`,
  );
}

/** Opens one watch stream and resolves once the server has answered 200 and sent its headers. */
function openWatch(origin: string, token: string, sourceId: string, open: ClientRequest[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = get(`${origin}${ENDPOINTS.watch.path}?after_bundle_seq=0`, {
      headers: { authorization: `Bearer ${token}`, "oversync-source-id": sourceId },
    });
    open.push(request);
    request.on("response", (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`watch answered ${response.statusCode}`));
        return;
      }
      response.on("data", () => undefined);
      response.on("error", () => undefined);
      resolve();
    });
    // Destroying the request at the end is how a stream closes; only an error before the answer counts.
    request.on("error", (error) => reject(error));
  });
}

/** The median of five RSS readings 200 ms apart: one reading can land on either side of a GC. */
async function steadyRss(server: ServeChild): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(await server.rss());
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return median(readings);
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}
