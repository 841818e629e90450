import { describe, expect, it } from "vitest";
import {
  DEFAULT_BUNDLE_LIMITS,
  FEATURE_NAMES,
  INT32_MAX,
  INT64_LIMIT_NAMES,
  OPTIONAL_LIMIT_NAMES,
  REQUIRED_LIMIT_NAMES,
  isValidSourceId,
  negotiateSnapshotLimits,
  serverFeatures,
} from "./capabilities.js";
import { ProtocolViolationError } from "./protocol-violation.js";

describe("features", () => {
  it("advertises 20 boolean flags, checkpoint tracking off and watch as configured", () => {
    expect(FEATURE_NAMES).toHaveLength(20);
    const on = serverFeatures({ bundleChangeWatch: true });
    expect(Object.values(on).every((value) => typeof value === "boolean")).toBe(true);
    expect(on.server_checkpoint_tracking).toBe(false);
    expect(on.connect_lifecycle).toBe(true);
    expect(on.bundle_change_watch).toBe(true);
    expect(Object.values(on).filter(Boolean)).toHaveLength(19);
    expect(serverFeatures({ bundleChangeWatch: false }).bundle_change_watch).toBe(false);
  });
});

describe("limits", () => {
  it("defaults every required limit to a positive value within its KMP integer width", () => {
    for (const name of REQUIRED_LIMIT_NAMES) expect(DEFAULT_BUNDLE_LIMITS[name]).toBeGreaterThan(0);
    for (const name of [...REQUIRED_LIMIT_NAMES, ...OPTIONAL_LIMIT_NAMES]) {
      const value = DEFAULT_BUNDLE_LIMITS[name];
      if (value !== undefined && !INT64_LIMIT_NAMES.has(name)) expect(value).toBeLessThanOrEqual(INT32_MAX);
    }
  });

  it("passes our own defaults through the client checks", () => {
    expect(negotiateSnapshotLimits(DEFAULT_BUNDLE_LIMITS)).toEqual({
      maxRows: 1000,
      maxBytes: 4194304,
      maxRowBytes: 4194304,
    });
  });

  it("rejects each broken rule with a message naming it", () => {
    const broken = (patch: Partial<typeof DEFAULT_BUNDLE_LIMITS>, pattern: RegExp) => {
      expect(() => negotiateSnapshotLimits({ ...DEFAULT_BUNDLE_LIMITS, ...patch })).toThrow(pattern);
    };
    broken({ max_concurrent_snapshot_builds: 0 }, /max_concurrent_snapshot_builds 0 must be positive/);
    broken({ default_rows_per_snapshot_chunk: 5000 }, /default_rows_per_snapshot_chunk exceeds/);
    broken({ default_bytes_per_snapshot_chunk: 20000000 }, /default_bytes_per_snapshot_chunk exceeds/);
    broken(
      { max_bytes_per_snapshot_chunk: 4194304, max_bytes_per_snapshot_row: 4194305 },
      /exceeds max_bytes_per_snapshot_chunk/,
    );
    broken({ max_bytes_per_snapshot_row: 4194305 }, /chunk byte budget 4194304 is below/);
    expect(() =>
      negotiateSnapshotLimits(DEFAULT_BUNDLE_LIMITS, {
        chunkRows: 1000,
        chunkBytes: 8388608,
        applyBatchBytes: 1024,
      }),
    ).toThrow(ProtocolViolationError);
  });
});

describe("source ids", () => {
  it("accept 1+ visible ASCII characters, not only UUIDs", () => {
    expect(isValidSourceId("dart-rotated-source-1")).toBe(true);
    expect(isValidSourceId("oversync-adoption:00000000-0000-4000-8000-000000000001")).toBe(true);
    expect(isValidSourceId("!~")).toBe(true);
    for (const bad of ["", "a b", "tab\t", "é", "new\nline", 5]) expect(isValidSourceId(bad)).toBe(false);
  });
});
