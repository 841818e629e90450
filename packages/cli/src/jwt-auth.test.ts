import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  DEV_JWT_SECRET,
  TOKEN_ISSUER,
  createJwtAuth,
  resolveJwtSecret,
} from "./jwt-auth.js";

const SECRET = "a-test-secret-of-reasonable-length";
const key = new TextEncoder().encode(SECRET);
const auth = createJwtAuth({ secret: SECRET, ttlSeconds: 600 });

function bearer(token: string, scheme = "Bearer"): Request {
  return new Request("http://localhost/sync/pull", { headers: { authorization: `${scheme} ${token}` } });
}

/** A token signed with our secret, with the given claims and algorithm. */
function forge(claims: { sub?: string; iss?: string; exp?: number }, alg = "HS256"): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg }).setIssuedAt();
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(key);
}

const now = () => Math.floor(Date.now() / 1000);

describe("JWT auth", () => {
  it("issues a token whose subject authenticates as the user", async () => {
    const issued = await auth.issueToken("alice-123");
    expect(issued.expiresIn).toBe(600);
    const alice = { userId: "alice-123", workspaces: [] };
    expect(await auth.authenticate(bearer(issued.token))).toStrictEqual(alice);
    expect(await auth.authenticate(bearer(issued.token, "bearer"))).toStrictEqual(alice);
  });

  it("carries workspace membership in a `workspaces` claim, once per workspace", async () => {
    const { token } = await auth.issueToken("carol", { workspaces: ["team-1", "Design_2", "team-1"] });
    expect(await auth.authenticate(bearer(token))).toStrictEqual({
      userId: "carol",
      workspaces: ["team-1", "Design_2"],
    });
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(payload.workspaces).toStrictEqual(["team-1", "Design_2"]);
    // Without workspaces the token has no such claim, as before.
    const plain = (await auth.issueToken("dave")).token;
    expect(JSON.parse(Buffer.from(plain.split(".")[1]!, "base64url").toString())).not.toHaveProperty(
      "workspaces",
    );
  });

  it.each([
    ["a dot segment", [".."]],
    ["a slash", ["a/b"]],
    ["an empty id", [""]],
    ["an id of 65 characters", ["x".repeat(65)]],
    ["65 workspaces", Array.from({ length: 65 }, (_, index) => `w${index}`)],
  ])("refuses to issue a token for %s", async (_name, workspaces) => {
    await expect(auth.issueToken("erin", { workspaces })).rejects.toThrow(RangeError);
  });

  it("refuses a subject in the workspace scope namespace and a malformed workspaces claim", async () => {
    const signed = (sub: string, claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(sub)
        .setIssuer(TOKEN_ISSUER)
        .setIssuedAt()
        .setExpirationTime(now() + 60)
        .sign(key);
    expect(await auth.authenticate(bearer(await signed("workspace:team-1", {})))).toBeNull();
    expect(await auth.authenticate(bearer(await signed("frank", { workspaces: "team-1" })))).toBeNull();
    expect(await auth.authenticate(bearer(await signed("frank", { workspaces: ["../x"] })))).toBeNull();
    expect(await auth.authenticate(bearer(await signed("frank", { workspaces: ["ok"] })))).toStrictEqual({
      userId: "frank",
      workspaces: ["ok"],
    });
  });

  it("writes the documented claims: sub, iss, iat, nbf and exp = iat + lifetime", async () => {
    const { token } = await auth.issueToken("bob");
    const [header, payload] = token
      .split(".")
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
    expect(header).toStrictEqual({ alg: "HS256", typ: "JWT" });
    expect(payload).toMatchObject({ sub: "bob", iss: TOKEN_ISSUER });
    expect(payload.exp - payload.iat).toBe(600);
    expect(payload.nbf).toBe(payload.iat);
  });

  it("defaults to a 24-hour lifetime", async () => {
    expect(DEFAULT_TOKEN_TTL_SECONDS).toBe(86_400);
    expect((await createJwtAuth({ secret: SECRET }).issueToken("u")).expiresIn).toBe(86_400);
  });

  it.each([
    ["an expired token", () => forge({ sub: "u", iss: TOKEN_ISSUER, exp: now() - 60 })],
    ["a token without exp", () => forge({ sub: "u", iss: TOKEN_ISSUER })],
    ["a token without sub", () => forge({ iss: TOKEN_ISSUER, exp: now() + 60 })],
    ["a token from another issuer", () => forge({ sub: "u", iss: "go-oversync-examples", exp: now() + 60 })],
    ["a token signed with HS512", () => forge({ sub: "u", iss: TOKEN_ISSUER, exp: now() + 60 }, "HS512")],
    [
      "an unsigned (alg none) token",
      async () =>
        new UnsecuredJWT({})
          .setSubject("u")
          .setIssuer(TOKEN_ISSUER)
          .setExpirationTime(now() + 60)
          .encode(),
    ],
    [
      "a token signed with another secret",
      async () => (await createJwtAuth({ secret: "other" }).issueToken("u")).token,
    ],
    ["a tampered token", async () => `${(await auth.issueToken("u")).token.slice(0, -2)}xx`],
  ])("refuses %s", async (_case, make) => {
    expect(await auth.authenticate(bearer(await make()))).toBeNull();
  });

  it("still refuses a token it verified before once that token expires", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const shortLived = createJwtAuth({ secret: SECRET, ttlSeconds: 60 });
      const { token } = await shortLived.issueToken("u");
      const issuedAt = Date.now();
      expect(await shortLived.authenticate(bearer(token))).toEqual({ userId: "u", workspaces: [] });
      // Inside the clock tolerance after exp, then past it.
      vi.setSystemTime(issuedAt + 63_000);
      expect(await shortLived.authenticate(bearer(token))).toEqual({ userId: "u", workspaces: [] });
      vi.setSystemTime(issuedAt + 66_000);
      expect(await shortLived.authenticate(bearer(token))).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses requests without a bearer token", async () => {
    const { token } = await auth.issueToken("u");
    expect(await auth.authenticate(new Request("http://localhost/"))).toBeNull();
    expect(await auth.authenticate(bearer(token, "Basic"))).toBeNull();
    expect(await auth.authenticate(bearer(`${token} extra`))).toBeNull();
    expect(await auth.authenticate(bearer(""))).toBeNull();
  });

  it("refuses a lifetime that is not a positive whole number of seconds", () => {
    for (const ttlSeconds of [0, -1, 1.5, Number.NaN]) {
      expect(() => createJwtAuth({ secret: SECRET, ttlSeconds })).toThrow(RangeError);
    }
  });

  it("takes JWT_SECRET from the environment, else the development default", () => {
    expect(resolveJwtSecret({ JWT_SECRET: "s3cret" })).toStrictEqual({
      secret: "s3cret",
      isDevDefault: false,
    });
    expect(resolveJwtSecret({})).toStrictEqual({ secret: DEV_JWT_SECRET, isDevDefault: true });
    expect(resolveJwtSecret({ JWT_SECRET: "" })).toStrictEqual({
      secret: DEV_JWT_SECRET,
      isDevDefault: true,
    });
  });
});
