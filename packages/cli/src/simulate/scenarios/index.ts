/** Every scenario, in the order `all` runs them, and the names `--scenario` accepts. */
import { CliError } from "../../cli-error.js";
import type { Scenario } from "../scenario.js";
import { CONFLICT_SCENARIOS } from "./conflicts.js";
import { INSTALL_SCENARIOS } from "./install.js";
import { MULTI_BATCH_SCENARIOS } from "./multi-batch.js";
import { MULTI_DEVICE_SCENARIOS } from "./multi-device.js";
import { SESSION_SCENARIOS } from "./sessions.js";
import { VALUE_SCENARIOS } from "./values.js";
import { WATCH_SCENARIOS } from "./watch.js";

/** In the order `all` runs them: single-device stories first, the watch family last. */
export const SCENARIOS: readonly Scenario[] = [
  ...INSTALL_SCENARIOS,
  ...MULTI_DEVICE_SCENARIOS,
  ...MULTI_BATCH_SCENARIOS,
  ...CONFLICT_SCENARIOS,
  ...VALUE_SCENARIOS,
  ...SESSION_SCENARIOS,
  ...WATCH_SCENARIOS,
];

/** The scenario called `name`; an unknown name is a usage error listing the known ones. */
export function scenarioByName(name: string): Scenario {
  const scenario = SCENARIOS.find((candidate) => candidate.name === name);
  if (scenario === undefined) {
    throw new CliError(
      "usage",
      `unknown scenario ${JSON.stringify(name)}; choose from: ${SCENARIOS.map((known) => known.name).join(", ")}, all, watch-all`,
    );
  }
  return scenario;
}

/**
 * The names a `--scenario` value stands for: `all`, `watch-all` (every watch-* scenario), or one or
 * more names separated by commas.
 */
export function resolveScenarioNames(value: string): string[] {
  const names = value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .flatMap((part) => {
      if (part === "all") return SCENARIOS.map((scenario) => scenario.name);
      if (part === "watch-all") {
        return SCENARIOS.filter((scenario) => scenario.name.startsWith("watch-")).map(
          (scenario) => scenario.name,
        );
      }
      return [scenarioByName(part).name];
    });
  if (names.length === 0) throw new CliError("usage", "--scenario needs a scenario name, all or watch-all");
  return [...new Set(names)];
}
