/**
 * Talking to a running reference server over real HTTP, as a client app would: sign in, call sync
 * routes with the bearer token, and push then pull rows of the example schema.
 */
import { randomUUID } from "node:crypto";
import { request } from "node:http";
import {
  type BundleRow,
  type PushRow,
  canonicalRequestHash,
  decodePullResponse,
  decodePushCommitResponse,
  decodePushCreateResponse,
  renderFloat64,
} from "@oversync/protocol";
import { expect } from "vitest";
import { readContract } from "../support/contracts.js";

/** A reply: status, headers and the parsed JSON body (undefined when empty or not JSON). */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: unknown;
}

/** Sends one request and reads the whole reply. */
export async function send(url: string, init?: RequestInit): Promise<Reply> {
  const response = await fetch(url, init);
  const text = await response.text();
  const json = response.headers.get("content-type") === "application/json" && text !== "";
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: json ? JSON.parse(text) : undefined,
  };
}

/** Sends a POST whose body is written only when `finish()` is called; resolves with the reply. */
export function slowPost(url: string, body: string) {
  const bytes = Buffer.from(body);
  let finish: () => void = () => undefined;
  const reply = new Promise<{ status: number; text: string }>((done, failed) => {
    const req = request(url, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": bytes.length },
    });
    req.on("response", (response) => {
      let text = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      response.on("end", () => done({ status: response.statusCode ?? 0, text }));
    });
    req.on("error", failed);
    req.write(bytes.subarray(0, 5));
    finish = () => req.end(bytes.subarray(5));
  });
  return { reply, finish: () => finish() };
}

