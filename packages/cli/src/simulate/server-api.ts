/**
 * The server routes a scenario calls directly, outside the sync client: sign-in at `/dummy-signin`,
 * the test helpers (`/test/watch-subscribers`, `/test/retention-floor`), the reference server's
 * `/test/server-sql` (only with `oversync serve --test-hooks`) and `/sync/capabilities`.
 * Answers are checked with the protocol's own schemas; a refusal names the route and the status.
 * The test helpers are admin routes: a server on another machine answers them to callers that send
 * its admin token, which `oversync simulate` takes from OVERSYNC_ADMIN_TOKEN (TestHelperServer).
 */
import {
  capabilitiesResponseSchema,
  dummySigninResponseSchema,
  retentionFloorResponseSchema,
  watchSubscribersResponseSchema,
} from "@oversync/protocol";

/** The part of a protocol schema used here (zod's safeParse), so this package needs no zod of its own. */
interface Schema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false };
}

/** A server route answered something other than what the scenario needs. */
export class ServerRouteError extends Error {
  override readonly name = "ServerRouteError";
}

/** `path` (no leading slash) below the server's base URL, keeping a base path such as `/api`. */
function endpoint(serverUrl: string, path: string): URL {
  const base = new URL(serverUrl);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  return new URL(path, base);
}

/** Where the test helpers are, and the admin token to send them when the server is elsewhere. */
export interface TestHelperServer {
  readonly serverUrl: string;
  /** Sent as `Authorization: Bearer <token>` to the test helpers. */
  readonly adminToken?: string | undefined;
}

/** The headers that carry `server`'s admin token, if it has one. */
function adminHeaders(server: TestHelperServer): Record<string, string> {
  return server.adminToken === undefined ? {} : { authorization: `Bearer ${server.adminToken}` };
}

/** Signs `user` in and returns the bearer token. */
export async function signIn(serverUrl: string, user: string): Promise<string> {
  const answer = await call(serverUrl, "dummy-signin", dummySigninResponseSchema, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password: "simulate" }),
  });
  return answer.token;
}

/** How many watch streams the server process holds open for `user`. */
export async function watchSubscriberCount(server: TestHelperServer, user: string): Promise<number> {
  const answer = await call(
    server.serverUrl,
    `test/watch-subscribers?user_id=${encodeURIComponent(user)}`,
    watchSubscribersResponseSchema,
    { headers: adminHeaders(server) },
  );
  return answer.subscriber_count;
}

/** Moves `user`'s retained bundle floor to `floor`, deleting the history below it. */
export async function setRetentionFloor(
  server: TestHelperServer,
  user: string,
  floor: bigint,
): Promise<void> {
  await call(server.serverUrl, "test/retention-floor", retentionFloorResponseSchema, {
    method: "POST",
    headers: { ...adminHeaders(server), "content-type": "application/json" },
    body: JSON.stringify({ user_id: user, retained_bundle_floor: Number(floor) }),
  });
}

/** Whether the server advertises `bundle_change_watch`. */
export async function advertisesWatch(serverUrl: string, token: string, sourceId: string): Promise<boolean> {
  const answer = await call(serverUrl, "sync/capabilities", capabilitiesResponseSchema, {
    headers: { authorization: `Bearer ${token}`, "oversync-source-id": sourceId },
  });
  return answer.features.bundle_change_watch === true;
}

/** The bundle a server-originated write committed. */
export interface ServerWriteBundle {
  readonly bundleSeq: bigint;
  readonly sourceId: string;
  readonly rowCount: number;
}

/**
 * Upserts a user row of `userId` through the server's own write path (`POST /test/server-sql` of
 * `oversync serve --test-hooks`), committed under `writerId`.
 */
export async function serverWrite(
  server: TestHelperServer,
  userId: string,
  writerId: string,
  row: { readonly id: string; readonly name: string; readonly email: string },
): Promise<ServerWriteBundle> {
  const response = await fetch(endpoint(server.serverUrl, "test/server-sql"), {
    method: "POST",
    headers: { ...adminHeaders(server), "content-type": "application/json" },
    body: JSON.stringify({
      user_id: userId,
      writer_id: writerId,
      statements: [
        {
          sql:
            "INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ($1, $2, $3, $4) " +
            "ON CONFLICT (_sync_scope_id, id) DO UPDATE SET name = excluded.name, email = excluded.email",
          params: [userId, row.id, row.name, row.email],
        },
      ],
    }),
  });
  const text = await response.text();
  if (response.status === 404) {
    throw new ServerRouteError(
      "the server offers no POST /test/server-sql, so it cannot commit a server-originated write for the scenario; " +
        "start the reference server with `oversync serve --test-hooks`",
    );
  }
  if (!response.ok) throw new ServerRouteError(`POST /test/server-sql answered ${response.status}: ${text}`);
  const { bundle } = JSON.parse(text) as {
    bundle: { bundle_seq: number; source_id: string; row_count: number };
  };
  return { bundleSeq: BigInt(bundle.bundle_seq), sourceId: bundle.source_id, rowCount: bundle.row_count };
}

async function call<T>(serverUrl: string, path: string, schema: Schema<T>, init?: RequestInit): Promise<T> {
  const route = `${init?.method ?? "GET"} /${path.split("?")[0]}`;
  let response: Response;
  try {
    response = await fetch(endpoint(serverUrl, path), init);
  } catch (error) {
    // fetch's own message ("fetch failed") hides the reason (ECONNREFUSED, a DNS failure) in its cause.
    const reason =
      (error as Error).cause instanceof Error ? ` (${((error as Error).cause as Error).message})` : "";
    throw new ServerRouteError(`${route} failed: ${(error as Error).message}${reason}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    throw new ServerRouteError(
      `${route} answered ${response.status}${response.status === 404 ? " (the server does not offer it)" : ""}: ${text.slice(0, 300)}`,
    );
  }
  const parsed = schema.safeParse(safeJson(text));
  if (!parsed.success)
    throw new ServerRouteError(`${route} answered an unexpected body: ${text.slice(0, 300)}`);
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
