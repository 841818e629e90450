/**
 * Builds the demo web app (demo/) into demo/dist, which `npm start` serves at /demo/.
 *
 *   npm run demo:build                                   # always
 *   node --import tsx scripts/demo-build.ts --if-stale   # npm start's prestart: only when missing or outdated
 */
import { relative } from "node:path";
import { DEMO_OUT_DIR, buildDemo, demoBuildIsStale } from "../demo/build-demo.js";

const ifStale = process.argv.includes("--if-stale");
if (!ifStale || (await demoBuildIsStale())) {
  const where = relative(process.cwd(), DEMO_OUT_DIR) || DEMO_OUT_DIR;
  process.stderr.write(`building the demo web app into ${where} …\n`);
  const started = performance.now();
  try {
    await buildDemo();
  } catch (error) {
    process.stderr.write(`the demo did not build: ${(error as Error)?.message ?? String(error)}\n`);
    // Before `npm start` the sync server matters more than the demo: it starts without it.
    process.exit(ifStale ? 0 : 1);
  }
  process.stderr.write(`demo built in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
