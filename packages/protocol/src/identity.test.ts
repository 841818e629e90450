import { describe, expect, it } from "vitest";
import { MAX_IDENTITY_BYTES, scopeIdProblem, sourceIdProblem, userIdProblem } from "./identity.js";

describe("userIdProblem", () => {
  it("accepts well-formed ids up to MAX_IDENTITY_BYTES of UTF-8, whatever their script", () => {
    for (const ok of ["alice", "dart-1712345678901234-42", "Zoë 🚀", "é".repeat(MAX_IDENTITY_BYTES / 2)]) {
      expect(userIdProblem(ok), ok).toBeUndefined();
    }
  });

  it("counts UTF-8 bytes, not UTF-16 units: 257 two-byte characters are too long", () => {
    expect(userIdProblem("é".repeat(MAX_IDENTITY_BYTES / 2 + 1))).toBe(
      `is ${MAX_IDENTITY_BYTES + 2} bytes in UTF-8, more than the ${MAX_IDENTITY_BYTES} allowed`,
    );
    expect(userIdProblem("x".repeat(MAX_IDENTITY_BYTES + 1))).toMatch(/more than the 512 allowed/);
  });

  it.each([
    ["a lone high surrogate", "victim\ud800", /lone surrogate U\+D800 at index 6/],
    ["a lone low surrogate", "\udc00victim", /lone surrogate U\+DC00 at index 0/],
    ["swapped halves", "\ude80\ud83d", /lone surrogate U\+DE80/],
    ["NUL", "a\u0000b", /U\+0000/],
    ["the empty string", "", /non-empty/],
    ["a non-string", 42, /non-empty string/],
  ])("refuses %s", (_name, value, reason) => {
    expect(userIdProblem(value)).toMatch(reason);
  });
});

describe("scopeIdProblem", () => {
  it("keeps the user id rules: a user's own scope is named by the user id", () => {
    for (const value of [
      "alice",
      "workspace:team-1",
      "Zoë 🚀",
      "",
      "a\u0000b",
      "x\ud800",
      "x".repeat(513),
      7,
    ]) {
      expect(scopeIdProblem(value), String(value)).toBe(userIdProblem(value));
    }
    expect(scopeIdProblem("workspace:team-1")).toBeUndefined();
    expect(scopeIdProblem("")).toMatch(/non-empty/);
  });
});

describe("sourceIdProblem", () => {
  it("keeps the wire rule and adds the length limit", () => {
    expect(sourceIdProblem("s".repeat(MAX_IDENTITY_BYTES))).toBeUndefined();
    expect(sourceIdProblem("s".repeat(MAX_IDENTITY_BYTES + 1))).toBe(
      `is ${MAX_IDENTITY_BYTES + 1} bytes, more than the ${MAX_IDENTITY_BYTES} allowed`,
    );
    for (const bad of ["", "a b", "é", "nul\u0000", 5]) {
      expect(sourceIdProblem(bad)).toBe("must be one or more visible ASCII characters (0x21-0x7E)");
    }
  });
});
