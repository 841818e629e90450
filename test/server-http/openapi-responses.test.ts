/**
 * The reference server's real answers against docs/openapi.yaml, on PostgreSQL: two devices of our
 * client sync through every sync endpoint with each response recorded, and plain requests provoke
 * the other endpoints and a range of error answers. Each response must have a status the document
 * lists for its operation, a documented content type, and a body valid under the document's schema
 * (checked with an independent JSON Schema 2020-12 validator, not with the zod schemas the document
 * was generated from).
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Validator } from "@cfworker/json-schema";
import { EXAMPLE_CLIENT_CONFIG, type RunningServer, exampleClientSchemaSql } from "@oversync/cli";
import { createSyncClient } from "@oversync/client";
import { openBetterSqlite3Driver } from "@oversync/client/better-sqlite3";
import { ENDPOINTS, ENDPOINT_NAMES, SOURCE_ID_HEADER } from "@oversync/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { OPENAPI_PATH, openApiPath } from "../../scripts/openapi-document.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { startQuietReferenceServer } from "../support/readme-support.js";

type Json = Record<string, unknown>;

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const USER = `openapi-${randomUUID()}`;

let document: Json;
let db: TestDatabase;
let dir: string;
let server: RunningServer;
/** What a response broke, one line each. */
const problems: string[] = [];
/** `METHOD /path/{param} status` of every response checked. */
const covered = new Set<string>();

/** The documented operation a request path (below the server's origin) addresses. */
function operationOf(method: string, pathname: string): { template: string; operation: Json } | undefined {
  for (const [template, item] of Object.entries(document.paths as Record<string, Json>)) {
    const pattern = new RegExp(`^${template.replace(/\{[a-z_]+\}/g, "[^/]+")}$`);
    const operation = item[method.toLowerCase()] as Json | undefined;
    if (pattern.test(pathname) && operation !== undefined) return { template, operation };
  }
  return undefined;
}

/** Validates `value` against a schema of the document (its `#/components/...` refs resolved). */
function schemaProblems(schema: Json, value: unknown): string[] {
  const validator = new Validator({ ...schema, components: document.components } as never, "2020-12", false);
  const result = validator.validate(value);
  return result.valid
    ? []
    : result.errors.slice(-3).map((error) => `${error.instanceLocation}: ${error.error}`);
}

/** Checks one response against the document; what breaks it goes to `problems`. */
function check(method: string, url: string, status: number, contentType: string | null, text: string): void {
  const { pathname } = new URL(url);
  const found = operationOf(method, pathname);
  const label = `${method} ${pathname} ${status}`;
  if (found === undefined) {
    problems.push(`${label}: no documented operation`);
    return;
  }
  covered.add(`${method} ${found.template} ${status}`);
  const response = (found.operation.responses as Record<string, Json>)[String(status)];
  if (response === undefined) {
    problems.push(`${label}: status not documented (${text.slice(0, 200)})`);
    return;
  }
  const content = response.content as Record<string, Json> | undefined;
  if (content === undefined) {
    if (text !== "") problems.push(`${label}: a body where the document has none`);
    return;
  }
  const mediaType = (contentType ?? "").split(";")[0]!.trim();
  const media = content[mediaType];
  if (media === undefined) {
    problems.push(`${label}: content type ${contentType} not documented`);
    return;
  }
  if (mediaType === "application/json") {
    for (const problem of schemaProblems(media.schema as Json, JSON.parse(text))) {
      problems.push(`${label}: ${problem}`);
    }
  }
}

/** A fetch that checks every answer it passes on (event streams are checked by the watch case). */
const checkingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const response = await fetch(request);
  const contentType = response.headers.get("content-type");
  if (!contentType?.startsWith("text/event-stream")) {
    check(request.method, request.url, response.status, contentType, await response.clone().text());
  }
  return response;
};

