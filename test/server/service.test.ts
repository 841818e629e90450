import {
  type PushRow,
  compareTableContract,
  decodeCapabilitiesBody,
  negotiateSnapshotLimits,
  renderFloat64,
  supportsConnectLifecycle,
} from "@oversync/protocol";
import { ServiceConfigError, createSyncService } from "@oversync/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readContractIfPresent, requireContracts } from "../support/contracts.js";
import { BUSINESS_TABLES } from "./business-schema.js";
import {
  type ServiceHarness,
  actor,
  docRow,
  initializeScope,
  push,
  rejection,
  startService,
  uuid,
} from "./service-harness.js";

let h: ServiceHarness;

beforeEach(async () => {
  h = await startService();
});

afterEach(async () => {
  await h.drop();
});

const ada = actor("ada", "phone");

describe("capabilities and status", () => {
  it("advertises the registered tables, features and limits in a body the clients accept", async () => {
    const body = JSON.stringify(await h.service.capabilities());
    const capabilities = decodeCapabilitiesBody(body);
    expect(supportsConnectLifecycle(capabilities)).toBe(true);
    expect(capabilities.features.bundle_change_watch).toBe(false);
    negotiateSnapshotLimits(capabilities.bundle_limits);
    expect(capabilities.registered_tables).toEqual(
      BUSINESS_TABLES.map((t) => `${t.schema}.${t.table}`).sort(),
    );
    const local = BUSINESS_TABLES.map((t) => ({
      schema: t.schema,
      table: t.table,
      sync_key_columns: [...t.syncKeyColumns],
    }));
    expect(compareTableContract(local, capabilities.registered_table_specs)).toMatchObject({ kind: "match" });
  });

  it("reports healthy status with bundle counters", async () => {
    await initializeScope(h.service, ada);
    await push(h.service, ada, 1, [docRow("a", "x")]);
    const status = await h.service.status();
    expect(status).toMatchObject({
      status: "healthy",
      version: "v1",
      app_name: "oversync-test",
      lifecycle: "running",
      accepting_operations: true,
      inflight_operations: 0,
      latest_bundle_seq_max: 1,
      retained_bundle_window_max: 1,
      committed_bundle_count: 1,
    });
    expect(status.committed_bundle_bytes).toBeGreaterThan(0);
    expect(await h.service.health()).toEqual(status);
  });

  it("answers 503 before bootstrap", async () => {
    const service = createSyncService({
      pool: h.db.pool,
      appName: "early",
      registeredTables: BUSINESS_TABLES,
      maxSupportedSchemaVersion: 1,
    });
    expect((await rejection(service.capabilities())).code).toBe("service_unavailable");
    expect((await rejection(service.connect(ada, { has_local_pending_rows: false }))).code).toBe(
      "service_unavailable",
    );
    expect((await service.status()).status).toBe("unhealthy");
  });

  it("refuses limits clients would reject", () => {
    const make = (limits: object) => () =>
      createSyncService({
        pool: h.db.pool,
        appName: "x",
        registeredTables: BUSINESS_TABLES,
        maxSupportedSchemaVersion: 1,
        limits,
      });
    expect(make({ max_bytes_per_snapshot_row: 8_388_608 })).toThrow(ServiceConfigError);
    expect(make({ default_rows_per_push_chunk: 10, max_rows_per_push_chunk: 5 })).toThrow(ServiceConfigError);
    expect(make({ max_rows_per_push_chunk: 0 })).toThrow(/max_rows_per_push_chunk must be positive/);
    expect(make({ push_session_ttl_seconds: 2 ** 31 })).toThrow(ServiceConfigError);
  });
});

describe("locking and lifecycle", () => {
  /** Holds `userId`'s advisory lock in a separate session until the returned function is called. */
  async function holdUserLock(userId: string): Promise<() => Promise<void>> {
    const client = await h.db.pool.connect();
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [userId]);
    return async () => {
      await client.query("COMMIT");
      client.release();
    };
  }

  it("serializes one user's writers while other users proceed", async () => {
    const bob = actor("bob", "phone");
    await initializeScope(h.service, ada);
    await initializeScope(h.service, bob);
    const release = await holdUserLock("ada");
    let adaDone = false;
    const adaPush = push(h.service, ada, 1, [docRow("a", "x")]).then((result) => {
      adaDone = true;
      return result;
    });
    // Bob commits while Ada's push waits for her lock.
    expect(await push(h.service, bob, 1, [docRow("b", "y")])).toMatchObject({ bundle_seq: 1 });
    expect(adaDone).toBe(false);
    await release();
    expect(await adaPush).toMatchObject({ bundle_seq: 1 });
  });

  it("close drains in-flight calls and then refuses new ones", async () => {
    await initializeScope(h.service, ada);
    const release = await holdUserLock("ada");
    const pending = push(h.service, ada, 1, [docRow("a", "x")]);
    // Let the push reach the lock.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = h.service.close();
    const during = await h.service.status();
    expect(during).toMatchObject({
      lifecycle: "shutting_down",
      accepting_operations: false,
      status: "unhealthy",
    });
    expect(during.inflight_operations).toBeGreaterThan(0);
    expect((await rejection(h.service.pull(ada, { after_bundle_seq: 0 }))).code).toBe("service_unavailable");
    await release();
    // The create call that was in flight finishes; the rest of that push is refused.
    expect((await rejection(pending)).code).toBe("service_unavailable");
    await closing;
    expect((await h.service.status()).lifecycle).toBe("closed");
  });
});

