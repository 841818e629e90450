import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./cli-args.js";
import { ADMIN_TOKEN_ENV, exposureLines, parseCorsOrigins, resolveAdminToken } from "./exposure.js";

describe("serve exposure settings", () => {
  it("parses --public-status, --public-test-helpers and --cors-origin; absent means closed and any origin", () => {
    const command = parseCommandLine([
      "serve",
      "--public-status",
      "--public-test-helpers",
      "--cors-origin",
      "https://app.example.com, http://localhost:5173/",
    ]);
    expect(command.kind === "serve" ? command.args : undefined).toMatchObject({
      publicStatus: true,
      publicTestHelpers: true,
      corsOrigins: ["https://app.example.com", "http://localhost:5173"],
    });
    const plain = parseCommandLine(["serve"]);
    expect(plain.kind === "serve" ? Object.keys(plain.args) : []).not.toContain("publicStatus");
    expect(plain.kind === "serve" ? plain.args.corsOrigins : "absent").toBeUndefined();
  });

  it("takes * alone as any origin and refuses what is not an origin", () => {
    expect(parseCorsOrigins("*")).toStrictEqual(["*"]);
    for (const [value, message] of [
      ["", "--cors-origin needs * or an origin"],
      ["*,https://a.example", "takes * alone"],
      ["https://a.example/app", "is not an origin"],
      ["a.example", "is not an origin"],
      ["https://user@a.example", "is not an origin"],
    ] as const) {
      expect(() => parseCorsOrigins(value), value).toThrow(message);
    }
  });

  it("reads the admin token from the environment and refuses a short or spaced one", () => {
    expect(resolveAdminToken({})).toBeUndefined();
    expect(resolveAdminToken({ [ADMIN_TOKEN_ENV]: "" })).toBeUndefined();
    expect(resolveAdminToken({ [ADMIN_TOKEN_ENV]: "0123456789abcdef" })).toBe("0123456789abcdef");
    for (const token of ["0123456789abcde", "0123456789 abcdef"]) {
      expect(() => resolveAdminToken({ [ADMIN_TOKEN_ENV]: token })).toThrow(
        expect.objectContaining({ code: "invalid_config" }),
      );
    }
  });

  it("says who may reach what, never printing the token", () => {
    const url = "http://127.0.0.1:8080";
    expect(exposureLines({}, url, false)).toStrictEqual([
      "  health     GET http://127.0.0.1:8080/syncx/health: anyone (healthy or not, no details)",
      "  status     GET http://127.0.0.1:8080/syncx/status: this machine only",
      "  metrics    GET http://127.0.0.1:8080/metrics (Prometheus): this machine only",
      "  dashboard  http://127.0.0.1:8080/dashboard: this machine only",
      "  test       http://127.0.0.1:8080/test/*: this machine only",
      "  cors       pages of any origin (*)",
    ]);
    const open = exposureLines(
      {
        adminToken: "a-secret-admin-token",
        publicTestHelpers: true,
        corsOrigins: ["https://app.example.com"],
      },
      url,
      true,
    );
    expect(open).toStrictEqual([
      "  health     GET http://127.0.0.1:8080/syncx/health: anyone (healthy or not, no details)",
      "  status     GET http://127.0.0.1:8080/syncx/status: this machine, or anyone with the admin token",
      "  metrics    GET http://127.0.0.1:8080/metrics (Prometheus): this machine, or anyone with the admin token",
      "  dashboard  http://127.0.0.1:8080/dashboard: this machine, or anyone with the admin token (the page asks for it)",
      "  test       http://127.0.0.1:8080/test/* (with --test-hooks): anyone (--public-test-helpers)",
      "  cors       pages of https://app.example.com",
      `  admin      token from ${ADMIN_TOKEN_ENV}, sent as Authorization: Bearer <token>`,
    ]);
    expect(open.join("\n")).not.toContain("a-secret-admin-token");
  });
});
