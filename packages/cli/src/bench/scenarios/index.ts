/** The scenarios by name: a title for the report, where the server runs, and the code. */
import type { BenchScenarioName } from "../bench-args.js";
import type { BenchContext } from "../context.js";
import { runBrowser } from "./browser.js";
import { runCatchUp } from "./catch-up.js";
import { runChurn } from "./churn.js";
import { runClientCapture } from "./client-capture.js";
import { runClientSync } from "./client-sync.js";
import { runLatency } from "./latency.js";
import { runRestoreLarge } from "./restore-large.js";
import { runScale } from "./scale.js";
import { runServerLoad } from "./server-load.js";
import { runServerPush } from "./server-push.js";
import { runWatchIdle } from "./watch-idle.js";

export interface Scenario {
  readonly title: string;
  readonly server: string;
  run(ctx: BenchContext): Promise<void>;
}

const SERVICE = "service calls in the bench process (no HTTP)";
const CHILD = "`oversync serve` child process, HTTP on loopback";

export const SCENARIO_RUNNERS: Readonly<Record<BenchScenarioName, Scenario>> = {
  "server-push": { title: "Server push, pull and snapshot", server: SERVICE, run: runServerPush },
  "client-capture": {
    title: "Client writes with capture",
    server: "none (SQLite only)",
    run: runClientCapture,
  },
  "client-sync": { title: "Client sync end to end", server: CHILD, run: runClientSync },
  "restore-large": { title: "Large restore and client memory", server: CHILD, run: runRestoreLarge },
  "catch-up": { title: "Catch-up pull of many small bundles", server: CHILD, run: runCatchUp },
  latency: { title: "Latency on loopback", server: CHILD, run: runLatency },
  churn: { title: "Tables of work in progress under sustained load", server: SERVICE, run: runChurn },
  "server-load": { title: "Server under load", server: CHILD, run: runServerLoad },
  "watch-idle": { title: "Idle watch streams", server: CHILD, run: runWatchIdle },
  scale: { title: "Cost as the database grows", server: CHILD, run: runScale },
  browser: { title: "The client in Chromium on OPFS", server: CHILD, run: runBrowser },
};
