/** The machine a run measured, recorded with every result so figures are never read without it. */
import { cpus, loadavg, release, totalmem, type } from "node:os";
import { postgresVersion } from "./bench-db.js";
import type { MachineDescription } from "./results.js";

/** Everything but the load average at the end, which the runner adds when the run is over. */
export async function describeThisMachine(
  adminUrl: string,
): Promise<Omit<MachineDescription, "loadAverage">> {
  const processors = cpus();
  return {
    cpu: processors[0]?.model.trim() ?? "unknown CPU",
    cores: processors.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${type()} ${release()}`,
    node: process.version,
    postgres: await postgresVersion(adminUrl),
  };
}

/** The 1-minute load average (0 where the OS does not report one). */
export function loadNow(): number {
  return loadavg()[0] ?? 0;
}
