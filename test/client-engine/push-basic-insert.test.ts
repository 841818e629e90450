/**
 * Runs `push/basic-insert.json` end to end: the fake server answers with the fixture's bodies and
 * the client's final state must match `expectedFinalState`. The fixture's hashes are placeholders
 * ("fixture-hash", `aaaa…`): the server fills in the client's real request hash and the real bundle
 * hash of the served rows, keeping the deliberately different `bbbb…` hashes, and names the
 * requesting source. The requests the client sends are compared with the fixture's bodies.
 */
import { bundleHash } from "@oversync/protocol";
import { describe, expect } from "vitest";
import type { RecordedRequest } from "../client-support/fake-sync-server.js";
import { jsonReply, statusReply } from "../client-support/scripted-replies.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";
import { type EngineHarness, scalar, scalarText, startEngineHarness } from "./engine-harness.js";
import { expectException, outcomeOf } from "./fixture-support.js";

type Json = Record<string, unknown>;

interface BasicInsertCase {
  name: string;
  localWrite?: { sql: string };
  pushSessionCreateRequest?: Json;
  pushSessionCreateResponse?: Json;
  pushChunkRequest?: { rows: { payload: Record<string, string> }[] };
  pushChunkResponse?: Json;
  pushCommitResponse?: Json;
  committedBundleRowsResponse?: Json & { rows: Json[] };
  pushConflictResponse?: Json;
  expectedFinalState: {
    error?: string;
    dirtyRowCount?: number;
    outboxRowCount?: number;
    lastBundleSeqSeen?: number;
    rebuildRequired?: boolean;
    outboxState?: string;
    nextSourceBundleId?: number;
    rowState?: { table: string; key: Record<string, string>; rowVersion: number; deleted: boolean };
  };
}

const FILE = "push/basic-insert.json";
const PLACEHOLDER_REQUEST_HASH = "a".repeat(64);
const available = requireContracts();
const tally = fixtureTally();

describe.skipIf(!available)("push basic-insert fixture (engine)", () => {
  const cases = available ? readContract<{ cases: BasicInsertCase[] }>(FILE).cases : [];
  for (const fixture of cases) tally.it(FILE, `${FILE} ${fixture.name}`, () => runCase(fixture));
});

async function runCase(fixture: BasicInsertCase): Promise<void> {
  const harness = await startEngineHarness();
  try {
    scriptServer(harness, fixture);
    await harness.client.open();
    await harness.client.attach("user-1");
    await harness.execute([localWriteOf(fixture)]);
    const { error } = await outcomeOf(() => harness.client.pushPending());
    const expected = fixture.expectedFinalState;
    expectException(expected.error ?? "none", error, fixture.name);
    await expectFinalState(harness, fixture);
    if (fixture.pushSessionCreateRequest) {
      const create = harness.server.requestsTo("pushCreate")[0]!.body as Json;
      expect(create, "create request").toEqual({
        ...fixture.pushSessionCreateRequest,
        canonical_request_hash: create.canonical_request_hash,
      });
      expect(create.canonical_request_hash).toMatch(/^[0-9a-f]{64}$/);
    }
    if (fixture.pushChunkRequest) {
      const chunk = harness.server.requestsTo("pushChunk")[0]!.body;
      expect(chunk, "chunk request").toEqual(fixture.pushChunkRequest);
    }
  } finally {
    await harness.close();
  }
}

/** The local write the case implies: its `localWrite`, else the uploaded row's payload. */
function localWriteOf(fixture: BasicInsertCase): string {
  if (fixture.localWrite) return fixture.localWrite.sql;
  const payload = fixture.pushChunkRequest?.rows[0]?.payload ?? { id: "user-1", name: "Ada" };
  const columns = Object.keys(payload);
  const values = columns.map((column) => `'${payload[column]!.replaceAll("'", "''")}'`);
  return `INSERT INTO users(${columns.join(", ")}) VALUES(${values.join(", ")})`;
}

function scriptServer(harness: EngineHarness, fixture: BasicInsertCase): void {
  const { backend } = harness;
  const rowsHash = fixture.committedBundleRowsResponse
    ? bundleHash(fixture.committedBundleRowsResponse.rows as never)
    : undefined;
  // The request hash of the session the client opened (the staging answer must echo it).
  let requestHash = "";
  const fill = (body: Json, request: RecordedRequest): Json => ({
    ...body,
    ...("source_id" in body ? { source_id: request.sourceId } : {}),
    ...(body.canonical_request_hash === PLACEHOLDER_REQUEST_HASH
      ? { canonical_request_hash: requestHash }
      : {}),
    ...("bundle_hash" in body && rowsHash !== undefined ? { bundle_hash: rowsHash } : {}),
  });
  backend.override("pushCreate", (next) => (request, params) => {
    requestHash = (request.body as Json).canonical_request_hash as string;
    if (fixture.pushSessionCreateResponse === undefined) return next(request, params);
    const body = fill(fixture.pushSessionCreateResponse, request);
    if (body.status === "staging") {
      backend.pushSessions.set(body.push_id as string, {
        pushId: body.push_id as string,
        sourceId: request.sourceId ?? "",
        request: request.body as never,
        rows: [],
      });
    }
    return jsonReply(body);
  });
  if (fixture.pushChunkResponse) {
    const response = fixture.pushChunkResponse;
    backend.override("pushChunk", () => () => jsonReply(response));
  }
  if (fixture.pushCommitResponse || fixture.pushConflictResponse) {
    backend.override(
      "pushCommit",
      () => (request) =>
        fixture.pushConflictResponse
          ? statusReply(409, fixture.pushConflictResponse)
          : jsonReply(fill(fixture.pushCommitResponse!, request)),
    );
  }
  if (fixture.committedBundleRowsResponse) {
    const page = fixture.committedBundleRowsResponse;
    backend.override("committedRows", () => (request) => jsonReply(fill(page, request)));
  }
}

async function expectFinalState(harness: EngineHarness, fixture: BasicInsertCase): Promise<void> {
  const expected = fixture.expectedFinalState;
  const checks: [keyof typeof expected, () => Promise<unknown>][] = [
    ["dirtyRowCount", () => scalar(harness, "SELECT count(*) FROM _sync_dirty_rows")],
    ["outboxRowCount", () => scalar(harness, "SELECT count(*) FROM _sync_outbox_rows")],
    ["lastBundleSeqSeen", () => scalar(harness, "SELECT last_bundle_seq_seen FROM _sync_attachment_state")],
    [
      "rebuildRequired",
      async () => (await scalar(harness, "SELECT rebuild_required FROM _sync_attachment_state")) === 1,
    ],
    ["outboxState", () => scalarText(harness, "SELECT state FROM _sync_outbox_bundle")],
    [
      "nextSourceBundleId",
      () =>
        scalar(
          harness,
          "SELECT next_source_bundle_id FROM _sync_source_state WHERE source_id = (SELECT current_source_id FROM _sync_attachment_state)",
        ),
    ],
  ];
  for (const [name, read] of checks) {
    if (expected[name] !== undefined) expect(await read(), `${fixture.name} ${name}`).toEqual(expected[name]);
  }
  if (expected.rowState) {
    const { table, key, rowVersion, deleted } = expected.rowState;
    const rows = await harness.driver.query(
      "SELECT row_version, deleted FROM _sync_row_state WHERE table_name = ? AND key_json = ?",
      [table, JSON.stringify(key)],
    );
    expect(rows, `${fixture.name} row state`).toEqual([
      { row_version: BigInt(rowVersion), deleted: deleted ? 1n : 0n },
    ]);
  }
}
