/**
 * Signing in to the reference server: `POST /dummy-signin` with a user name gives a bearer token
 * (any password is accepted; a real app authenticates its own way). The session is kept in
 * localStorage, so a reload, or opening the demo offline, goes straight to the user's lists.
 */

export interface Session {
  readonly user: string;
  readonly token: string;
}

const STORAGE_KEY = "oversync-demo.session";

/** The session saved by the last sign-in in this browser, if any. */
export function savedSession(): Session | undefined {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null") as Partial<Session> | null;
    return typeof saved?.user === "string" && typeof saved.token === "string"
      ? { user: saved.user, token: saved.token }
      : undefined;
  } catch {
    return undefined;
  }
}

export function forgetSession(): void {
  localStorage.removeItem(STORAGE_KEY);
}

/** Signs `user` in at the server `serverUrl` and saves the session. */
export async function signIn(serverUrl: string, user: string): Promise<Session> {
  let response: Response;
  try {
    response = await fetch(new URL("dummy-signin", serverUrl), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user, password: "demo" }),
    });
  } catch {
    throw new Error("cannot reach the server: check the connection and try again");
  }
  const body = (await response.json().catch(() => ({}))) as { token?: unknown; message?: unknown };
  if (!response.ok || typeof body.token !== "string") {
    const reason = typeof body.message === "string" ? body.message : `HTTP ${response.status}`;
    throw new Error(`the server refused the sign-in: ${reason}`);
  }
  const session = { user, token: body.token };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  return session;
}
