/**
 * Server-originated writes against real PostgreSQL: `scopeManager.execWrite` and
 * `withinSyncBundle` commit the callback's business-table writes as one bundle that clients pull
 * with the right source, seq and hash and that wakes watchers in another service; scope and source
 * rules; rollback of everything on refusal or failure; deferred constraints and cascades; and the
 * owner guard still refusing writes made outside a bundle.
 */
import { OversyncError, bundleHash } from "@oversync/protocol";
import { ServerWriteError, type SyncRuntime } from "@oversync/server";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { createBusinessSchema } from "./business-schema.js";
import { actor, initializeScope, push, rejection, userRow, uuid } from "./service-harness.js";
import { type WatchNode, nextEvent, startWatchNode, testPool } from "./watch-support.js";

let db: TestDatabase;
/** This suite's own pool (db.pool stays unused; see testPool). */
let sql: pg.Pool;
let nodeA: WatchNode;
let nodeB: WatchNode;
let service: SyncRuntime;

beforeAll(async () => {
  db = await createTestDatabase("oversync_scope");
  sql = testPool(db.url);
  await createBusinessSchema(sql);
  await sql.query("CREATE TABLE public.audit_log (note text NOT NULL)");
  nodeA = await startWatchNode(db.url, "scope-node-a");
  nodeB = await startWatchNode(db.url, "scope-node-b");
  service = nodeA.service;
});

afterAll(async () => {
  await nodeA?.close();
  await nodeB?.close();
  await sql?.end();
  await db?.drop();
});

const INSERT_USER = "INSERT INTO business.users (id, name, email) VALUES ($1, $2, $3)";

async function userState(userId: string) {
  const { rows } = await sql.query<{
    scope_state: string;
    next_bundle_seq: string;
    initialized_by_source_id: string | null;
  }>(
    "SELECT scope_state, next_bundle_seq::text, initialized_by_source_id FROM sync.user_state WHERE user_id = $1",
    [userId],
  );
  return rows[0];
}