/** An open `GET /sync/watch` stream: its status and a reader of its text. */
export async function openWatch(origin: string, token: string, sourceId: string, afterBundleSeq: number) {
  const controller = new AbortController();
  const response = await fetch(`${origin}/sync/watch?after_bundle_seq=${afterBundleSeq}`, {
    headers: { authorization: `Bearer ${token}`, "oversync-source-id": sourceId },
    signal: controller.signal,
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    /** The next piece of the stream, or undefined once it has ended. */
    next: async () => (await reader.read()).value,
    /** Reads until the stream ends; resolves to everything read. */
    drain: async () => {
      let text = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value;
      return text;
    },
    close: () => controller.abort(),
  };
}

/** Polls `/test/watch-subscribers` until the user's count is `expected`; returns the last count. */
export async function watchSubscribers(origin: string, userId: string, expected: number): Promise<number> {
  let count = -1;
  for (let attempt = 0; attempt < 100; attempt++) {
    const reply = await send(`${origin}/test/watch-subscribers?user_id=${encodeURIComponent(userId)}`);
    expect(reply.status).toBe(200);
    count = (reply.body as { subscriber_count: number }).subscriber_count;
    if (count === expected) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return count;
}

/** Signs in through `POST /dummy-signin` and returns the token. */
export async function signIn(origin: string, user: string): Promise<string> {
  const reply = await send(`${origin}/dummy-signin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password: "anything", device: `${user}-device` }),
  });
  expect(reply.status).toBe(200);
  return (reply.body as { token: string }).token;
}

/** A signed-in device of one user. */
export function device(origin: string, token: string, sourceId: string) {
  const call = (method: string, path: string, body?: unknown) =>
    send(`${origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        "oversync-source-id": sourceId,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return {
    sourceId,
    get: (path: string) => call("GET", path),
    post: (path: string, body?: unknown) => call("POST", path, body),
  };
}

type Device = ReturnType<typeof device>;

interface NumericScenario {
  name: string;
  local: Record<string, string>;
  committed: Record<string, string>;
}

const REAL_COLUMNS = new Set(["rating", "float4_value"]);

/** A typed_rows payload carrying `local` (as the client would put it on the wire) and nulls elsewhere. */
function typedRowsPayload(
  id: string,
  name: string,
  local: Record<string, string>,
): Record<string, string | null> {
  const payload: Record<string, string | null> = {
    id,
    name,
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
  };
  for (const [column, value] of Object.entries(local)) {
    // Clients send REAL values in canonical binary64 text (−0.0 becomes "0").
    payload[column] = REAL_COLUMNS.has(column) ? renderFloat64(Number(value)) : value;
  }
  return payload;
}

/** Connects, pushes `rows` as one bundle and commits it; returns the committed bundle_seq. */
export async function pushBundle(client: Device, sourceBundleId: number, rows: PushRow[]): Promise<number> {
  const connect = await client.post("/sync/connect", { has_local_pending_rows: false });
  expect(connect.status).toBe(200);
  const request = {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
  };
  const created = await client.post("/sync/push-sessions", request);
  expect(created.status).toBe(200);
  const session = decodePushCreateResponse(created.body, request, client.sourceId);
  if (session.status !== "staging") throw new Error(`expected a staging session, got ${session.status}`);
  const chunk = await client.post(`/sync/push-sessions/${session.push_id}/chunks`, {
    start_row_ordinal: 0,
    rows,
  });
  expect(chunk.status).toBe(200);
  const commit = await client.post(`/sync/push-sessions/${session.push_id}/commit`);
  expect(commit.status).toBe(200);
  return decodePushCommitResponse(commit.body, { sourceId: client.sourceId, sourceBundleId }).bundle_seq;
}

/** Pulls every bundle after checkpoint 0 and returns their rows by bundle_seq. */
export async function pullAll(client: Device): Promise<Map<number, BundleRow[]>> {
  const pulled = await client.get("/sync/pull?after_bundle_seq=0&max_bundles=100");
  expect(pulled.status).toBe(200);
  const pull = decodePullResponse(pulled.body, { afterBundleSeq: 0 });
  return new Map(pull.bundles.map((bundle) => [bundle.bundle_seq, bundle.rows]));
}

/** A business.users insert. */
export function userRow(id: string, name: string): PushRow {
  const stamp = "2026-03-24T18:42:11+00:00";
  return {
    schema: "business",
    table: "users",
    key: { id },
    op: "INSERT",
    base_row_version: 0,
    payload: { id, name, email: `${name}@example.com`, created_at: stamp, updated_at: stamp },
  };
}

/**
 * Pushes every `business-rich-v0` numeric scenario as one typed_rows insert in a single bundle,
 * pulls from checkpoint 0, and checks each row came back with the scenario's committed values
 * ("true"/"false" in the fixture stand for JSON booleans). Returns how many scenarios were checked.
 */
export async function pushAndPullNumericScenarios(client: Device): Promise<number> {
  const { numericScenarios } = readContract<{ numericScenarios: NumericScenario[] }>(
    "rich-schema/business-rich-v0.json",
  );
  const rows: PushRow[] = numericScenarios.map((scenario) => {
    const id = randomUUID();
    return {
      schema: "business",
      table: "typed_rows",
      key: { id },
      op: "INSERT",
      base_row_version: 0,
      payload: typedRowsPayload(id, scenario.name, scenario.local),
    };
  });
  const bundleSeq = await pushBundle(client, 1, rows);
  const bundles = await pullAll(client);
  expect([...bundles.keys()]).toStrictEqual([bundleSeq]);
  const pulledRows = bundles.get(bundleSeq)!;
  let checked = 0;
  for (const [index, scenario] of numericScenarios.entries()) {
    const row = pulledRows.find((candidate) => candidate.key.id === rows[index]!.key.id);
    const expected = Object.fromEntries(
      Object.entries(scenario.committed).map(([column, value]) => [
        column,
        value === "true" ? true : value === "false" ? false : value,
      ]),
    );
    expect({ scenario: scenario.name, payload: row?.payload }).toMatchObject({
      scenario: scenario.name,
      payload: expected,
    });
    checked++;
  }
  return checked;
}
