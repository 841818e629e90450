/**
 * What the Chromium suites share: Debian's Chromium driven by playwright-core, and the rule for a
 * machine without it. Without /usr/bin/chromium a suite is skipped, saying so, unless
 * OVERSYNC_REQUIRE_BROWSER=1 (set by CI), which makes a missing browser a failure.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { describe, expect, it } from "vitest";

export const CHROMIUM = "/usr/bin/chromium";

/** Headless, without the sandbox (containers) or a GPU, and no background traffic. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
];

/** Starts Debian's Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * `describe(title, body)` when Chromium is installed; otherwise a skipped suite that says why, or,
 * under OVERSYNC_REQUIRE_BROWSER=1, a failing one.
 */
export function describeInChromium(title: string, body: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(title, body);
  } else if (process.env.OVERSYNC_REQUIRE_BROWSER === "1") {
    describe(title, () => {
      it("needs Chromium (OVERSYNC_REQUIRE_BROWSER=1)", () => {
        expect.fail(
          `${CHROMIUM} is missing; install it (apt-get install -y chromium) or unset OVERSYNC_REQUIRE_BROWSER`,
        );
      });
    });
  } else {
    // Reported as skipped, never as passed.
    describe.skip(`${title} (skipped: no ${CHROMIUM}; apt-get install chromium)`, () => {
      it("runs in Chromium", () => {});
    });
  }
}
