import { decodeConnectResponse, isCanonicalUuid } from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ServiceHarness, actor, rejection, startService } from "./service-harness.js";

let h: ServiceHarness;

beforeEach(async () => {
  h = await startService();
});

afterEach(async () => {
  await h.drop();
});

const phone = actor("ada", "phone");
const laptop = actor("ada", "laptop");

async function scope() {
  const { rows } = await h.db.pool.query(
    `SELECT scope_state, initializer_source_id, initialized_by_source_id FROM sync.user_state WHERE user_id = 'ada'`,
  );
  return rows[0];
}

describe("connect", () => {
  it("initialize_empty on an uninitialized scope without pending rows, then remote_authoritative", async () => {
    const first = await h.service.connect(phone, { has_local_pending_rows: false });
    expect(first).toEqual({ resolution: "initialize_empty" });
    expect(await scope()).toEqual({
      scope_state: "initialized",
      initializer_source_id: null,
      initialized_by_source_id: "phone",
    });
    for (const who of [phone, laptop]) {
      for (const pending of [true, false]) {
        expect(await h.service.connect(who, { has_local_pending_rows: pending })).toEqual({
          resolution: "remote_authoritative",
        });
      }
    }
  });

  it("initialize_local starts a lease; the same source keeps its id, another source must retry later", async () => {
    const first = decodeConnectResponse(await h.service.connect(phone, { has_local_pending_rows: true }));
    expect(first.resolution).toBe("initialize_local");
    expect(isCanonicalUuid(first.initialization_id)).toBe(true);
    expect(first.lease_expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    const leaseEnd = Date.parse(first.lease_expires_at!);
    expect(leaseEnd).toBeGreaterThan(Date.now() + 890_000);

    const again = await h.service.connect(phone, { has_local_pending_rows: true });
    expect(again.resolution).toBe("initialize_local");
    expect(again.initialization_id).toBe(first.initialization_id);
    expect(Date.parse(again.lease_expires_at!)).toBeGreaterThanOrEqual(leaseEnd);

    for (const pending of [true, false]) {
      const other = decodeConnectResponse(
        await h.service.connect(laptop, { has_local_pending_rows: pending }),
      );
      expect(other.resolution).toBe("retry_later");
      expect(other.initialization_id).toBeUndefined();
      expect(other.retry_after_seconds).toBeGreaterThanOrEqual(890);
      expect(other.retry_after_seconds).toBeLessThanOrEqual(900);
      expect(other.lease_expires_at).toBe(again.lease_expires_at);
    }
    expect(await scope()).toMatchObject({ scope_state: "initializing", initializer_source_id: "phone" });
  });

  it("retry_later asks for at least one second when the lease is about to end", async () => {
    await h.service.connect(phone, { has_local_pending_rows: true });
    await h.db.pool.query(
      "UPDATE sync.user_state SET lease_expires_at = now() + interval '300 milliseconds'",
    );
    const other = await h.service.connect(laptop, { has_local_pending_rows: true });
    expect(other).toMatchObject({ resolution: "retry_later", retry_after_seconds: 1 });
  });

  it("the initializer without pending rows any more finishes as initialize_empty", async () => {
    await h.service.connect(phone, { has_local_pending_rows: true });
    expect(await h.service.connect(phone, { has_local_pending_rows: false })).toEqual({
      resolution: "initialize_empty",
    });
    expect(await scope()).toMatchObject({ scope_state: "initialized", initialized_by_source_id: "phone" });
  });

  it("a lapsed lease expires lazily and the scope can be claimed again", async () => {
    const first = await h.service.connect(phone, { has_local_pending_rows: true });
    await h.db.pool.query("UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second'");
    const claimed = await h.service.connect(laptop, { has_local_pending_rows: true });
    expect(claimed.resolution).toBe("initialize_local");
    expect(claimed.initialization_id).not.toBe(first.initialization_id);
    expect(await scope()).toMatchObject({ scope_state: "initializing", initializer_source_id: "laptop" });
  });

  it("a lapsed lease with no pending rows initializes the scope empty", async () => {
    await h.service.connect(phone, { has_local_pending_rows: true });
    await h.db.pool.query("UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second'");
    expect(await h.service.connect(laptop, { has_local_pending_rows: false })).toEqual({
      resolution: "initialize_empty",
    });
  });

  it("users have independent scopes", async () => {
    await h.service.connect(phone, { has_local_pending_rows: true });
    expect(await h.service.connect(actor("bob", "phone"), { has_local_pending_rows: false })).toEqual({
      resolution: "initialize_empty",
    });
  });

  it("refuses an actor whose source id is not visible ASCII", async () => {
    const error = await rejection(
      h.service.connect(actor("ada", "bad source"), { has_local_pending_rows: false }),
    );
    expect(error.code).toBe("invalid_request");
  });
});