/** Sends a request, checks its answer and returns it with the parsed JSON body. */
async function send(
  method: string,
  path: string,
  options: { token?: string; source?: string; body?: unknown; rawBody?: string } = {},
): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.source !== undefined) headers[SOURCE_ID_HEADER] = options.source;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const response = await checkingFetch(`${server.url}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text === "" ? {} : (JSON.parse(text) as Json) };
}

async function signIn(user: string): Promise<string> {
  const { body } = await send("POST", "/dummy-signin", { body: { user, password: "any", device: "d" } });
  return body.token as string;
}

async function openDevice(file: string, token: string) {
  const driver = await openBetterSqlite3Driver(join(dir, file));
  await driver.exec(exampleClientSchemaSql());
  const client = createSyncClient({
    driver,
    baseUrl: server.url,
    tokenProvider: () => token,
    config: EXAMPLE_CLIENT_CONFIG,
    fetch: checkingFetch,
  });
  await client.open();
  await client.attach(USER);
  return {
    client,
    driver,
    close: async () => {
      await client.close();
      await driver.close();
    },
  };
}

beforeAll(async () => {
  document = parse(await readFile(join(repoRoot, OPENAPI_PATH), "utf8")) as Json;
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), "oversync-openapi-"));
  server = await startQuietReferenceServer(db.url, join(dir, "data"));
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("the reference server's answers against docs/openapi.yaml", () => {
  it("match the document, success and error answers alike, on every endpoint", async () => {
    const token = await signIn(USER);
    const auth = { token, source: "raw-device" };

    // Device A writes a row and syncs: capabilities, connect, push, committed rows, pull.
    const first = await openDevice("a.db", token);
    await first.driver.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
      randomUUID(),
      "Ada",
      "ada@example.com",
    ]);
    expect((await first.client.sync()).pushOutcome).toBe("committed");
    // Device B attaches to the initialized scope and restores it from a snapshot session.
    const second = await openDevice("b.db", token);
    await second.client.sync();

    // The watch stream: the first event comes at once, since bundle 1 is past after_bundle_seq 0.
    const watch = await fetch(`${server.url}/sync/watch?after_bundle_seq=0`, {
      headers: { authorization: `Bearer ${token}`, [SOURCE_ID_HEADER]: "raw-device" },
    });
    check("GET", watch.url, watch.status, watch.headers.get("content-type"), "");
    const reader = watch.body!.pipeThrough(new TextDecoderStream()).getReader();
    let stream = "";
    while (!stream.includes("\n\n")) stream += (await reader.read()).value ?? "";
    await reader.cancel();
    const data = /^data: (.*)$/m.exec(stream)?.[1];
    const stream200 = operationOf("GET", "/sync/watch")!.operation.responses as Record<string, Json>;
    const eventSchema = (stream200["200"]!.content as Record<string, Json>)["text/event-stream"]![
      "x-event-data"
    ] as Json;
    expect(schemaProblems(eventSchema, JSON.parse(data ?? "null"))).toEqual([]);

    // A push session opened and discarded by hand (204).
    const created = await send("POST", "/sync/push-sessions", {
      ...auth,
      body: { source_bundle_id: 1, planned_row_count: 1, canonical_request_hash: "0".repeat(64) },
    });
    expect(created.body.status).toBe("staging");
    expect((await send("DELETE", `/sync/push-sessions/${created.body.push_id}`, auth)).status).toBe(204);

    // The probes and the test helpers.
    expect((await send("GET", "/syncx/health")).status).toBe(200);
    expect((await send("GET", "/syncx/status")).status).toBe(200);
    expect((await send("GET", `/test/watch-subscribers?user_id=${USER}`)).status).toBe(200);
    expect(
      (await send("POST", "/test/retention-floor", { body: { user_id: USER, retained_bundle_floor: 1 } }))
        .status,
    ).toBe(200);

    // Error answers.
    const unknownId = randomUUID();
    const row = {
      schema: "business",
      table: "users",
      key: { id: unknownId },
      op: "DELETE",
      base_row_version: 0,
    };
    const errors: [string, string, Parameters<typeof send>[2], number][] = [
      ["GET", "/sync/capabilities", {}, 401],
      ["GET", "/sync/capabilities", { token, source: "has space" }, 400],
      ["POST", "/sync/connect", { ...auth, body: {} }, 400],
      ["POST", "/sync/connect", { ...auth, rawBody: "not json" }, 400],
      ["POST", "/sync/push-sessions", { ...auth, body: { source_bundle_id: 1, planned_row_count: 1 } }, 400],
      [
        "POST",
        `/sync/push-sessions/${unknownId}/chunks`,
        { ...auth, body: { start_row_ordinal: 0, rows: [row] } },
        404,
      ],
      ["POST", `/sync/push-sessions/${unknownId}/commit`, auth, 404],
      ["DELETE", `/sync/push-sessions/${unknownId}`, auth, 404],
      ["GET", "/sync/committed-bundles/0/rows", auth, 400],
      ["GET", "/sync/committed-bundles/1/rows", auth, 409],
      ["GET", "/sync/committed-bundles/99/rows", auth, 404],
      ["GET", "/sync/pull?after_bundle_seq=0", auth, 409],
      ["GET", "/sync/pull?after_bundle_seq=99", auth, 409],
      ["POST", "/sync/snapshot-sessions", { ...auth, body: { bogus: 1 } }, 400],
      ["GET", `/sync/snapshot-sessions/${unknownId}`, auth, 404],
      ["DELETE", `/sync/snapshot-sessions/${unknownId}`, auth, 404],
      ["GET", "/sync/watch?after_bundle_seq=x", auth, 400],
      ["GET", "/test/watch-subscribers", {}, 400],
      [
        "POST",
        "/test/retention-floor",
        { body: { user_id: `nobody-${unknownId}`, retained_bundle_floor: 0 } },
        404,
      ],
      ["POST", "/dummy-signin", { body: {} }, 400],
    ];
    for (const [method, path, options, status] of errors) {
      expect((await send(method, path, options)).status, `${method} ${path}`).toBe(status);
    }
    // A user who never connected cannot watch.
    const stranger = await signIn(`stranger-${unknownId}`);
    expect((await send("GET", "/sync/watch", { token: stranger, source: "raw-device" })).status).toBe(409);

    await first.close();
    await second.close();
    expect(problems).toEqual([]);
    // Every endpoint answered with a documented success at least once.
    const succeeded = ENDPOINT_NAMES.filter((name) => {
      const { method, path } = ENDPOINTS[name];
      return [...covered].some(
        (entry) => /^[A-Z]+ \S+ 2\d\d$/.test(entry) && entry.startsWith(`${method} ${openApiPath(path)} `),
      );
    });
    expect(succeeded).toEqual(ENDPOINT_NAMES);
  });
});
