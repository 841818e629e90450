/** The version `oversync --version` prints. */
import { readFileSync } from "node:fs";

/** This package's version, from its package.json (one folder up from both src/ and dist/). */
export function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  return (manifest as { version: string }).version;
}
