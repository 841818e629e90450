import { describe, expect, it } from "vitest";
import { AdminAccessError, checkAdminAccess, isLoopbackAddress } from "./admin-access.js";

describe("isLoopbackAddress", () => {
  it.each([
    "127.0.0.1",
    "127.1.2.3",
    "127.255.255.254",
    "::1",
    "0:0:0:0:0:0:0:1",
    "0000:0000:0000:0000:0000:0000:0000:0001",
    "::ffff:127.0.0.1",
    "::FFFF:127.9.8.7",
    "::ffff:7f00:1",
    "0:0:0:0:0:ffff:127.0.0.1",
    "[::1]",
    "::1%lo",
  ])("%s is loopback", (address) => {
    expect(isLoopbackAddress(address)).toBe(true);
  });

  it.each([
    undefined,
    "",
    "192.0.2.2",
    "10.0.2.2",
    "0.0.0.0",
    "128.0.0.1",
    "126.255.255.255",
    "127.0.0",
    "127.0.0.256",
    "127.0.0.1.5",
    "::",
    "::2",
    "1::1",
    "fe80::1",
    "fd00::2",
    "::ffff:192.0.2.2",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::127.0.0.1",
    "1:2:3:4:5:6:7:8:9",
    "::1::",
    "localhost",
    "127.0.0.1.example.com",
  ])("%s is not loopback", (address) => {
    expect(isLoopbackAddress(address)).toBe(false);
  });
});

describe("checkAdminAccess", () => {
  const TOKEN = "a-long-admin-token-1234";
  const get = (url: string, headers?: Record<string, string>) => new Request(url, { headers });
  const refusal = (run: () => void): AdminAccessError => {
    try {
      run();
    } catch (error) {
      if (error instanceof AdminAccessError) return error;
      throw error;
    }
    throw new Error("expected an AdminAccessError");
  };

  it("lets a loopback caller in without a token, at localhost or an IP address", () => {
    for (const url of [
      "http://localhost:8080/syncx/status",
      "http://127.0.0.1/syncx/status",
      "http://[::1]:1/x",
    ]) {
      expect(() =>
        checkAdminAccess(get(url), { remoteAddress: "::ffff:127.0.0.1" }, undefined),
      ).not.toThrow();
    }
    // The Android emulator reaches the host's loopback as 10.0.2.2; the Host is that address.
    expect(() =>
      checkAdminAccess(get("http://10.0.2.2:8080/syncx/status"), { remoteAddress: "127.0.0.1" }, undefined),
    ).not.toThrow();
  });

  it("refuses a remote caller, and a caller of unknown address, naming the token when there is one", () => {
    const remote = refusal(() =>
      checkAdminAccess(get("http://192.0.2.2/syncx/status"), { remoteAddress: "192.0.2.9" }, undefined),
    );
    expect(remote).toMatchObject({ code: "admin_access_denied", status: 403 });
    expect(remote.message).toContain("/syncx/status answers only callers on the server's machine");
    expect(remote.message).not.toContain("admin token");
    const unknown = refusal(() =>
      checkAdminAccess(get("http://localhost/syncx/status"), undefined, { token: TOKEN }),
    );
    expect(unknown.message).toContain("send the admin token as Authorization: Bearer <token>");
  });

  it("lets anyone with the token in, and only with exactly the token", () => {
    const remote = { remoteAddress: "203.0.113.7" };
    const url = "http://sync.example.com/syncx/status";
    expect(() =>
      checkAdminAccess(get(url, { authorization: `Bearer ${TOKEN}` }), remote, { token: TOKEN }),
    ).not.toThrow();
    expect(() =>
      checkAdminAccess(get(url, { authorization: `bearer ${TOKEN}` }), remote, { token: TOKEN }),
    ).not.toThrow();
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, TOKEN, `Basic ${TOKEN}`]) {
      refusal(() => checkAdminAccess(get(url, { authorization }), remote, { token: TOKEN }));
    }
  });

  it("with loopback: false, a loopback caller needs the token too (a proxy on the same machine)", () => {
    const local = { remoteAddress: "127.0.0.1" };
    const url = "http://localhost/syncx/status";
    const access = { token: TOKEN, loopback: false };
    expect(refusal(() => checkAdminAccess(get(url), local, access)).message).toContain(
      "send the admin token",
    );
    expect(() =>
      checkAdminAccess(get(url, { authorization: `Bearer ${TOKEN}` }), local, access),
    ).not.toThrow();
  });

  it("refuses a browser page of another site calling through loopback, and DNS rebinding", () => {
    const local = { remoteAddress: "127.0.0.1" };
    const url = "http://127.0.0.1:8080/test/server-sql";
    const crossSite: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: "http://localhost:5173" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const headers of crossSite) {
      const error = refusal(() => checkAdminAccess(get(url, headers), local, undefined));
      expect(error.message).toContain("does not answer web pages of other origins");
    }
    expect(() =>
      checkAdminAccess(
        get(url, { origin: "http://127.0.0.1:8080", "sec-fetch-site": "same-origin" }),
        local,
        undefined,
      ),
    ).not.toThrow();
    const rebound = refusal(() =>
      checkAdminAccess(get("http://rebind.example:8080/syncx/status"), local, undefined),
    );
    expect(rebound.message).toContain('not at host "rebind.example"');
  });
});
