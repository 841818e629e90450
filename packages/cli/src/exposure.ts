/**
 * What `oversync serve` lets other machines and other origins reach: status and the test helpers
 * answer callers on this machine, callers with the admin token (`OVERSYNC_ADMIN_TOKEN`), or everyone
 * with `--public-status` / `--public-test-helpers`; `/metrics` and the dashboard's data answer the
 * same admins, never everyone; browser pages of the `--cors-origin` origins (any by default) may call
 * the sync routes. The banner says which (exposureLines).
 */
import { CliError } from "./cli-error.js";

/** The environment variable holding the admin token; not a flag, so it stays out of `ps`. */
export const ADMIN_TOKEN_ENV = "OVERSYNC_ADMIN_TOKEN";

/** The shortest admin token accepted: it opens status and the test helpers from anywhere. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** The exposure settings of a server, as ServeConfig carries them. */
export interface Exposure {
  /** Opens the admin routes to callers anywhere that send `Authorization: Bearer <token>`. */
  readonly adminToken?: string;
  /** `/syncx/status` answers everyone. */
  readonly publicStatus?: boolean;
  /** The test helpers (`/test/*`) answer everyone. */
  readonly publicTestHelpers?: boolean;
  /** Origins whose pages may call the server, or `["*"]` (the default) for any. */
  readonly corsOrigins?: readonly string[];
}

/** The admin token from `env`, or undefined when unset; a short or spaced one is refused. */
export function resolveAdminToken(env: NodeJS.ProcessEnv): string | undefined {
  const token = env[ADMIN_TOKEN_ENV];
  if (token === undefined || token === "") return undefined;
  if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new CliError(
      "invalid_config",
      `${ADMIN_TOKEN_ENV} must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces (it opens status and the test helpers to anyone who has it); generate one, e.g. with "openssl rand -hex 32"`,
    );
  }
  return token;
}

/**
 * `--cors-origin`: `*` or a comma-separated list of origins (`https://app.example.com`: scheme,
 * host and port only). Throws CliError `usage` for anything else.
 */
export function parseCorsOrigins(value: string): string[] {
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0)
    throw new CliError("usage", "--cors-origin needs * or an origin such as https://app.example.com");
  if (entries.includes("*")) {
    if (entries.length > 1)
      throw new CliError("usage", "--cors-origin takes * alone or a list of origins, not both");
    return ["*"];
  }
  return entries.map((entry) => {
    let origin: string | undefined;
    try {
      origin = new URL(entry).origin;
    } catch {
      origin = undefined;
    }
    if (
      origin === undefined ||
      origin === "null" ||
      entry.replace(/\/$/, "").toLowerCase() !== origin.toLowerCase()
    ) {
      throw new CliError(
        "usage",
        `--cors-origin ${JSON.stringify(entry)} is not an origin: give scheme, host and port only, such as http://localhost:5173`,
      );
    }
    return origin;
  });
}

/** The banner lines saying who may reach what, for a server at `url`. */
export function exposureLines(exposure: Exposure, url: string, testHooks: boolean): string[] {
  const token = exposure.adminToken !== undefined;
  const admins = token ? "this machine, or anyone with the admin token" : "this machine only";
  const origins = exposure.corsOrigins ?? ["*"];
  const lines = [
    `  health     GET ${url}/syncx/health: anyone (healthy or not, no details)`,
    `  status     GET ${url}/syncx/status: ${exposure.publicStatus === true ? "anyone (--public-status)" : admins}`,
    `  metrics    GET ${url}/metrics (Prometheus): ${admins}`,
    `  dashboard  ${url}/dashboard: ${token ? "this machine, or anyone with the admin token (the page asks for it)" : admins}`,
    `  test       ${url}/test/*${testHooks ? " (with --test-hooks)" : ""}: ${exposure.publicTestHelpers === true ? "anyone (--public-test-helpers)" : admins}`,
    `  cors       ${origins[0] === "*" ? "pages of any origin (*)" : `pages of ${origins.join(", ")}`}`,
  ];
  if (token) lines.push(`  admin      token from ${ADMIN_TOKEN_ENV}, sent as Authorization: Bearer <token>`);
  return lines;
}
