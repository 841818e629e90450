/**
 * Runs every benchmark scenario and writes the results to bench/results/latest.md (and prints
 * them). Sizes: BENCH_ROWS rows per operation (default 10000), BENCH_ROUNDS rounds (default 3,
 * the median is reported). Run with `npm run bench`.
 */
import { writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchChurn } from "./churn.js";
import { benchClientCapture } from "./client-capture.js";
import { benchClientSync } from "./client-sync.js";
import { benchLatency } from "./latency.js";
import { type Measurement, describe, describeLatency } from "./measure.js";
import { benchServerPush } from "./server-push.js";

const rows = Number(process.env.BENCH_ROWS ?? 10_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const latencySamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);

const sections: [string, Measurement[]][] = [
  ["Server push, pull and snapshot (service calls, real PostgreSQL)", await benchServerPush(rows, rounds)],
  ["Client writes with capture (better-sqlite3, real file)", await benchClientCapture(rows, rounds)],
  [
    "Client sync end to end (HTTP on loopback, real PostgreSQL and SQLite files)",
    await benchClientSync(rows, rounds),
  ],
];

const lines = [
  "# oversync benchmarks",
  "",
  `${new Date().toISOString()} · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? "cpu"} · median of ${rounds} rounds`,
  "",
];
for (const [title, measurements] of sections) {
  lines.push(`## ${title}`, "", "| operation | time | throughput | vs limit |", "|---|---|---|---|");
  lines.push(...measurements.map(describe), "");
}
lines.push(
  `## Latency on loopback (${latencySamples} samples, real PostgreSQL and SQLite files)`,
  "",
  "| operation | p50 | p99 | p50 vs limit |",
  "|---|---|---|---|",
  ...(await benchLatency(latencySamples)).map(describeLatency),
  "",
);
const churnSeconds = Number(process.env.BENCH_CHURN_SECONDS ?? 60);
const churnUsers = Number(process.env.BENCH_CHURN_USERS ?? 8);
const churn = await benchChurn(churnSeconds, churnUsers);
const halfway = churn[Math.floor((churn.length - 1) / 2)]!;
const last = churn.at(-1)!;
lines.push(
  `## Tables of work in progress under sustained load (${churnUsers} users, ${churnSeconds} s, service calls)`,
  "",
  `${last.bundles} bundles committed; a snapshot every 20 bundles per user. Sizes (KiB) halfway and at the end:`,
  "",
  "| table | halfway | end |",
  "|---|---|---|",
  ...Object.keys(last.kib).map((table) => `| ${table} | ${halfway.kib[table]} | ${last.kib[table]} |`),
  "",
);
const text = lines.join("\n");
console.log(text);
await writeFile(join(dirname(fileURLToPath(import.meta.url)), "results", "latest.md"), text);
