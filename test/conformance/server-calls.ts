/**
 * Calls the live suite makes to the server besides a client's own: sign-in, the upstream test
 * helpers, the `--test-hooks` routes, and raw sync requests for the scenarios that drive the wire
 * directly (upstream's "raw connect" tests).
 */
import { randomUUID } from "node:crypto";
import { SOURCE_ID_HEADER } from "@oversync/protocol";
import type { TestContext } from "vitest";
import type { LiveServer } from "./live-server.js";

/** A signed-in user of the live server; ids are fresh per test. */
export interface LiveUser {
  readonly id: string;
  readonly token: string;
}

/** Signs in a new user whose id starts with `label` (for reading server logs) and is unique. */
export async function newUser(server: LiveServer, label: string): Promise<LiveUser> {
  const id = `${label.toLowerCase()}-${randomUUID()}`;
  const reply = await postJson(server, "/dummy-signin", { user: id, password: "conformance" });
  if (reply.status !== 200) throw new Error(`sign-in of ${id} failed: ${reply.status} ${reply.text}`);
  return { id, token: (reply.body as { token: string }).token };
}

/** A reply with its parsed JSON body (undefined when the body is not JSON). */
export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly body: unknown;
}

async function reply(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, text, body };
}

/** POSTs `body` as JSON to `path`, without a token (sign-in and the test routes take none). */
export async function postJson(server: LiveServer, path: string, body: unknown): Promise<Reply> {
  return reply(await fetch(`${server.url}${path}`, { method: "POST", body: JSON.stringify(body) }));
}

/** A sync request as `user` from `sourceId`, outside any client (the raw wire scenarios). */
export async function rawSync(
  server: LiveServer,
  user: LiveUser,
  sourceId: string,
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: unknown,
): Promise<Reply> {
  return reply(
    await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${user.token}`,
        [SOURCE_ID_HEADER]: sourceId,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
}

/** Skips the running test, with the reason, when the server has no `--test-hooks`. */
export function requireHooks(server: LiveServer, context: TestContext): void {
  if (!server.hooks) {
    context.skip(
      `needs the test hooks of oversync serve --test-hooks; the server ${server.description} has none`,
    );
  }
}

/** A fail-requests rule (README "Live conformance suite"), for `user`. */
export interface FaultRule {
  readonly endpoint:
    | "capabilities"
    | "connect"
    | "push_session_create"
    | "push_session_chunk"
    | "push_session_commit"
    | "push_session_delete"
    | "committed_bundle_rows"
    | "pull"
    | "snapshot_create"
    | "snapshot_chunk"
    | "snapshot_delete"
    | "watch";
  readonly count?: number;
  readonly skip?: number;
  readonly status?: number;
  /** A string goes out verbatim (a malformed body); anything else as JSON. */
  readonly body?: unknown;
  /** Default application/json. */
  readonly content_type?: string;
  readonly disconnect?: boolean;
  readonly when?: "before" | "after";
}

/** Installs a fail-requests rule for `user`. */
export async function failRequests(server: LiveServer, user: LiveUser, rule: FaultRule): Promise<void> {
  const answer = await postJson(server, "/test/fail-requests", { user_id: user.id, ...rule });
  if (answer.status !== 200) throw new Error(`fail-requests refused: ${answer.status} ${answer.text}`);
}

/** Moves the expiry of `user`'s initialization lease to `seconds` from now (0: expired). */
export async function moveInitializationLease(
  server: LiveServer,
  user: LiveUser,
  seconds: number,
): Promise<void> {
  const answer = await postJson(server, "/test/initialization-lease", {
    user_id: user.id,
    expires_in_seconds: seconds,
  });
  if (answer.status !== 200) throw new Error(`initialization-lease refused: ${answer.status} ${answer.text}`);
}

/** One statement of a server-originated write. */
export interface ServerStatement {
  readonly sql: string;
  readonly params?: readonly unknown[];
}

/** What `/test/server-sql` committed. */
export interface ServerWriteResult {
  readonly auto_initialized?: boolean;
  readonly bundle: { readonly bundle_seq: number; readonly source_bundle_id: number } | null;
}

/**
 * Commits `statements` as one server-originated bundle in `user`'s scope (execWrite, or
 * withinSyncBundle at `sourceBundleId`); returns the reply so refusals can be checked too.
 */
export async function serverSql(
  server: LiveServer,
  user: LiveUser,
  statements: readonly ServerStatement[],
  options: { writerId?: string; sourceBundleId?: number } = {},
): Promise<Reply & { readonly body: ServerWriteResult }> {
  return (await postJson(server, "/test/server-sql", {
    user_id: user.id,
    writer_id: options.writerId ?? "server-writer",
    ...(options.sourceBundleId === undefined ? {} : { source_bundle_id: options.sourceBundleId }),
    statements,
  })) as Reply & { body: ServerWriteResult };
}

/** Like serverSql, but the write must commit a bundle. */
export async function serverWrite(
  server: LiveServer,
  user: LiveUser,
  statements: readonly ServerStatement[],
  options: { writerId?: string; sourceBundleId?: number } = {},
): Promise<ServerWriteResult> {
  const answer = await serverSql(server, user, statements, options);
  if (answer.status !== 200) throw new Error(`server write refused: ${answer.status} ${answer.text}`);
  return answer.body;
}

/** `POST /test/retention-floor` (upstream helper): history at or below `floor` is gone. */
export async function setRetainedFloor(
  server: LiveServer,
  user: LiveUser,
  floor: number | bigint,
): Promise<void> {
  const answer = await postJson(server, "/test/retention-floor", {
    user_id: user.id,
    retained_bundle_floor: Number(floor),
  });
  if (answer.status !== 200) throw new Error(`retention-floor refused: ${answer.status} ${answer.text}`);
}

/** `GET /test/watch-subscribers` (upstream helper). */
export async function watchSubscribers(server: LiveServer, user: LiveUser): Promise<number> {
  const response = await fetch(`${server.url}/test/watch-subscribers?user_id=${encodeURIComponent(user.id)}`);
  return ((await response.json()) as { subscriber_count: number }).subscriber_count;
}

/** Polls `check` every 20 ms until it holds; fails after `timeoutMillis` (a liveness bound, not a timing assertion). */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMillis = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
