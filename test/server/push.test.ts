import {
  OversyncError,
  type PushRow,
  bundleHash,
  canonicalRequestHash,
  decodePushCommitResponse,
  decodePushCreateResponse,
} from "@oversync/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ServiceHarness,
  actor,
  docRow,
  initializeScope,
  push,
  rejection,
  startService,
  userRow,
  uuid,
} from "./service-harness.js";

let h: ServiceHarness;

beforeEach(async () => {
  h = await startService({ limits: { max_rows_per_push_chunk: 50, default_rows_per_push_chunk: 50 } });
});

afterEach(async () => {
  await h.drop();
});

const ada = actor("ada", "phone");
const HASH_ZERO = "0".repeat(64);

async function create(
  who = ada,
  sourceBundleId = 1,
  rows: readonly PushRow[] = [docRow("a", "x")],
  extra = {},
) {
  const created = await h.service.createPushSession(who, {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
    ...extra,
  });
  if (created.status !== "staging") throw new Error("expected a staging session");
  return created.push_id;
}

async function businessRows(table: string) {
  const { rows } = await h.db.pool.query(`SELECT * FROM business.${table} ORDER BY 2`);
  return rows;
}

describe("push create", () => {
  beforeEach(async () => {
    await initializeScope(h.service, ada);
  });

  it("opens a staging session that echoes the request", async () => {
    const rows = [docRow("a", "x")];
    const request = {
      source_bundle_id: 1,
      planned_row_count: 1,
      canonical_request_hash: canonicalRequestHash(rows),
    };
    const response = await h.service.createPushSession(ada, request);
    expect(decodePushCreateResponse(response, request, "phone")).toMatchObject({
      status: "staging",
      planned_row_count: 1,
      next_expected_row_ordinal: 0,
      canonical_request_hash: request.canonical_request_hash,
    });
  });

  it("answers already_committed with the stored bundle and the stored request hash", async () => {
    const rows = [docRow("a", "x"), docRow("b", "y")];
    const committed = await push(h.service, ada, 1, rows);
    for (const hash of [canonicalRequestHash(rows), HASH_ZERO]) {
      const again = await h.service.createPushSession(ada, {
        source_bundle_id: 1,
        planned_row_count: 2,
        canonical_request_hash: hash,
      });
      expect(again).toEqual({
        status: "already_committed",
        bundle_seq: committed.bundle_seq,
        source_id: "phone",
        source_bundle_id: 1,
        row_count: 2,
        bundle_hash: committed.bundle_hash,
        canonical_request_hash: canonicalRequestHash(rows),
      });
    }
    const { rows: counter } = await h.db.pool.query(
      "SELECT last_value::int AS n FROM sync.accepted_push_replay_seq",
    );
    expect(counter).toEqual([{ n: 2 }]);
  });

  it("enforces contiguous source sequencing", async () => {
    await push(h.service, ada, 1, [docRow("a", "x")]);
    expect((await rejection(create(ada, 3))).code).toBe("source_sequence_out_of_order");
    await h.db.pool.query("UPDATE sync.user_state SET retained_bundle_floor = 1");
    // The committed tuple is at or below the floor, so it is no longer replayable.
    expect((await rejection(create(ada, 1))).code).toBe("history_pruned");
    expect(await create(ada, 2)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses a retired source with its replacement", async () => {
    await push(h.service, ada, 1, [docRow("a", "x")]);
    await h.db.pool.query(
      `UPDATE sync.source_state SET state = 'retired', replaced_by_source_id = 'phone-2', retirement_reason = 'history_pruned'`,
    );
    const error = await rejection(create(ada, 2, [docRow("b", "y")], { canonical_request_hash: HASH_ZERO }));
    expect(error.code).toBe("source_retired");
    expect(error.toErrorBody()).toMatchObject({ source_id: "phone", replaced_by_source_id: "phone-2" });
  });

  it("hard-replaces a staging session for the same tuple", async () => {
    const first = await create();
    const second = await create();
    expect(second).not.toBe(first);
    const error = await rejection(
      h.service.uploadPushChunk(ada, first, { start_row_ordinal: 0, rows: [docRow("a", "x")] }),
    );
    expect(error.code).toBe("push_session_not_found");
    await h.service.uploadPushChunk(ada, second, { start_row_ordinal: 0, rows: [docRow("a", "x")] });
  });

  it("refuses a planned_row_count beyond a 32-bit count", async () => {
    const error = await rejection(
      h.service.createPushSession(ada, {
        source_bundle_id: 1,
        planned_row_count: 2 ** 31,
        canonical_request_hash: HASH_ZERO,
      }),
    );
    expect(error.code).toBe("push_session_invalid");
  });

  it("refuses an initialization_id once the scope is initialized", async () => {
    const error = await rejection(create(ada, 1, undefined, { initialization_id: uuid() }));
    expect(error.code).toBe("push_session_invalid");
  });
});

describe("push create before the scope is initialized", () => {
  const laptop = actor("ada", "laptop");

  it("scope_uninitialized without an id, initialization_expired with one", async () => {
    expect((await rejection(create())).code).toBe("scope_uninitialized");
    expect((await rejection(create(ada, 1, undefined, { initialization_id: uuid() }))).code).toBe(
      "initialization_expired",
    );
  });

  it("checks the lease: missing id, other source, wrong id, lapsed lease", async () => {
    const { initialization_id: id } = await h.service.connect(ada, { has_local_pending_rows: true });
    expect((await rejection(create())).code).toBe("push_session_invalid");
    expect((await rejection(create(laptop))).code).toBe("scope_initializing");
    expect((await rejection(create(laptop, 1, undefined, { initialization_id: id }))).code).toBe(
      "initialization_stale",
    );
    expect((await rejection(create(ada, 1, undefined, { initialization_id: uuid() }))).code).toBe(
      "initialization_stale",
    );
    await h.db.pool.query("UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second'");
    expect((await rejection(create(ada, 1, undefined, { initialization_id: id }))).code).toBe(
      "initialization_expired",
    );
  });

  it("a seed push initializes the scope, and its retry replays the bundle", async () => {
    const { initialization_id: id } = await h.service.connect(ada, { has_local_pending_rows: true });
    const rows = [docRow("seed", "local")];
    const committed = await push(h.service, ada, 1, rows, { initializationId: id });
    const { rows: state } = await h.db.pool.query(
      "SELECT scope_state, initialized_by_source_id FROM sync.user_state",
    );
    expect(state).toEqual([{ scope_state: "initialized", initialized_by_source_id: "phone" }]);
    const replay = await h.service.createPushSession(ada, {
      source_bundle_id: 1,
      planned_row_count: 1,
      canonical_request_hash: canonicalRequestHash(rows),
      initialization_id: id,
    });
    expect(replay).toMatchObject({ status: "already_committed", bundle_seq: committed.bundle_seq });
    expect(await h.service.connect(laptop, { has_local_pending_rows: true })).toEqual({
      resolution: "remote_authoritative",
    });
  });

  it("a seed session fails at chunk once another source holds the lease, and at commit once it lapsed", async () => {
    const { initialization_id: id } = await h.service.connect(ada, { has_local_pending_rows: true });
    const pushId = await create(ada, 1, undefined, { initialization_id: id });
    await h.service.uploadPushChunk(ada, pushId, { start_row_ordinal: 0, rows: [docRow("a", "x")] });
    await h.db.pool.query("UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second'");
    expect((await rejection(h.service.commitPushSession(ada, pushId))).code).toBe("initialization_expired");

    const { initialization_id: second } = await h.service.connect(ada, { has_local_pending_rows: true });
    const stalePush = await create(ada, 1, [docRow("a", "x"), docRow("b", "y")], {
      initialization_id: second,
    });
    await h.db.pool.query("UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second'");
    await h.service.connect(laptop, { has_local_pending_rows: true });
    const chunk = { start_row_ordinal: 0, rows: [docRow("a", "x")] };
    expect((await rejection(h.service.uploadPushChunk(ada, stalePush, chunk))).code).toBe(
      "initialization_stale",
    );
  });

  it("a seed session whose lease lapsed fails at chunk and commit", async () => {
    const { initialization_id: id } = await h.service.connect(ada, { has_local_pending_rows: true });
    const pushId = await create(ada, 1, undefined, { initialization_id: id });
    await h.db.pool.query("UPDATE sync.user_state SET lease_expires_at = now() - interval '1 second'");
    const chunk = { start_row_ordinal: 0, rows: [docRow("a", "x")] };
    expect((await rejection(h.service.uploadPushChunk(ada, pushId, chunk))).code).toBe(
      "initialization_expired",
    );
    // Another source took over the scope meanwhile: the old seed session is stale.
    await h.service.connect(laptop, { has_local_pending_rows: true });
    expect((await rejection(h.service.commitPushSession(ada, pushId))).code).toBe("initialization_stale");
  });
});

const NULL_NAME_ID = "0a000000-0000-4000-8000-000000000001";

function withPayload(row: PushRow, changes: Record<string, string | null>): PushRow {
  return { ...row, payload: { ...row.payload, ...changes } };
}

describe("push chunk", () => {
  let pushId: string;

  beforeEach(async () => {
    await initializeScope(h.service, ada);
    pushId = await create(ada, 1, [docRow("a", "x"), docRow("b", "y"), docRow("c", "z")]);
  });

  const upload = (rows: PushRow[], start = 0, id?: string, who = ada) =>
    h.service.uploadPushChunk(who, id ?? pushId, { start_row_ordinal: start, rows });

  it("continues only at the exact next ordinal", async () => {
    expect(await upload([docRow("a", "x")])).toEqual({ push_id: pushId, next_expected_row_ordinal: 1 });
    const resend = await rejection(upload([docRow("a", "x")]));
    expect(resend.code).toBe("push_chunk_out_of_order");
    expect(resend.message).toContain("expected start_row_ordinal 1, got 0");
    expect((await rejection(upload([docRow("c", "z")], 2))).code).toBe("push_chunk_out_of_order");
    expect((await rejection(upload([docRow("b", "y"), docRow("c", "z"), docRow("d", "w")], 1))).code).toBe(
      "push_chunk_invalid",
    );
    expect(await upload([docRow("b", "y"), docRow("c", "z")], 1)).toEqual({
      push_id: pushId,
      next_expected_row_ordinal: 3,
    });
  });

  const invalidRows: [string, PushRow, string][] = [
    [
      "unregistered table",
      { ...docRow("a", "x"), table: "nope" },
      "rows[0]: table business.nope is not registered",
    ],
    ["schema case differs", { ...docRow("a", "x"), schema: "Business" }, "not registered"],
    [
      "wrong key column",
      { ...docRow("a", "x"), key: { id: "a" } },
      'rows[0].key: must have exactly one member, the sync key column "doc_id"',
    ],
    ["non-canonical uuid key", userRow("ABCDEF00-0000-4000-8000-000000000001", "Ada"), "rows[0].key.id"],
    [
      "a NOT NULL column without default missing",
      { ...userRow(NULL_NAME_ID, "Ada"), payload: { id: NULL_NAME_ID, email: "a@example.com" } },
      "rows[0].payload: must carry name",
    ],
    [
      "unknown column",
      { ...docRow("a", "x"), payload: { doc_id: "a", body: "x", extra: "1" } },
      "rows[0].payload.extra",
    ],
    [
      "payload key differs",
      { ...docRow("a", "x"), payload: { doc_id: "b", body: "x" } },
      "rows[0].payload.doc_id: must equal",
    ],
    [
      "DELETE with payload",
      { ...docRow("a", "x", { op: "DELETE", base: 1 }), payload: { doc_id: "a", body: "x" } },
      "rows[0].payload",
    ],
    [
      "NOT NULL column null",
      withPayload(userRow(NULL_NAME_ID, "Ada"), { name: null }),
      "rows[0].payload.name",
    ],
  ];
  for (const [name, row, message] of invalidRows) {
    it(`rejects a row with ${name} before touching the session`, async () => {
      const error = await rejection(upload([row]));
      expect(error.code).toBe("push_chunk_invalid");
      expect(error.message).toContain(message);
      expect(await upload([docRow("a", "x")])).toMatchObject({ next_expected_row_ordinal: 1 });
    });
  }

  it("rejects a badly encoded typed value naming the field", async () => {
    const id = uuid();
    const typed: PushRow = {
      schema: "business",
      table: "typed_rows",
      key: { id },
      op: "INSERT",
      base_row_version: 0,
      payload: {
        id,
        name: "t",
        note: null,
        count_value: "01",
        small_count: null,
        medium_count: null,
        exact_amount: null,
        enabled_flag: "1",
        rating: null,
        float4_value: null,
        data: null,
        created_at: null,
      },
    };
    const error = await rejection(upload([docRow("a", "x"), typed]));
    expect(error.code).toBe("push_chunk_invalid");
    expect(error.message).toMatch(/^rows\[1\]\.payload\.count_value: /);
  });

  it("rejects duplicates within a chunk and chunks above the row limit", async () => {
    const duplicate = await rejection(upload([docRow("a", "x"), docRow("a", "y")]));
    expect(duplicate.code).toBe("push_chunk_invalid");
    expect(duplicate.message).toContain("rows[1]: targets the same row as rows[0]");
    const many = Array.from({ length: 51 }, (_, i) => docRow(`d${i}`, "x"));
    const tooMany = await rejection(upload(many));
    expect(tooMany.code).toBe("push_chunk_invalid");
    expect(tooMany.message).toContain("exceeds max_rows_per_push_chunk 50");
  });

  it("answers 404 for unknown sessions, 403 for another user's, 410 for expired ones", async () => {
    expect((await rejection(upload([docRow("a", "x")], 0, "not-a-uuid"))).code).toBe(
      "push_session_not_found",
    );
    expect((await rejection(upload([docRow("a", "x")], 0, uuid()))).code).toBe("push_session_not_found");
    expect((await rejection(upload([docRow("a", "x")], 0, pushId, actor("eve", "phone")))).code).toBe(
      "push_session_forbidden",
    );
    expect(await upload([docRow("a", "x")])).toMatchObject({ next_expected_row_ordinal: 1 });
    await h.db.pool.query("UPDATE sync.push_sessions SET expires_at = now() - interval '1 second'");
    expect((await rejection(upload([docRow("b", "y")], 1))).code).toBe("push_session_expired");
    expect((await rejection(h.service.commitPushSession(ada, pushId))).code).toBe("push_session_expired");
    expect((await rejection(h.service.deletePushSession(ada, pushId))).code).toBe("push_session_expired");
    // The housekeeping sweep deletes expired sessions with their staged rows.
    expect(await h.service.sweep()).toStrictEqual({ pushSessions: 1, snapshotSessions: 0 });
    expect((await rejection(upload([docRow("a", "x")]))).code).toBe("push_session_not_found");
    const { rows } = await h.db.pool.query(
      "SELECT count(*)::int AS n FROM sync.push_session_rows WHERE push_id = $1",
      [pushId],
    );
    expect(rows[0].n).toBe(0);
  });
});

describe("push commit", () => {
  beforeEach(async () => {
    await initializeScope(h.service, ada);
  });

  it("commits the rows as one bundle whose hash matches the committed rows", async () => {
    const id = uuid();
    const rows = [userRow(id, "Ada"), docRow("a", "x"), docRow("b", null)];
    const response = await push(h.service, ada, 1, rows, { chunkSize: 2 });
    expect(decodePushCommitResponse(response, { sourceId: "phone", sourceBundleId: 1 })).toMatchObject({
      bundle_seq: 1,
      source_id: "phone",
      source_bundle_id: 1,
      row_count: 3,
      canonical_request_hash: canonicalRequestHash(rows),
    });
    const page = await h.service.getCommittedBundleRows(ada, { bundle_seq: 1 });
    expect(bundleHash(page.rows)).toBe(response.bundle_hash);
    expect(page.rows[0]).toEqual({
      schema: "business",
      table: "users",
      key: { id },
      op: "INSERT",
      row_version: 1,
      payload: {
        id,
        name: "Ada",
        email: "ada@example.com",
        created_at: "2026-03-24T18:42:11+00:00",
        updated_at: "2026-03-24T18:42:11.5+00:00",
      },
    });
    expect(await businessRows("docs")).toEqual([
      { _sync_scope_id: "ada", doc_id: "a", body: "x" },
      { _sync_scope_id: "ada", doc_id: "b", body: null },
    ]);
    // The session is gone: committing again is 404.
    const created = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.push_sessions");
    expect(created.rows).toEqual([{ n: 0 }]);
  });

  it("UPDATE sets every column and DELETE leaves a tombstone", async () => {
    await push(h.service, ada, 1, [docRow("a", "x"), docRow("b", "y")]);
    const second = await push(h.service, ada, 2, [
      docRow("a", null, { op: "UPDATE", base: 1 }),
      docRow("b", null, { op: "DELETE", base: 1 }),
    ]);
    expect(second).toMatchObject({ bundle_seq: 2, row_count: 2 });
    expect(await businessRows("docs")).toEqual([{ _sync_scope_id: "ada", doc_id: "a", body: null }]);
    // Re-insert over the tombstone at its version.
    await push(h.service, ada, 3, [docRow("b", "back", { base: 2 })]);
    expect(await businessRows("docs")).toHaveLength(2);
  });

  it("counts cascaded rows in row_count", async () => {
    const root = uuid();
    const child = uuid();
    const category = (
      id: string,
      parent: string | null,
      op: PushRow["op"] = "INSERT",
      base = 0,
    ): PushRow => ({
      schema: "business",
      table: "categories",
      key: { id },
      op,
      base_row_version: base,
      payload: op === "DELETE" ? undefined : { id, name: `c-${id.slice(0, 4)}`, parent_id: parent },
    });
    await push(h.service, ada, 1, [category(child, root), category(root, null)]);
    const deleted = await push(h.service, ada, 2, [category(root, null, "DELETE", 1)]);
    expect(deleted.row_count).toBe(2);
    const page = await h.service.getCommittedBundleRows(ada, { bundle_seq: 2 });
    expect(page.rows.map((row) => [row.key.id, row.op])).toEqual([
      [root, "DELETE"],
      [child, "DELETE"],
    ]);
  });

  it("commits an FK cycle in any upload order", async () => {
    const team = uuid();
    const member = uuid();
    const rows: PushRow[] = [
      {
        schema: "business",
        table: "team_members",
        key: { id: member },
        op: "INSERT",
        base_row_version: 0,
        payload: { id: member, name: "cap", team_id: team },
      },
      {
        schema: "business",
        table: "teams",
        key: { id: team },
        op: "INSERT",
        base_row_version: 0,
        payload: { id: team, name: "reds", captain_member_id: member },
      },
    ];
    expect(await push(h.service, ada, 1, rows)).toMatchObject({ row_count: 2 });
  });

  const post = (author: string): PushRow => {
    const id = uuid();
    return {
      schema: "business",
      table: "posts",
      key: { id },
      op: "INSERT",
      base_row_version: 0,
      payload: {
        id,
        title: "t",
        content: "c",
        author_id: author,
        created_at: "2026-01-01T00:00:00Z",
        updated_at: "2026-01-01T00:00:00Z",
      },
    };
  };

  it("answers a child whose parent does not exist with a push_conflict on the child and stores nothing", async () => {
    const orphan = post(uuid());
    const error = await rejection(push(h.service, ada, 1, [docRow("sibling", "s"), orphan]));
    expect(error.code).toBe("push_conflict");
    expect(error.toErrorBody().conflict).toEqual({
      schema: "business",
      table: "posts",
      key: orphan.key,
      op: "INSERT",
      base_row_version: 0,
      server_row_version: 0,
      server_row_deleted: false,
      server_row: null,
    });
    expect(await businessRows("docs")).toEqual([]);
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.bundle_log");
    expect(rows).toEqual([{ n: 0 }]);
  });

  it("answers the delete of a parent rows still reference with a push_conflict carrying the live parent", async () => {
    const author = uuid();
    await push(h.service, ada, 1, [userRow(author, "Ada")]);
    await push(h.service, actor("ada", "laptop"), 1, [post(author)]);
    const error = await rejection(
      push(h.service, ada, 2, [userRow(author, "Ada", { op: "DELETE", base: 1 })]),
    );
    expect(error.code).toBe("push_conflict");
    expect(error.toErrorBody().conflict).toMatchObject({
      table: "users",
      key: { id: author },
      op: "DELETE",
      base_row_version: 1,
      server_row_version: 1,
      server_row_deleted: false,
      server_row: { id: author, name: "Ada" },
    });
    expect(await businessRows("users")).toHaveLength(1);
  });

  it("reports unique and check violations as push_commit_invalid without PostgreSQL's text", async () => {
    await h.db.pool.query("ALTER TABLE business.docs ADD CONSTRAINT body_short CHECK (length(body) < 10)");
    const check = await rejection(push(h.service, ada, 1, [docRow("long", "this body is far too long")]));
    expect(check.code).toBe("push_commit_invalid");
    expect(check.message).toBe(
      "a pushed row of business.docs breaks a CHECK rule of the table; change or discard that row locally and push again",
    );
    // Unique: a row that exists in the business table without row state (written before sync).
    await h.db.pool.query(
      "BEGIN; SELECT set_config('oversync.bundle_user_id', 'ada', true); INSERT INTO business.docs VALUES ('ada', 'pre', 'x'); COMMIT",
    );
    await h.db.pool.query("DELETE FROM sync.bundle_capture_stage");
    const duplicate = await rejection(push(h.service, ada, 1, [docRow("pre", "y")]));
    expect(duplicate.code).toBe("push_commit_invalid");
    expect(duplicate.message).toBe(
      "a pushed row of business.docs repeats a value that must be unique (doc_id); another row already holds it; change or discard that row locally and push again",
    );
    for (const error of [check, duplicate]) {
      expect(error.message).not.toMatch(/_sync_scope_id|body_short|violates|duplicate key/);
    }
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.bundle_log");
    expect(rows).toEqual([{ n: 0 }]);
  });

  it("recomputes the request hash and refuses a mismatch", async () => {
    const rows = [docRow("a", "x")];
    const created = await h.service.createPushSession(ada, {
      source_bundle_id: 1,
      planned_row_count: 1,
      canonical_request_hash: canonicalRequestHash([docRow("a", "other")]),
    });
    if (created.status !== "staging") throw new Error("expected staging");
    await h.service.uploadPushChunk(ada, created.push_id, { start_row_ordinal: 0, rows });
    const error = await rejection(h.service.commitPushSession(ada, created.push_id));
    expect(error.code).toBe("push_commit_invalid");
    expect(error.message).toContain("canonical_request_hash");
  });

  it("refuses to commit before every planned row is staged", async () => {
    const pushId = await create(ada, 1, [docRow("a", "x"), docRow("b", "y")]);
    await h.service.uploadPushChunk(ada, pushId, { start_row_ordinal: 0, rows: [docRow("a", "x")] });
    const error = await rejection(h.service.commitPushSession(ada, pushId));
    expect(error.code).toBe("push_commit_invalid");
    expect(error.message).toContain("staged row count 1 does not match planned_row_count 2");
  });

  it("answers a structured push_conflict with the server row", async () => {
    const id = uuid();
    await push(h.service, ada, 1, [userRow(id, "Ada")]);
    await push(h.service, actor("ada", "laptop"), 1, [userRow(id, "Ada Server", { op: "UPDATE", base: 1 })]);
    const error = await rejection(
      push(h.service, ada, 2, [docRow("sibling", "s"), userRow(id, "Ada Local", { op: "UPDATE", base: 1 })]),
    );
    expect(error.code).toBe("push_conflict");
    expect(error.status).toBe(409);
    expect(error.toErrorBody().conflict).toEqual({
      schema: "business",
      table: "users",
      key: { id },
      op: "UPDATE",
      base_row_version: 1,
      server_row_version: 2,
      server_row_deleted: false,
      server_row: {
        id,
        name: "Ada Server",
        email: "ada server@example.com",
        created_at: "2026-03-24T18:42:11+00:00",
        updated_at: "2026-03-24T18:42:11.5+00:00",
      },
    });
    expect(await businessRows("docs")).toEqual([]);
  });

  it("conflicts on insert over a live row, update of a missing row and a stale delete", async () => {
    await push(h.service, ada, 1, [docRow("a", "x")]);
    await push(h.service, ada, 2, [docRow("gone", "x")]);
    await push(h.service, ada, 3, [docRow("gone", null, { op: "DELETE", base: 2 })]);
    const cases: [PushRow, object][] = [
      [
        docRow("a", "y"),
        { server_row_version: 1, server_row_deleted: false, server_row: { doc_id: "a", body: "x" } },
      ],
      [
        docRow("none", "y", { op: "UPDATE", base: 1 }),
        { server_row_version: 0, server_row_deleted: false, server_row: null },
      ],
      [
        docRow("gone", null, { op: "DELETE", base: 2 }),
        { server_row_version: 3, server_row_deleted: true, server_row: null },
      ],
      [
        docRow("gone", "again", { base: 2 }),
        { server_row_version: 3, server_row_deleted: true, server_row: null },
      ],
    ];
    for (const [row, expected] of cases) {
      const error = await rejection(push(h.service, ada, 4, [row]));
      expect(error.code).toBe("push_conflict");
      expect(error.toErrorBody().conflict).toMatchObject(expected);
    }
  });

  it("rechecks the source at commit: source_sequence_changed and source_retired", async () => {
    const pushId = await create(ada, 1);
    await h.service.uploadPushChunk(ada, pushId, { start_row_ordinal: 0, rows: [docRow("a", "x")] });
    const { rows } = await h.db.pool.query("SELECT user_pk FROM sync.user_state WHERE user_id = 'ada'");
    await h.db.pool.query(
      "INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id) VALUES ($1, 'phone', 'active', 1)",
      [rows[0].user_pk],
    );
    expect((await rejection(h.service.commitPushSession(ada, pushId))).code).toBe("source_sequence_changed");
    await h.db.pool.query(
      "UPDATE sync.source_state SET state = 'retired', retirement_reason = 'source_retired', replaced_by_source_id = NULL",
    );
    const retired = await rejection(h.service.commitPushSession(ada, pushId));
    expect(retired.code).toBe("source_retired");
    expect(retired.toErrorBody()).toEqual({
      error: "source_retired",
      message: retired.message,
      source_id: "phone",
    });
  });

  it("answers 404 for a committed session and 403 for another user's", async () => {
    const pushId = await create(ada, 1);
    await h.service.uploadPushChunk(ada, pushId, { start_row_ordinal: 0, rows: [docRow("a", "x")] });
    expect((await rejection(h.service.commitPushSession(actor("eve"), pushId))).code).toBe(
      "push_session_forbidden",
    );
    await h.service.commitPushSession(ada, pushId);
    expect((await rejection(h.service.commitPushSession(ada, pushId))).code).toBe("push_session_not_found");
  });

  it("deletes a staging session", async () => {
    const pushId = await create(ada, 1);
    expect((await rejection(h.service.deletePushSession(actor("eve"), pushId))).code).toBe(
      "push_session_forbidden",
    );
    await h.service.deletePushSession(ada, pushId);
    expect((await rejection(h.service.deletePushSession(ada, pushId))).code).toBe("push_session_not_found");
    const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM sync.push_session_rows");
    expect(rows).toEqual([{ n: 0 }]);
  });

  it("stays gapless when two sources of one user push concurrently", async () => {
    const laptop = actor("ada", "laptop");
    const rounds = 8;
    const results = await Promise.all(
      [ada, laptop].map(async (who) => {
        const seqs: number[] = [];
        for (let i = 1; i <= rounds; i++) {
          seqs.push((await push(h.service, who, i, [docRow(`${who.sourceId}-${i}`, "x")])).bundle_seq);
        }
        return seqs;
      }),
    );
    const all = results.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: rounds * 2 }, (_, i) => i + 1));
    const { rows } = await h.db.pool.query(
      "SELECT next_bundle_seq::int AS next FROM sync.user_state WHERE user_id = 'ada'",
    );
    expect(rows).toEqual([{ next: rounds * 2 + 1 }]);
  });

  it("keeps users apart: same keys, separate rows, no reads or writes across scopes", async () => {
    const bob = actor("bob", "phone");
    await initializeScope(h.service, bob);
    const shared = uuid();
    await push(h.service, ada, 1, [userRow(shared, "Ada"), docRow("same", "ada's")]);
    await push(h.service, bob, 1, [userRow(shared, "Bob"), docRow("same", "bob's")]);
    // Ada cannot update Bob's row: her row_state knows only her own version 1.
    await push(h.service, ada, 2, [docRow("same", "ada v2", { op: "UPDATE", base: 1 })]);
    expect(await businessRows("docs")).toEqual(
      expect.arrayContaining([
        { _sync_scope_id: "ada", doc_id: "same", body: "ada v2" },
        { _sync_scope_id: "bob", doc_id: "same", body: "bob's" },
      ]),
    );
    const adaPull = await h.service.pull(ada, { after_bundle_seq: 0 });
    const bobPull = await h.service.pull(bob, { after_bundle_seq: 0 });
    expect(adaPull.bundles.map((b) => b.bundle_seq)).toEqual([1, 2]);
    expect(bobPull.bundles.map((b) => b.bundle_seq)).toEqual([1]);
    // Only Bob's values (a JSON search for "ada" would also hit hex digits of ids and hashes).
    expect(
      bobPull.bundles.flatMap((b) => b.rows.map((row) => row.payload?.name ?? row.payload?.body)),
    ).toEqual(["Bob", "bob's"]);
    const bobsBundle = await h.service.getCommittedBundleRows(bob, { bundle_seq: 1 });
    expect(bobsBundle.rows.map((row) => row.payload?.name ?? row.payload?.body)).toEqual(["Bob", "bob's"]);
    expect((await rejection(h.service.getCommittedBundleRows(bob, { bundle_seq: 2 }))).code).toBe(
      "committed_bundle_not_found",
    );
    for (const body of [adaPull, bobPull, bobsBundle])
      expect(JSON.stringify(body)).not.toContain("_sync_scope_id");
  });

  it("never sends _sync_scope_id in conflicts either", async () => {
    await push(h.service, ada, 1, [docRow("a", "x")]);
    const error = await rejection(push(h.service, ada, 2, [docRow("a", "y")]));
    expect(error).toBeInstanceOf(OversyncError);
    expect(JSON.stringify(error.toErrorBody())).not.toContain("_sync_scope_id");
  });
});