async function count(from: string, values: unknown[] = []): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${from}`, values);
  return Number(rows[0]!.n);
}

/** The ServerWriteError a promise rejects with. */
async function serverWriteRejection(promise: Promise<unknown>): Promise<ServerWriteError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ServerWriteError) return error;
    throw error;
  }
  throw new Error("expected a ServerWriteError, but the call succeeded");
}

describe("execWrite", () => {
  it("initializes a fresh scope, commits one bundle clients pull with the writer's source, seq and hash", async () => {
    const scope = `fresh-${uuid()}`;
    const [ada, bob] = [uuid(), uuid()];
    const result = await service.scopeManager.execWrite(scope, { writerId: "server:billing" }, async (tx) => {
      await tx.query(INSERT_USER, [ada, "Ada", "ada@example.com"]);
      await tx.query(INSERT_USER, [bob, "Bob", "bob@example.com"]);
      return "done";
    });
    expect(result.autoInitialized).toBe(true);
    expect(result.value).toBe("done");
    expect(result.bundle).toMatchObject({
      bundle_seq: 1,
      source_id: "server:billing",
      source_bundle_id: 1,
      row_count: 2,
    });
    expect(await userState(scope)).toMatchObject({
      scope_state: "initialized",
      initialized_by_source_id: "server:billing",
    });

    const device = actor(scope, "phone");
    expect(await service.connect(device, { has_local_pending_rows: true })).toStrictEqual({
      resolution: "remote_authoritative",
    });
    const page = await service.pull(device, { after_bundle_seq: 0 });
    expect(page.stable_bundle_seq).toBe(1);
    const [bundle] = page.bundles;
    expect(bundle).toMatchObject({
      bundle_seq: 1,
      source_id: "server:billing",
      source_bundle_id: 1,
      row_count: 2,
      bundle_hash: result.bundle.bundle_hash,
    });
    expect(bundleHash(bundle!.rows)).toBe(result.bundle.bundle_hash);
    expect(bundle!.rows.map((row) => [row.op, row.key.id, row.payload?.name])).toStrictEqual([
      ["INSERT", ada, "Ada"],
      ["INSERT", bob, "Bob"],
    ]);
  });

  it("wakes a watcher served by another service, and continues the writer's sequence", async () => {
    const scope = `wake-${uuid()}`;
    await service.scopeManager.execWrite(scope, { writerId: "server:import" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "First", "first@example.com"]),
    );
    const watch = await nodeB.service.openBundleWatch(actor(scope, "phone"), { after_bundle_seq: 1 });
    const second = await service.scopeManager.execWrite(scope, { writerId: "server:import" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "Second", "second@example.com"]),
    );
    expect(second.autoInitialized).toBe(false);
    expect(second.bundle).toMatchObject({ bundle_seq: 2, source_id: "server:import", source_bundle_id: 2 });
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: 2,
      source_id: "server:import",
      source_bundle_id: 2,
    });
    watch.close();
  });

  it("shares the source namespace with devices: a writer id a device used continues its sequence", async () => {
    const device = actor(`shared-${uuid()}`, "tablet");
    await initializeScope(service, device);
    await push(service, device, 1, [userRow(uuid(), "Dev")]);
    const written = await service.scopeManager.execWrite(device.userId, { writerId: "tablet" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "Srv", "srv@example.com"]),
    );
    expect(written.bundle).toMatchObject({ bundle_seq: 2, source_id: "tablet", source_bundle_id: 2 });
    // The tuple (tablet, 2) is taken: the device's push of it is reported as already committed.
    const replay = await service.createPushSession(device, {
      source_bundle_id: 2,
      planned_row_count: 1,
      canonical_request_hash: "0".repeat(64),
    });
    expect(replay).toMatchObject({
      status: "already_committed",
      bundle_seq: 2,
      source_id: "tablet",
      source_bundle_id: 2,
    });
    expect((await push(service, device, 3, [userRow(uuid(), "Next")])).bundle_seq).toBe(3);
  });

  it("refuses a callback that changed no registered row and rolls back everything, the initialization too", async () => {
    const scope = `empty-${uuid()}`;
    const error = await serverWriteRejection(
      service.scopeManager.execWrite(scope, { writerId: "server:noop" }, async (tx) => {
        await tx.query("INSERT INTO public.audit_log (note) VALUES ($1)", [scope]);
        await tx.query("SELECT 1 FROM business.users");
      }),
    );
    expect(error.code).toBe("no_captured_changes");
    expect(await userState(scope)).toBeUndefined();
    expect(await count("public.audit_log WHERE note = $1", [scope])).toBe(0);
  });

  it("counts a row inserted and deleted in the same callback as no change", async () => {
    const scope = `cancel-${uuid()}`;
    const error = await serverWriteRejection(
      service.scopeManager.execWrite(scope, { writerId: "server:noop" }, async (tx) => {
        const id = uuid();
        await tx.query(INSERT_USER, [id, "Gone", "gone@example.com"]);
        await tx.query("DELETE FROM business.users WHERE id = $1", [id]);
      }),
    );
    expect(error.code).toBe("no_captured_changes");
    expect(await userState(scope)).toBeUndefined();
  });

  it("rolls back everything when the callback throws, and hands the host its own error", async () => {
    const scope = `throws-${uuid()}`;
    await service.scopeManager.execWrite(scope, { writerId: "server:a" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "Kept", "kept@example.com"]),
    );
    const thrown = new Error("business rule failed");
    const id = uuid();
    await expect(
      service.scopeManager.execWrite(scope, { writerId: "server:a" }, async (tx) => {
        await tx.query(INSERT_USER, [id, "Lost", "lost@example.com"]);
        throw thrown;
      }),
    ).rejects.toBe(thrown);
    expect(await count("business.users WHERE id = $1", [id])).toBe(0);
    expect(await userState(scope)).toMatchObject({ next_bundle_seq: "2" });
    const next = await service.scopeManager.execWrite(scope, { writerId: "server:a" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "Next", "next@example.com"]),
    );
    expect(next.bundle).toMatchObject({ bundle_seq: 2, source_bundle_id: 2 });
  });

  it("defers constraints until the bundle is sealed, and rolls back a write that leaves one broken", async () => {
    const scope = `deferred-${uuid()}`;
    const [author, post] = [uuid(), uuid()];
    const written = await service.scopeManager.execWrite(scope, { writerId: "server:fk" }, async (tx) => {
      // The child first: its foreign key is checked only when the bundle is sealed.
      await tx.query("INSERT INTO business.posts (id, title, content, author_id) VALUES ($1, 'T', 'C', $2)", [
        post,
        author,
      ]);
      await tx.query(INSERT_USER, [author, "Author", "author@example.com"]);
    });
    expect(written.bundle.row_count).toBe(2);

    const dangling = uuid();
    const error = await service.scopeManager
      .execWrite(scope, { writerId: "server:fk" }, (tx) =>
        tx.query("INSERT INTO business.posts (id, title, content, author_id) VALUES ($1, 'T', 'C', $2)", [
          dangling,
          uuid(),
        ]),
      )
      .then(
        () => undefined,
        (failure: { code?: string }) => failure,
      );
    expect(error?.code).toBe("23503");
    expect(await count("business.posts WHERE id = $1", [dangling])).toBe(0);
    expect(await userState(scope)).toMatchObject({ next_bundle_seq: "2" });
  });

  it("refuses a write to another scope's row inside the callback", async () => {
    const owner = `owner-${uuid()}`;
    const id = uuid();
    await service.scopeManager.execWrite(owner, { writerId: "server:x" }, (tx) =>
      tx.query(INSERT_USER, [id, "Owned", "owned@example.com"]),
    );
    const intruder = `intruder-${uuid()}`;
    const error = await service.scopeManager
      .execWrite(intruder, { writerId: "server:x" }, (tx) =>
        tx.query("UPDATE business.users SET name = 'Taken' WHERE _sync_scope_id = $1 AND id = $2", [
          owner,
          id,
        ]),
      )
      .then(
        () => undefined,
        (failure: { code?: string }) => failure,
      );
    expect(error?.code).toBe("OV002");
    expect(await count("business.users WHERE id = $1 AND name = 'Owned'", [id])).toBe(1);
  });

  it("refuses a scope a device is initializing, and a retired writer id", async () => {
    const seeding = actor(`seeding-${uuid()}`, "seeder");
    await service.connect(seeding, { has_local_pending_rows: true });
    const busy = await rejection(
      service.scopeManager.execWrite(seeding.userId, { writerId: "server:x" }, (tx) =>
        tx.query(INSERT_USER, [uuid(), "X", "x@example.com"]),
      ),
    );
    expect([busy.code, busy.status]).toStrictEqual(["scope_initializing", 409]);

    const scope = `retired-${uuid()}`;
    await service.scopeManager.execWrite(scope, { writerId: "server:old" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "Old", "old@example.com"]),
    );
    // The state a source replacement leaves behind.
    await sql.query(
      `UPDATE sync.source_state SET state = 'retired', replaced_by_source_id = 'server:new', retirement_reason = 'replaced'
        WHERE source_id = 'server:old' AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [scope],
    );
    const retired = await rejection(
      service.scopeManager.execWrite(scope, { writerId: "server:old" }, (tx) =>
        tx.query(INSERT_USER, [uuid(), "Again", "again@example.com"]),
      ),
    );
    expect(retired.code).toBe("source_retired");
    expect(retired.extras).toStrictEqual({ source_id: "server:old", replaced_by_source_id: "server:new" });
  });

  it("trims ids and refuses ones that are empty or not visible ASCII, writing nothing", async () => {
    const scope = `ids-${uuid()}`;
    const written = await service.scopeManager.execWrite(
      `  ${scope} `,
      { writerId: " server:trim\t" },
      (tx) => tx.query(INSERT_USER, [uuid(), "Trim", "trim@example.com"]),
    );
    expect(written.bundle.source_id).toBe("server:trim");
    expect(await userState(scope)).toMatchObject({ scope_state: "initialized" });
    const bad: [string, string][] = [
      ["", "server:x"],
      ["   ", "server:x"],
      [scope, ""],
      [scope, "has space"],
      [scope, "caf\u00e9"],
    ];
    for (const [scopeId, writerId] of bad) {
      let called = false;
      const error = await serverWriteRejection(
        service.scopeManager.execWrite(scopeId, { writerId }, async () => {
          called = true;
        }),
      );
      expect([error.code, called], `${scopeId}/${writerId}`).toStrictEqual(["invalid_server_write", false]);
    }
  });

  it("serializes concurrent writes to one scope: consecutive seqs and source bundle ids", async () => {
    const scope = `concurrent-${uuid()}`;
    await service.scopeManager.execWrite(scope, { writerId: "server:c" }, (tx) =>
      tx.query(INSERT_USER, [uuid(), "Zero", "zero@example.com"]),
    );
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        (n % 2 === 0 ? nodeA : nodeB).service.scopeManager.execWrite(scope, { writerId: "server:c" }, (tx) =>
          tx.query(INSERT_USER, [uuid(), `N${n}`, `n${n}@example.com`]),
        ),
      ),
    );
    const bundles = results.map((result) => result.bundle).sort((a, b) => a.bundle_seq - b.bundle_seq);
    expect(bundles.map((bundle) => [bundle.bundle_seq, bundle.source_bundle_id])).toStrictEqual([
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
  });

  it("stops the transaction handle once the callback has returned", async () => {
    let kept: { query: (text: string) => Promise<unknown> } | undefined;
    await service.scopeManager.execWrite(`handle-${uuid()}`, { writerId: "server:h" }, async (tx) => {
      kept = tx;
      await tx.query(INSERT_USER, [uuid(), "H", "h@example.com"]);
    });
    const error = await serverWriteRejection(kept!.query("SELECT 1"));
    expect(error.code).toBe("transaction_closed");
  });
});

