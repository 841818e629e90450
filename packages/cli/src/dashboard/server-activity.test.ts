import { describe, expect, it } from "vitest";
import type { JsonLogger } from "../json-log.js";
import { ServerActivity } from "./server-activity.js";

/** A logger that keeps its lines. */
function keeping() {
  const lines: [string, string, unknown][] = [];
  const logger: JsonLogger = {
    info: (message, details) => lines.push(["info", message, details]),
    warn: (message, details) => lines.push(["warn", message, details]),
    error: (message, details) => lines.push(["error", message, details]),
  };
  return { lines, logger };
}

describe("ServerActivity", () => {
  it("passes every line on, and learns scopes, users and sources from request lines", () => {
    let now = 1_000;
    const activity = new ServerActivity({ now: () => now });
    const { lines, logger } = keeping();
    const log = activity.tap(logger);
    const finished = (scopeId: string, userId: string, sourceId: string, endpoint: string) =>
      log.info("request finished", { endpoint, status: 200, scopeId, userId, sourceId });
    finished("ada", "ada", "phone", "pull");
    now = 2_000;
    finished("workspace:team", "bob", "laptop", "pushCommit");
    now = 3_000;
    finished("workspace:team", "cy", "tablet", "watch");
    now = 4_000;
    finished("ada", "ada", "laptop", "connect");
    log.info("request finished", { endpoint: "dummySignin", status: 200 });
    expect(lines).toHaveLength(5);
    expect(activity.recentScopes(10)).toStrictEqual([
      {
        scopeId: "ada",
        lastSeen: 4_000,
        userIds: ["ada"],
        sources: [
          { sourceId: "laptop", lastSeen: 4_000, lastEndpoint: "connect" },
          { sourceId: "phone", lastSeen: 1_000, lastEndpoint: "pull" },
        ],
      },
      {
        scopeId: "workspace:team",
        lastSeen: 3_000,
        userIds: ["cy", "bob"],
        sources: [
          { sourceId: "tablet", lastSeen: 3_000, lastEndpoint: "watch" },
          { sourceId: "laptop", lastSeen: 2_000, lastEndpoint: "pushCommit" },
        ],
      },
    ]);
    expect(activity.recentScopes(1).map((scope) => scope.scopeId)).toStrictEqual(["ada"]);
  });

  it("keeps the most recently active scopes and sources within its limits", () => {
    const activity = new ServerActivity({ limits: { scopes: 3, sourcesPerScope: 2 } });
    for (const scope of ["a", "b", "c", "d"]) activity.noteRequest(scope, scope, "s", "pull");
    activity.noteRequest("b", "b", "s", "pull");
    activity.noteRequest("e", "e", "s", "pull");
    expect(activity.scopeIds()).toStrictEqual(["e", "b", "d"]);
    for (const source of ["s1", "s2", "s3"]) activity.noteRequest("e", "e", source, "pull");
    expect(activity.recentScopes(1)[0]!.sources.map((source) => source.sourceId)).toStrictEqual(["s3", "s2"]);
  });

  it("remembers the last errors: error and warning lines and 5xx answers, without query strings", () => {
    const activity = new ServerActivity({
      now: () => Date.parse("2026-05-01T12:00:00Z"),
      limits: { errors: 3 },
    });
    const log = activity.tap(keeping().logger);
    log.info("request", { method: "GET", path: "/sync/pull", status: 200, duration_ms: 3 });
    log.info("request", { method: "GET", path: "/sync/pull", status: 503, duration_ms: 3, user_id: "ada" });
    log.error("sync request failed unexpectedly", {
      method: "POST",
      url: "http://127.0.0.1:8080/sync/push-sessions?secret=1",
      code: "push_commit_failed",
      scopeId: "ada",
      userId: "ada",
      error: Object.assign(new Error("connection reset"), { code: "ECONNRESET" }),
    });
    log.warn("status counters read failed", { error: "timeout" });
    expect(activity.latestErrors()).toStrictEqual([
      {
        time: "2026-05-01T12:00:00.000Z",
        level: "warn",
        message: "status counters read failed",
        detail: "timeout",
      },
      {
        time: "2026-05-01T12:00:00.000Z",
        level: "error",
        message: "sync request failed unexpectedly",
        detail: "Error: connection reset [ECONNRESET]",
        path: "/sync/push-sessions",
        code: "push_commit_failed",
        userId: "ada",
        scopeId: "ada",
      },
      {
        time: "2026-05-01T12:00:00.000Z",
        level: "error",
        message: "GET /sync/pull answered 503",
        status: 503,
        path: "/sync/pull",
        userId: "ada",
      },
    ]);
    log.error("one more");
    expect(activity.latestErrors().map((entry) => entry.message)).toStrictEqual([
      "one more",
      "status counters read failed",
      "sync request failed unexpectedly",
    ]);
  });
});
