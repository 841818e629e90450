/**
 * Every statement the runtime sends to a `sync.*` or registered table names the scope it works on,
 * so a cluster that distributes every table by scope (Citus, docs/scaling.md) can route it to one
 * shard. The test records every statement of a workload that runs every statement the runtime has
 * (bootstrap on a fresh, an existing and an older layout, connect and seeding, push with conflicts, foreign
 * key refusals, discarded sessions and replays, pull below and above the retained floor, committed
 * rows, retention, snapshots with and without source replacement, server-originated writes, watch,
 * housekeeping, status and health), and checks:
 *
 * - each statement constrains every such table it names by its scope key (scope-routing-support.ts
 *   says exactly what counts), or is on ALLOWED below, which says why it may not;
 * - every entry of ALLOWED still excuses some statement (no stale excuses);
 * - every place in packages/server/src that sends a statement ran in the workload, so a new query
 *   cannot slip past unchecked: extend the workload (or, for a statement no test can reach, say so
 *   here) when this fails.
 *
 * Host SQL run through a server-originated write's transaction is the host's own and is not
 * checked. The check reads SQL text, as a lint does; it is no SQL parser, and the self-test below
 * shows what it catches.
 */
import { randomUUID } from "node:crypto";
import { HIDDEN_SCOPE_COLUMN, type PushRow, canonicalRequestHash } from "@oversync/protocol";
import { PgNotificationListener, type SyncRuntime, createSyncService } from "@oversync/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";
import { downgradeToLayoutV1 } from "./layout-v1.js";
import {
  type RecordedStatement,
  type ScopedTable,
  normalizeSql,
  recordingClient,
  recordingPool,
  scopeProblems,
  statementPlaces,
} from "./scope-routing-support.js";
import { actor, docRow, initializeScope, push, rejection, userRow } from "./service-harness.js";

/** Why a statement may name a sync or registered table without constraining it by scope. */
type Category =
  /** Runs once per process start, under the bootstrap lock; DDL and the table catalog. */
  | "bootstrap"
  /** Deliberately spans every scope, off the request path (housekeeping) or for operators (status). */
  | "global"
  /**
   * Keyed by a push or snapshot session id or by the transaction, whose scope the same call already
   * checked; the Citus layout in docs/scaling.md adds the scope key to these tables.
   */
  | "session-keyed";

interface Allowed {
  readonly statement: RegExp;
  readonly category: Category;
  readonly reason: string;
}