interface NumericScenario {
  name: string;
  local: Record<string, string>;
  committed: Record<string, string>;
}

/** The client's encoding of local SQLite values: REAL columns as canonical binary64 text, the rest verbatim. */
function uploadedWire(local: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(local).map(([name, value]) => [
      name,
      name === "rating" || name === "float4_value" ? renderFloat64(Number(value)) : value,
    ]),
  );
}

describe.runIf(requireContracts())("rich-schema numeric scenarios through push and pull", () => {
  const scenarios = readContractIfPresent<{ numericScenarios: NumericScenario[] }>(
    "rich-schema/business-rich-v0.json",
    { numericScenarios: [] },
  ).numericScenarios;

  it(`commits each of the ${scenarios.length} scenarios with its committed values`, async () => {
    await initializeScope(h.service, ada);
    let ran = 0;
    for (const [index, scenario] of scenarios.entries()) {
      const id = uuid();
      const payload: Record<string, string | null> = {
        id,
        name: scenario.name,
        note: null,
        count_value: null,
        small_count: null,
        medium_count: null,
        exact_amount: null,
        enabled_flag: "0",
        rating: null,
        float4_value: null,
        data: null,
        created_at: null,
        ...uploadedWire(scenario.local),
      };
      const row: PushRow = {
        schema: "business",
        table: "typed_rows",
        key: { id },
        op: "INSERT",
        base_row_version: 0,
        payload,
      };
      const committed = await push(h.service, ada, index + 1, [row]);
      const page = await h.service.getCommittedBundleRows(ada, { bundle_seq: committed.bundle_seq });
      const expected = Object.fromEntries(
        Object.entries(scenario.committed).map(([name, value]) => [
          name,
          name === "enabled_flag" ? value === "true" : value,
        ]),
      );
      expect(page.rows[0]!.payload, scenario.name).toMatchObject(expected);
      ran++;
    }
    console.log(`rich-schema/business-rich-v0.json numericScenarios: ${ran}/${scenarios.length} passed`);
    expect(ran).toBe(scenarios.length);
  });
});

interface InvalidCase {
  name: string;
  family: "integer" | "decimal" | "float" | "boolean";
  input: unknown;
}

describe.runIf(requireContracts())("canonical-json invalid_cases through push", () => {
  const cases = readContractIfPresent<{ invalid_cases: InvalidCase[] }>(
    "canonical-json/jcs-uniform-numeric-strings.json",
    { invalid_cases: [] },
  ).invalid_cases;
  const columnOf = {
    integer: "count_value",
    decimal: "exact_amount",
    float: "rating",
    boolean: "enabled_flag",
  };

  it(`rejects each of the ${cases.length} invalid values at chunk upload, before any mutation`, async () => {
    await initializeScope(h.service, ada);
    let passed = 0;
    for (const invalid of cases) {
      const id = uuid();
      const column = columnOf[invalid.family];
      const payload: Record<string, unknown> = {
        id,
        name: invalid.name,
        note: null,
        count_value: null,
        small_count: null,
        medium_count: null,
        exact_amount: null,
        enabled_flag: "1",
        rating: null,
        float4_value: null,
        data: null,
        created_at: null,
        [column]: invalid.input,
      };
      // The wire decoder would already refuse JSON numbers; the service must refuse them too.
      const row = {
        schema: "business",
        table: "typed_rows",
        key: { id },
        op: "INSERT",
        base_row_version: 0,
        payload,
      };
      const error = await rejection(push(h.service, ada, 1, [row as PushRow]));
      expect([invalid.name, error.code]).toEqual([invalid.name, "push_chunk_invalid"]);
      expect(error.message, invalid.name).toMatch(new RegExp(`^rows\\[0\\]\\.payload\\.${column}: `));
      passed++;
    }
    const { rows } = await h.db.pool.query(
      "SELECT (SELECT count(*)::int FROM business.typed_rows) AS business, (SELECT count(*)::int FROM sync.push_session_rows) AS staged",
    );
    expect(rows).toEqual([{ business: 0, staged: 0 }]);
    console.log(`canonical-json invalid_cases: ${passed}/${cases.length} rejected before mutation`);
    expect(passed).toBe(cases.length);
  });
});