describe("withinSyncBundle", () => {
  it("commits the callback's writes, cascades included, as the named tuple; clients pull it; watchers wake", async () => {
    const device = actor(`within-${uuid()}`, "phone");
    await initializeScope(service, device);
    const [file, review] = [uuid(), uuid()];
    const first = await service.withinSyncBundle(
      device,
      { sourceId: "server:files", sourceBundleId: 1 },
      async (tx) => {
        await tx.query("INSERT INTO business.files (id, name, data) VALUES ($1, 'f', '\\x0102')", [file]);
        await tx.query("INSERT INTO business.file_reviews (id, review, file_id) VALUES ($1, 'ok', $2)", [
          review,
          file,
        ]);
        return 42;
      },
    );
    expect(first.value).toBe(42);
    expect(first.bundle).toMatchObject({
      bundle_seq: 1,
      source_id: "server:files",
      source_bundle_id: 1,
      row_count: 2,
    });

    const watch = await nodeB.service.openBundleWatch(device, { after_bundle_seq: 1 });
    const second = await service.withinSyncBundle(
      device,
      { sourceId: "server:files", sourceBundleId: 2 },
      (tx) => tx.query("DELETE FROM business.files WHERE id = $1", [file]),
    );
    // The cascade removed the review too: both deletions are rows of the bundle.
    expect(second.bundle).toMatchObject({ bundle_seq: 2, source_bundle_id: 2, row_count: 2 });
    expect(await nextEvent(watch)).toStrictEqual({
      bundle_seq: 2,
      source_id: "server:files",
      source_bundle_id: 2,
    });
    watch.close();

    const page = await service.pull(device, { after_bundle_seq: 0 });
    expect(
      page.bundles.map((bundle) => [bundle.bundle_seq, bundle.source_id, bundle.bundle_hash]),
    ).toStrictEqual([
      [1, "server:files", first.bundle!.bundle_hash],
      [2, "server:files", second.bundle!.bundle_hash],
    ]);
    for (const bundle of page.bundles) expect(bundleHash(bundle.rows)).toBe(bundle.bundle_hash);
    expect(page.bundles[1]!.rows.map((row) => [row.table, row.op]).sort()).toStrictEqual([
      ["file_reviews", "DELETE"],
      ["files", "DELETE"],
    ]);
  });

  it("requires an initialized scope and leaves no trace otherwise", async () => {
    const stranger = `stranger-${uuid()}`;
    let called = false;
    const error = await rejection(
      service.withinSyncBundle(
        { scopeId: stranger },
        { sourceId: "server:x", sourceBundleId: 1 },
        async () => {
          called = true;
        },
      ),
    );
    expect([error.code, called]).toStrictEqual(["scope_uninitialized", false]);
    expect(await userState(stranger)).toBeUndefined();

    const seeding = actor(`seeding-${uuid()}`, "seeder");
    await service.connect(seeding, { has_local_pending_rows: true });
    const busy = await rejection(
      service.withinSyncBundle(seeding, { sourceId: "server:x", sourceBundleId: 1 }, async () => undefined),
    );
    expect(busy.code).toBe("scope_initializing");
  });

  it("takes exactly the source's next bundle id", async () => {
    const device = actor(`sequence-${uuid()}`, "phone");
    await initializeScope(service, device);
    const write = (sourceBundleId: number) =>
      service.withinSyncBundle(device, { sourceId: "server:seq", sourceBundleId }, (tx) =>
        tx.query(INSERT_USER, [uuid(), "S", "s@example.com"]),
      );
    expect((await rejection(write(2))).code).toBe("source_sequence_out_of_order");
    expect((await write(1)).bundle?.source_bundle_id).toBe(1);
    expect((await rejection(write(1))).code).toBe("history_pruned");
    expect((await rejection(write(3))).code).toBe("source_sequence_out_of_order");
    expect((await write(2)).bundle?.source_bundle_id).toBe(2);
  });

  it("commits no bundle for a callback without captured effects, keeps its other writes, and leaves the source where it was", async () => {
    const device = actor(`noop-${uuid()}`, "phone");
    await initializeScope(service, device);
    const note = `noop-${uuid()}`;
    const result = await service.withinSyncBundle(
      device,
      { sourceId: "server:noop", sourceBundleId: 1 },
      (tx) => tx.query("INSERT INTO public.audit_log (note) VALUES ($1)", [note]),
    );
    expect(result.bundle).toBeUndefined();
    expect(await count("public.audit_log WHERE note = $1", [note])).toBe(1);
    expect(await userState(device.userId)).toMatchObject({ next_bundle_seq: "1" });
    const next = await service.withinSyncBundle(
      device,
      { sourceId: "server:noop", sourceBundleId: 1 },
      (tx) => tx.query(INSERT_USER, [uuid(), "Now", "now@example.com"]),
    );
    expect(next.bundle).toMatchObject({ bundle_seq: 1, source_bundle_id: 1 });
  });

  it("refuses a source id that is not visible ASCII and a bundle id that is not a positive integer", async () => {
    const device = actor(`args-${uuid()}`, "phone");
    await initializeScope(service, device);
    for (const source of [
      { sourceId: "has space", sourceBundleId: 1 },
      { sourceId: "", sourceBundleId: 1 },
      { sourceId: "server:x", sourceBundleId: 0 },
      { sourceId: "server:x", sourceBundleId: 1.5 },
    ]) {
      const error = await serverWriteRejection(
        service.withinSyncBundle(device, source, async () => undefined),
      );
      expect(error.code, JSON.stringify(source)).toBe("invalid_server_write");
    }
  });
});

describe("outside a bundle", () => {
  it("a direct write to a registered table is still refused by the owner guard", async () => {
    const failure = await sql
      .query(
        "INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ('someone', $1, 'X', 'x@example.com')",
        [uuid()],
      )
      .then(
        () => undefined,
        (error: { code?: string }) => error,
      );
    expect(failure?.code).toBe("OV001");
  });

  it("a closed service refuses server-originated writes with service_unavailable", async () => {
    const node = await startWatchNode(db.url, "scope-node-closed");
    await node.close();
    const error = await rejection(
      node.service.scopeManager.execWrite(
        `closed-${uuid()}`,
        { writerId: "server:x" },
        async () => undefined,
      ),
    );
    expect(error).toBeInstanceOf(OversyncError);
    expect(error.code).toBe("service_unavailable");
  });
});