/** Statements allowed to name a sync or registered table without its scope key; matched on normalizeSql's text. */
const ALLOWED: readonly Allowed[] = [
  {
    statement:
      /^(CREATE (UNLOGGED )?TABLE IF NOT EXISTS|CREATE INDEX IF NOT EXISTS \w+ ON|CREATE SEQUENCE IF NOT EXISTS|ALTER TABLE) sync\.\w+( |$)/,
    category: "bootstrap",
    reason: "the sync layout's DDL (schema/sync-layout.ts)",
  },
  {
    statement:
      /^SELECT layout FROM sync\.meta$|^INSERT INTO sync\.meta \(layout\) VALUES \(\$1\)$|^UPDATE sync\.meta SET layout = \$1$/,
    category: "bootstrap",
    reason: "the layout label, one row for the whole database",
  },
  {
    statement:
      /^SELECT table_id, schema_name, table_name, sync_key_column FROM sync\.table_catalog ORDER BY table_id$|^INSERT INTO sync\.table_catalog \(table_id, schema_name, table_name, sync_key_column\) VALUES/,
    category: "bootstrap",
    reason: "the table catalog, a small table every scope shares (a reference table in Citus)",
  },
  {
    statement:
      /^CREATE OR REPLACE FUNCTION sync\.(guard_registered_row|reject_registered_truncate|capture_table_\d+)\(\)/,
    category: "bootstrap",
    reason:
      "installs the guard and capture trigger functions; the capture functions insert into sync.bundle_capture_stage keyed by txid (see session-keyed)",
  },
  {
    statement: /^(DROP TRIGGER (IF EXISTS )?\w+|CREATE TRIGGER \w+ .*) ON \w+\.\w+( |$)/,
    category: "bootstrap",
    reason: "(re)installs the capture triggers on the registered tables",
  },
  {
    statement: /^DROP FUNCTION sync\.capture_table_\d+\(\)$/,
    category: "bootstrap",
    reason: "removes the capture function of a table no longer registered",
  },
  {
    statement: /^WITH expired AS \( SELECT push_id FROM sync\.push_sessions WHERE expires_at <= now\(\)/,
    category: "global",
    reason: "housekeeping: expired push sessions of every scope (service/housekeeping.ts)",
  },
  {
    statement:
      /^WITH expired AS \( SELECT snapshot_id FROM sync\.snapshot_sessions WHERE expires_at <= now\(\)/,
    category: "global",
    reason: "housekeeping: expired snapshot sessions of every scope",
  },
  {
    statement: /^VACUUM \(SKIP_LOCKED\) sync\.push_sessions, /,
    category: "global",
    reason: "housekeeping: vacuums the tables of work in progress",
  },
  {
    statement: /^SELECT count\(\*\) FILTER \(WHERE u\.retained_bundle_floor > u\.next_bundle_seq - 1\)/,
    category: "global",
    reason: "the status counters, aggregated over every scope (service/service-status.ts)",
  },
  {
    statement: /^SELECT FROM sync\.user_state LIMIT 0$/,
    category: "global",
    reason: "the health probe: plans against the layout without reading a row",
  },
  {
    statement: /^DELETE FROM sync\.bundle_capture_stage WHERE txid = txid_current\(\) RETURNING /,
    category: "session-keyed",
    reason: "takes the effects the capture triggers staged in this transaction, keyed by its txid",
  },
  {
    statement:
      /^SELECT s\.user_pk, \(SELECT u\.user_id FROM sync\.user_state u WHERE u\.user_pk = s\.user_pk\) AS user_id, .* FROM sync\.push_sessions s WHERE s\.push_id = \$1 FOR UPDATE$/,
    category: "session-keyed",
    reason:
      "finds a push session by id for chunk, commit and delete; it must see other scopes' sessions to answer 403 push_session_forbidden rather than 404",
  },
  {
    statement:
      /^WITH previous AS \( DELETE FROM sync\.push_sessions WHERE user_pk = \$1 AND source_id = \$2 AND source_bundle_id = \$3 RETURNING push_id\) DELETE FROM sync\.push_session_rows WHERE push_id = ANY/,
    category: "session-keyed",
    reason: "a create replaces the session staging the same tuple; its staged rows are keyed by push_id",
  },
  {
    statement: /^INSERT INTO sync\.push_session_rows \(push_id, row_ordinal,/,
    category: "session-keyed",
    reason: "stages a chunk's rows under the session's push_id",
  },
  {
    statement:
      /^UPDATE sync\.push_sessions SET next_expected_row_ordinal = \$2, expires_at = now\(\) \+ make_interval\(secs => \$3\) WHERE push_id = \$1$/,
    category: "session-keyed",
    reason: "advances the session the same call loaded for the actor's scope",
  },
  {
    statement: /^DELETE FROM sync\.push_session_rows WHERE push_id = \$1 RETURNING row_ordinal,/,
    category: "session-keyed",
    reason: "a commit takes the session's staged rows",
  },
  {
    statement:
      /^DELETE FROM sync\.push_sessions WHERE push_id = \$1$|^WITH staged AS \(DELETE FROM sync\.push_session_rows WHERE push_id = \$1\) DELETE FROM sync\.push_sessions WHERE push_id = \$1$/,
    category: "session-keyed",
    reason: "a commit or delete ends the session the same call loaded for the actor's scope",
  },
  {
    statement: /^INSERT INTO sync\.snapshot_session_rows \(snapshot_id, row_ordinal, byte_length, row_text\)/,
    category: "session-keyed",
    reason: "stores a snapshot's frozen rows under its snapshot_id",
  },
  {
    statement:
      /^SELECT u\.user_id, s\.snapshot_bundle_seq, s\.row_count, s\.expires_at <= now\(\) AS expired FROM sync\.snapshot_sessions s JOIN sync\.user_state u USING \(user_pk\) WHERE s\.snapshot_id = \$1( FOR UPDATE OF s)?$/,
    category: "session-keyed",
    reason:
      "finds a snapshot session by id for chunk reads and deletes; it must see other scopes' sessions to answer 403 snapshot_session_forbidden rather than 404",
  },
  {
    statement:
      /^UPDATE sync\.snapshot_sessions s SET last_used_at = now\(\) FROM sync\.user_state u WHERE s\.snapshot_id = \$1 AND u\.user_pk = s\.user_pk AND u\.user_id = \$2$/,
    category: "session-keyed",
    reason: "marks the actor's snapshot session as used, by id, joined to the actor's scope",
  },
  {
    statement:
      /^SELECT byte_length, .* FROM sync\.snapshot_session_rows WHERE snapshot_id = \$1 AND row_ordinal > \$2 /,
    category: "session-keyed",
    reason: "reads a chunk of the session the same transaction found for the actor's scope",
  },
  {
    statement:
      /^DELETE FROM sync\.snapshot_session_rows WHERE snapshot_id = ANY\(\$1::uuid\[\]\)$|^DELETE FROM sync\.snapshot_sessions WHERE snapshot_id = ANY\(\$1::uuid\[\]\)$/,
    category: "session-keyed",
    reason: "deletes sessions of the actor's scope (a delete, or idle ones evicted at create) by id",
  },
];

/**
 * The places that only pass a statement on, named by file and enclosing function: one-shot queries
 * and the pool wrapper that times checkouts (db/session.ts), the named-statement wrapper
 * (db/named-statements.ts), and the host's own SQL in a server-originated write
 * (bundle/server-writes.ts). Statements are checked at the place that wrote
 * them, and a pass-through need not run in the workload (the runtime may not use a wrapper's
 * `query` at all).
 */
/** The session wrappers every statement of a checked-out client passes through first. */
const SESSION_WRAPPERS = new Set([
  "db/named-statements.ts#namedStatements",
  "db/named-statements.ts#runNamed",
]);
const PASS_THROUGH = new Set([
  "db/session.ts#oneShotQueries",
  "db/session.ts#timeCheckouts",
  ...SESSION_WRAPPERS,
  "bundle/server-writes.ts#runBundle",
]);
const HOST_SQL = "bundle/server-writes.ts#runBundle";

const REGISTERED: readonly ScopedTable[] = BUSINESS_TABLES.map((table) => ({
  name: `${table.schema}.${table.table}`,
  scopeColumns: [HIDDEN_SCOPE_COLUMN],
}));

let db: TestDatabase;
const statements: RecordedStatement[] = [];
const faults: string[] = [];

function runtime(
  pool: ReturnType<typeof recordingPool>,
  listener: PgNotificationListener,
  tables = BUSINESS_TABLES,
) {
  return createSyncService({
    pool,
    appName: "oversync-scope-routing",
    registeredTables: tables,
    maxSupportedSchemaVersion: 1,
    watch: { notifications: listener },
    retention: { keepBundles: 3 },
    limits: { max_rows_per_snapshot_session: 100_000 },
    logger: { warn: () => undefined, error: (message) => faults.push(message) },
  });
}

/** A posts row whose author is `author`. */
function post(author: string): PushRow {
  const id = randomUUID();
  return {
    schema: "business",
    table: "posts",
    key: { id },
    op: "INSERT",
    base_row_version: 0,
    payload: { id, title: "t", content: "c", author_id: author, created_at: "2026-01-01T00:00:00Z" },
  };
}

/** Runs every statement the runtime has, recording them. */
async function workload(service: SyncRuntime): Promise<void> {
  await service.bootstrap();
  const ada = actor("route-ada", "ada-phone");
  await initializeScope(service, ada);
  const watch = await service.openBundleWatch(ada, { after_bundle_seq: 0 });
  const first = randomUUID();
  const second = randomUUID();
  const seed = [userRow(first, "Ada"), userRow(second, "Bea"), docRow("d1", "one")];
  await push(service, ada, 1, seed);
  expect(await watch.next(10_000)).toMatchObject({ bundle_seq: 1 });
  const replay = await service.createPushSession(ada, {
    source_bundle_id: 1,
    planned_row_count: seed.length,
    canonical_request_hash: canonicalRequestHash(seed),
  });
  expect(replay.status).toBe("already_committed");
  await push(service, ada, 2, [userRow(first, "Ada Lovelace", { op: "UPDATE", base: 1 })]);
  await push(service, ada, 3, [userRow(second, "Bea", { op: "DELETE", base: 1 })]);
  // A stale base on a live row, then a post whose author does not exist: both push_conflict.
  expect(
    (await rejection(push(service, ada, 4, [userRow(first, "stale", { op: "UPDATE", base: 1 })]))).code,
  ).toBe("push_conflict");
  expect((await rejection(push(service, ada, 4, [post(randomUUID())]))).code).toBe("push_conflict");
  const discarded = [docRow("d2", "discarded")];
  const session = await service.createPushSession(ada, {
    source_bundle_id: 4,
    planned_row_count: 1,
    canonical_request_hash: canonicalRequestHash(discarded),
  });
  if (session.status !== "staging") throw new Error("expected a staging session");
  await service.uploadPushChunk(ada, session.push_id, { start_row_ordinal: 0, rows: discarded });
  await service.deletePushSession(ada, session.push_id);
  await push(service, ada, 4, [docRow("d2", "two")]);
  await push(service, ada, 5, [docRow("d3", "three")]);

  // Retention keeps 3 bundles: the floor is at 2 now.
  expect((await service.getCommittedBundleRows(ada, { bundle_seq: 5 })).rows).toHaveLength(1);
  expect((await service.pull(ada, { after_bundle_seq: 2 })).bundles).toHaveLength(3);
  expect((await rejection(service.pull(ada, { after_bundle_seq: 0 }))).code).toBe("history_pruned");
  await service.setRetainedFloor(ada.scopeId, 3);

  const snapshot = await service.createSnapshotSession(ada, {});
  expect(
    (await service.getSnapshotChunk(ada, { snapshot_id: snapshot.snapshot_id, after_row_ordinal: 0 })).rows,
  ).toHaveLength(snapshot.row_count);
  await service.deleteSnapshotSession(ada, snapshot.snapshot_id);
  await service.createSnapshotSession(ada, {
    source_replacement: {
      previous_source_id: "ada-phone",
      new_source_id: "ada-phone-2",
      reason: "history_pruned",
    },
  });

  // A device seeds a scope from its local rows under an initialization lease.
  const bob = actor("route-bob", "bob-phone");
  const connected = await service.connect(bob, { has_local_pending_rows: true });
  if (connected.resolution !== "initialize_local")
    throw new Error(`expected initialize_local, got ${connected.resolution}`);
  await push(service, bob, 1, [userRow(randomUUID(), "Bob")], {
    initializationId: connected.initialization_id,
  });
  expect(await service.connect(actor("route-bob", "bob-laptop"), { has_local_pending_rows: false })).toEqual({
    resolution: "remote_authoritative",
  });

  // Server-originated writes: a new scope initialized by the write, and a bundle from a named source.
  await service.scopeManager.execWrite("route-carol", { writerId: "route-server" }, (tx) =>
    tx.query("INSERT INTO business.users (id, name, email) VALUES ($1, 'Carol', 'carol@example.com')", [
      randomUUID(),
    ]),
  );
  await service.withinSyncBundle(
    { scopeId: ada.scopeId },
    { sourceId: "route-server", sourceBundleId: 1 },
    (tx) =>
      tx.query("UPDATE business.users SET name = 'Ada (server)' WHERE _sync_scope_id = $1 AND id = $2", [
        ada.scopeId,
        first,
      ]),
  );

  await service.sweep();
  await service.status("current");
  await service.health();
  watch.close();
}

beforeAll(async () => {
  db = await createTestDatabase("oversync_route");
  await createBusinessSchema(db.pool);
  const pool = recordingPool(db.pool, statements);
  const listener = new PgNotificationListener({
    createClient: () => recordingClient(new pg.Client({ connectionString: db.url }), statements),
  });
  const service = runtime(pool, listener);
  try {
    await workload(service);
  } finally {
    await service.close();
    await listener.close();
  }
  // A later start with one table fewer over what an older build left (layout v1): the layout is
  // upgraded, the dropped table's triggers removed.
  await downgradeToLayoutV1(db.pool);
  const later = runtime(
    pool,
    listener,
    BUSINESS_TABLES.filter((table) => table.table !== "docs"),
  );
  await later.bootstrap();
  await later.close();
});

afterAll(async () => {
  await db?.drop();
});

/** Each recorded statement with the place that sent it; host SQL (a server write's own statements) left out. */
function runtimeStatements(): { text: string; place: string }[] {
  const places = statementPlaces();
  const out: { text: string; place: string }[] = [];
  for (const statement of statements) {
    const senders = statement.places.filter((place) => places.has(place));
    const origin = senders.find((place) => !PASS_THROUGH.has(`${place.split(":")[0]}#${places.get(place)}`));
    const first = senders.find(
      (place) => !SESSION_WRAPPERS.has(`${place.split(":")[0]}#${places.get(place)}`),
    );
    if (first !== undefined && `${first.split(":")[0]}#${places.get(first)}` === HOST_SQL) continue;
    if (origin === undefined)
      throw new Error(`no server place sent ${JSON.stringify(statement.text.slice(0, 80))}`);
    out.push({ text: statement.text, place: origin });
  }
  return out;
}

describe("scope routing of the runtime's SQL", () => {
  it("the check catches a statement that does not constrain a table by its scope key", () => {
    const problems = (sql: string) => scopeProblems(sql, REGISTERED);
    expect(problems("SELECT * FROM sync.bundle_log WHERE user_pk = $1 AND bundle_seq > $2")).toEqual([]);
    expect(problems("SELECT * FROM sync.bundle_log WHERE bundle_seq > $1")).toEqual([
      "sync.bundle_log after FROM is not constrained by user_pk",
    ]);
    // An alias must qualify the key; a key compared with a column, not a parameter, does not count.
    expect(problems("SELECT * FROM sync.bundle_log b WHERE b.user_pk = $1")).toEqual([]);
    expect(
      problems("SELECT * FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1"),
    ).toEqual(["sync.bundle_log b after FROM is not constrained by user_pk"]);
    expect(
      problems('UPDATE "sync"."row_state" SET deleted = true WHERE user_pk = ANY($1::bigint[])'),
    ).toEqual([]);
    expect(problems("INSERT INTO sync.bundle_rows (user_pk, bundle_seq) VALUES ($1, $2)")).toEqual([]);
    expect(problems("INSERT INTO sync.bundle_rows (bundle_seq) VALUES ($1)")).toEqual([
      "sync.bundle_rows after INTO is not constrained by user_pk",
    ]);
    expect(problems('DELETE FROM "business"."users" WHERE id = $1')).toEqual([
      "business.users after FROM is not constrained by _sync_scope_id",
    ]);
    expect(problems("DELETE FROM business.users t WHERE t._sync_scope_id = $1 AND t.id = $2")).toEqual([]);
    expect(problems("SELECT nextval('sync.accepted_push_replay_seq')")).toEqual([]);
    expect(problems("SELECT count(*) FROM sync.push_session_rows WHERE push_id = $1")).toEqual([
      "sync.push_session_rows has no scope key",
    ]);
    expect(problems("VACUUM sync.row_state")).toEqual([
      "sync.row_state is named outside FROM, JOIN, UPDATE, USING or INSERT INTO",
    ]);
  });

  it("every statement on a sync or registered table is constrained by scope, or allowed with a reason", () => {
    const used = new Set<Allowed>();
    const unrouted: { place: string; problems: string[]; sql: string }[] = [];
    let routed = 0;
    let checked = 0;
    for (const { text, place } of runtimeStatements()) {
      const problems = scopeProblems(text, REGISTERED);
      const sql = normalizeSql(text);
      if (/\bsync\.|\bbusiness\./.test(sql)) checked++;
      if (problems.length === 0) {
        if (/\bsync\.|\bbusiness\./.test(sql)) routed++;
        continue;
      }
      const allowed = ALLOWED.find((entry) => entry.statement.test(sql));
      if (allowed === undefined) unrouted.push({ place, problems, sql: sql.slice(0, 300) });
      else used.add(allowed);
    }
    expect(unrouted).toEqual([]);
    expect(faults).toEqual([]);
    // No stale excuses: each entry still covers a statement the runtime sends.
    expect(ALLOWED.filter((entry) => !used.has(entry)).map((entry) => entry.statement.source)).toEqual([]);
    expect(routed).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(routed);
  });

  it("the workload runs every place in the server sources that sends a statement", () => {
    const sent = new Set(statements.flatMap((statement) => statement.places));
    const missing = [...statementPlaces()]
      .filter(
        ([place, enclosing]) => !sent.has(place) && !PASS_THROUGH.has(`${place.split(":")[0]}#${enclosing}`),
      )
      .map(([place, enclosing]) => `${place} (${enclosing})`);
    expect(missing).toEqual([]);
  });
});
