/**
 * The client-side rules that read server-controlled values: Retry-After (retry-after.ts), the
 * snapshot limit checks (capabilities.ts) and the table contract (table-contract.ts). Each is
 * restated here as the protocol states it and compared on random input, hostile values included.
 */
import {
  CLIENT_SNAPSHOT_DEFAULTS,
  ProtocolViolationError,
  REQUIRED_LIMIT_NAMES,
  type RequiredLimitName,
  SNAPSHOT_CAPACITY_RETRY,
  compareTableContract,
  negotiateSnapshotLimits,
  nextCapacityRetryDelay,
  parseRetryAfterMillis,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { edgeNumberToken, hostileJson, trickyString } from "./hostile-json.js";
import { runs } from "./property-runs.js";

describe("Retry-After", () => {
  const header = fc.oneof(
    fc.integer({ min: 0, max: 100_000 }).map(String),
    edgeNumberToken,
    fc.constantFrom(
      "",
      " 1",
      "1 ",
      "+1",
      "01",
      "1.5",
      "-1",
      "Wed, 21 Oct 2015 07:28:00 GMT",
      "9007199254740",
    ),
    trickyString(10),
  );

  it("is a positive whole number of seconds in milliseconds, or null", () => {
    fc.assert(
      fc.property(fc.option(header, { nil: undefined }), (value) => {
        const millis = parseRetryAfterMillis(value);
        const seconds = value !== undefined && /^[1-9][0-9]*$/.test(value) ? Number(value) : undefined;
        if (seconds !== undefined && Number.isSafeInteger(seconds * 1000))
          expect(millis).toBe(seconds * 1000);
        else expect(millis).toBeNull();
      }),
      runs(400),
    );
  });

  it("waits between the delay and twice it, or gives up past the 30 s budget", () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1000, max: 60_000 }), { nil: null }),
        fc.integer({ min: 0, max: 40_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retryAfterMillis, elapsedMillis, random) => {
          const delay = nextCapacityRetryDelay({ retryAfterMillis, elapsedMillis, random: () => random });
          const base = retryAfterMillis ?? SNAPSHOT_CAPACITY_RETRY.fallbackDelayMillis;
          const jittered = Math.round(base + base * random);
          if (elapsedMillis + jittered > SNAPSHOT_CAPACITY_RETRY.maxWaitMillis) expect(delay).toBeNull();
          else {
            expect(delay).toBe(jittered);
            expect(delay).toBeGreaterThanOrEqual(base);
            expect(delay).toBeLessThanOrEqual(2 * base);
          }
        },
      ),
      runs(300),
    );
  });
});

describe("snapshot limit negotiation", () => {
  const limit = fc.oneof(
    fc.integer({ min: 1, max: 5000 }),
    fc.integer({ min: 1, max: 32 * 1024 * 1024 }),
    fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER),
  );
  const limits = fc.record(
    Object.fromEntries(REQUIRED_LIMIT_NAMES.map((name) => [name, limit])) as Record<
      RequiredLimitName,
      fc.Arbitrary<number>
    >,
  );

  it("accepts exactly the limits protocol-latest §4 allows and sizes chunks within both budgets", () => {
    fc.assert(
      fc.property(limits, (server) => {
        const client = CLIENT_SNAPSHOT_DEFAULTS;
        const maxBytes = Math.min(client.chunkBytes, server.max_bytes_per_snapshot_chunk);
        const allowed =
          REQUIRED_LIMIT_NAMES.every((name) => server[name] > 0) &&
          server.default_rows_per_snapshot_chunk <= server.max_rows_per_snapshot_chunk &&
          server.default_bytes_per_snapshot_chunk <= server.max_bytes_per_snapshot_chunk &&
          server.max_bytes_per_snapshot_row <= server.max_bytes_per_snapshot_chunk &&
          maxBytes >= server.max_bytes_per_snapshot_row &&
          client.applyBatchBytes >= server.max_bytes_per_snapshot_row;
        let outcome: ReturnType<typeof negotiateSnapshotLimits> | ProtocolViolationError;
        try {
          outcome = negotiateSnapshotLimits(server);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolViolationError);
          expect((error as ProtocolViolationError).code).toBe("invalid_capabilities");
          outcome = error as ProtocolViolationError;
        }
        expect(!(outcome instanceof ProtocolViolationError)).toBe(allowed);
        if (!(outcome instanceof ProtocolViolationError)) {
          expect(outcome).toStrictEqual({
            maxRows: Math.min(client.chunkRows, server.max_rows_per_snapshot_chunk),
            maxBytes,
            maxRowBytes: server.max_bytes_per_snapshot_row,
          });
        }
      }),
      runs(400),
    );
  });
});

describe("table contract", () => {
  const name = fc.oneof(fc.constantFrom("users", "Users", "docs", "main", "id", ""), trickyString(6));
  const spec = fc.record({ schema: name, table: name, sync_key_columns: fc.array(name, { maxLength: 2 }) });

  it("never throws on any advertisement and answers one of its three kinds", () => {
    fc.assert(
      fc.property(
        fc.array(spec, { maxLength: 3 }),
        fc.oneof(hostileJson(fc.array(spec, { maxLength: 3 })), fc.array(spec, { maxLength: 3 })),
        (local, advertised) => {
          const result = compareTableContract(local, advertised);
          expect(["match", "mismatch", "invalid"]).toContain(result.kind);
          if (!Array.isArray(advertised)) expect(result.kind).toBe("invalid");
        },
      ),
      runs(400),
    );
  });

  it("matches a server advertising the client's own tables in lower case, in any order", () => {
    const validSpec = fc.record({
      schema: name,
      table: name,
      key: name.filter((key) => key.trim() !== ""),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(validSpec, { selector: (s) => `${s.schema}.${s.table.toLowerCase()}`, maxLength: 4 }),
        (specs) => {
          const local = specs.map((s) => ({ schema: s.schema, table: s.table, sync_key_columns: [s.key] }));
          const advertised = [...local].reverse().map((s) => ({
            ...s,
            table: s.table.toLowerCase(),
            sync_key_columns: [s.sync_key_columns[0]!.toLowerCase()],
          }));
          expect(compareTableContract(local, advertised)).toStrictEqual({ kind: "match" });
        },
      ),
      runs(200),
    );
  });
});
