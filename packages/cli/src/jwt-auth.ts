/**
 * The reference server's sign-in tokens: HS256 JWTs whose subject is the user id and whose
 * `workspaces` claim, when present, lists the workspaces the user is a member of. Issued by
 * `POST /dummy-signin`, checked on every sync call. Only HS256 is accepted (no `none`, no key
 * confusion with asymmetric algorithms), the issuer must be ours, and `exp` must be present and
 * in the future.
 */
import { MAX_SIGNIN_WORKSPACES, WORKSPACE_ID_PATTERN } from "@oversync/protocol";
import { SignJWT, errors, jwtVerify } from "jose";
import { isWorkspaceScopeId } from "./workspaces.js";

/** The `iss` of every token this server issues and accepts. */
export const TOKEN_ISSUER = "oversync-reference";

/**
 * Default token lifetime: 24 hours. The upstream example issued 5-minute tokens; heavy live-suite
 * runs outlast that, and the clients do not refresh tokens mid-run.
 */
export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 60 * 60;

/** The secret used when JWT_SECRET is unset: fine on a laptop, never in production. */
export const DEV_JWT_SECRET = "oversync-dev-secret-change-me-set-JWT_SECRET";

/** Clock skew tolerated when checking `exp` and `nbf`, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** The secret to sign with and whether it is the development default. */
export interface JwtSecret {
  readonly secret: string;
  readonly isDevDefault: boolean;
}

/** Reads JWT_SECRET from `env`, falling back to the development default. */
export function resolveJwtSecret(env: NodeJS.ProcessEnv): JwtSecret {
  const secret = env.JWT_SECRET;
  if (secret === undefined || secret === "") return { secret: DEV_JWT_SECRET, isDevDefault: true };
  return { secret, isDevDefault: false };
}

/** An issued token and how long it lives. */
export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
}

/** Who a valid token names. */
export interface TokenUser {
  readonly userId: string;
  /** The workspaces the token makes the user a member of (none when it carries no claim). */
  readonly workspaces: readonly string[];
}

/** Issues and checks the server's bearer tokens. */
export interface JwtAuth {
  /**
   * A token for `userId` that lives `ttlSeconds`, making them a member of `workspaces` (ids of
   * WORKSPACE_ID_PATTERN; RangeError otherwise).
   */
  issueToken(userId: string, options?: { readonly workspaces?: readonly string[] }): Promise<IssuedToken>;
  /**
   * The user of `Authorization: Bearer <token>`, or null when the header or token is missing or bad
   * (a subject in the workspace scope namespace included: no token may name a workspace's scope as
   * a user's own).
   */
  authenticate(request: Request): Promise<TokenUser | null>;
}

/** Options of createJwtAuth. */
export interface JwtAuthOptions {
  readonly secret: string;
  /** Token lifetime in seconds. Default DEFAULT_TOKEN_TTL_SECONDS. */
  readonly ttlSeconds?: number;
}

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i;

/**
 * Tokens already verified, with their user, until they expire. A device sends the same token with
 * every request, and verifying it (key import and HMAC through WebCrypto) cost about 0.8 ms of CPU
 * per request in a profile of the reference server; a token string is its signature, so an equal
 * string needs no second check. Oldest first out beyond the bound.
 */
const VERIFIED_TOKENS_LIMIT = 10_000;

/** Builds the token issuer and checker for one secret. */
export function createJwtAuth(options: JwtAuthOptions): JwtAuth {
  const key = new TextEncoder().encode(options.secret);
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`token lifetime ${ttlSeconds} must be a positive whole number of seconds`);
  }
  const verified = new Map<string, { readonly user: TokenUser; readonly validUntilMillis: number }>();
  return {
    async issueToken(userId, issueOptions = {}) {
      const workspaces = [...new Set(issueOptions.workspaces ?? [])];
      if (!isWorkspaceList(workspaces)) {
        throw new RangeError(
          `workspaces must be at most ${MAX_SIGNIN_WORKSPACES} ids of 1-64 ASCII letters, digits, _ or -`,
        );
      }
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT(workspaces.length === 0 ? {} : { workspaces })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(userId)
        .setIssuer(TOKEN_ISSUER)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + ttlSeconds)
        .sign(key);
      return { token, expiresIn: ttlSeconds };
    },
    async authenticate(request) {
      const match = BEARER.exec(request.headers.get("authorization") ?? "");
      if (match === null) return null;
      const token = match[1]!;
      const known = verified.get(token);
      if (known !== undefined && Date.now() < known.validUntilMillis) return known.user;
      verified.delete(token);
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          issuer: TOKEN_ISSUER,
          requiredClaims: ["exp", "sub"],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        });
        const userId = payload.sub;
        if (typeof userId !== "string" || userId === "" || isWorkspaceScopeId(userId)) return null;
        const workspaces = payload.workspaces ?? [];
        if (!isWorkspaceList(workspaces)) return null;
        const user = { userId, workspaces };
        if (verified.size >= VERIFIED_TOKENS_LIMIT) verified.delete(verified.keys().next().value!);
        // jwtVerify required exp; the tolerance it allows past exp is allowed here too.
        verified.set(token, { user, validUntilMillis: (payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000 });
        return user;
      } catch (error) {
        // Any verification failure means "not authenticated"; anything else is a bug to surface.
        if (error instanceof errors.JOSEError) return null;
        throw error;
      }
    },
  };
}

function isWorkspaceList(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length <= MAX_SIGNIN_WORKSPACES &&
    value.every((id) => typeof id === "string" && WORKSPACE_ID_PATTERN.test(id))
  );
}
