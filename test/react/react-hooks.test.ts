// @vitest-environment jsdom
/**
 * @oversync/react with React 19 in jsdom, over a real SQLite file, the client and the fake sync
 * server (test/client-engine/engine-harness.ts): `useQuery` renders rows and re-renders after a
 * local write and after a change applied by sync, re-subscribes only when sql or params change by
 * value, and unmounting while a query or a sync runs leaves no subscription behind and reports
 * nothing; `useSyncStatus` follows `client.onStatus`.
 */
import type { SqliteValue, SyncClient, SyncConfig } from "@oversync/client";
import { OversyncProvider, type QueryState, useQuery, useSyncStatus } from "@oversync/react";
import { cleanup, render, renderHook, waitFor } from "@testing-library/react";
import { type ReactNode, StrictMode, createElement } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type EngineHarness, SCHEMA_PRESETS, startEngineHarness } from "../client-engine/engine-harness.js";

const USERS_POSTS: SyncConfig = {
  schema: "main",
  syncTables: [
    { tableName: "users", syncKeyColumnName: "id" },
    { tableName: "posts", syncKeyColumnName: "id" },
  ],
};

interface User {
  readonly id: string;
  readonly name: string;
}

let harness: EngineHarness;
let client: SyncClient;
/** The stop functions of the watches the hooks started and have not stopped. */
let activeWatches: Set<() => void>;
let consoleErrors: ReturnType<typeof vi.spyOn>;

beforeEach(async () => {
  harness = await startEngineHarness({ schema: SCHEMA_PRESETS["users-posts"], config: USERS_POSTS });
  client = harness.client;
  await client.open();
  await client.attach("user-1");
  activeWatches = new Set();
  const watchQuery = client.watchQuery.bind(client);
  vi.spyOn(client, "watchQuery").mockImplementation((...args) => {
    const stop = watchQuery(...args);
    const tracked = () => {
      activeWatches.delete(tracked);
      stop();
    };
    activeWatches.add(tracked);
    return tracked;
  });
  consoleErrors = vi.spyOn(console, "error");
});

afterEach(async () => {
  cleanup();
  expect(consoleErrors).not.toHaveBeenCalled();
  vi.restoreAllMocks();
  await harness.close();
});

function wrapper({ children }: { children: ReactNode }): ReactNode {
  return createElement(OversyncProvider, { client }, children);
}

function userRow(id: string, name: string) {
  return { schema: "main", table: "users", key: { id }, op: "INSERT" as const, payload: { id, name } };
}

/** A component as an app writes it: a list of the users whose name starts with `prefix`. */
function UserList({ prefix }: { prefix: string }): ReactNode {
  const { rows, loading, error } = useQuery<User>(
    "SELECT id, name FROM users WHERE name LIKE ? || '%' ORDER BY id",
    [prefix],
  );
  if (loading) return createElement("p", null, "loading");
  if (error !== undefined) return createElement("p", null, `failed: ${String(error)}`);
  return createElement(
    "ul",
    null,
    rows.map((row) => createElement("li", { key: row.id }, row.name)),
  );
}

function items(container: HTMLElement): string[] {
  return [...container.querySelectorAll("li")].map((item) => item.textContent ?? "");
}

describe("useQuery", () => {
  it("renders the rows, then again after a local write and after a change applied by sync", async () => {
    await harness.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada')"]);
    const { container } = render(createElement(UserList, { prefix: "" }), { wrapper });
    expect(container.textContent).toBe("loading");
    await waitFor(() => expect(items(container)).toEqual(["Ada"]));

    await harness.driver.run("INSERT INTO users(id, name) VALUES('u2', 'Bob')");
    await waitFor(() => expect(items(container)).toEqual(["Ada", "Bob"]));

    harness.backend.appendBundle({ rows: [userRow("u3", "Cy (from another device)")] });
    await client.pullToStable();
    await waitFor(() => expect(items(container)).toEqual(["Ada", "Bob", "Cy (from another device)"]));
    expect(activeWatches.size).toBe(1);
  });

  it("under StrictMode's mount, unmount, mount keeps exactly one watch", async () => {
    await harness.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada')"]);
    const { container, unmount } = render(
      createElement(StrictMode, null, createElement(UserList, { prefix: "A" })),
      {
        wrapper,
      },
    );
    await waitFor(() => expect(items(container)).toEqual(["Ada"]));
    expect(activeWatches.size).toBe(1);
    await harness.driver.run("INSERT INTO users(id, name) VALUES('u2', 'Alan')");
    await waitFor(() => expect(items(container)).toEqual(["Ada", "Alan"]));
    unmount();
    expect(activeWatches.size).toBe(0);
  });

  it("re-subscribes when sql or params change by value, not when an equal array is passed again", async () => {
    await harness.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada'), ('u2', 'Bob')"]);
    const seen: QueryState<User>[] = [];
    const { result, rerender } = renderHook(
      ({ id }: { id: SqliteValue }) => {
        const state = useQuery<User>("SELECT id, name FROM users WHERE id = ?", [id]);
        seen.push(state);
        return state;
      },
      { wrapper, initialProps: { id: "u1" } },
    );
    await waitFor(() => expect(result.current.rows).toEqual([{ id: "u1", name: "Ada" }]));
    rerender({ id: "u1" });
    rerender({ id: "u1" });
    expect(client.watchQuery).toHaveBeenCalledTimes(1);

    rerender({ id: "u2" });
    // The new params' first render shows no rows of the old ones.
    expect(result.current).toEqual({ rows: [], error: undefined, loading: true });
    await waitFor(() => expect(result.current.rows).toEqual([{ id: "u2", name: "Bob" }]));
    expect(client.watchQuery).toHaveBeenCalledTimes(2);
    expect(activeWatches.size).toBe(1);
    expect(seen.some((state) => state.rows.some((row) => row.id === "u1") && state.loading)).toBe(false);
  });

  it("reports a failing query as `error`, and throws a clear error outside the provider", async () => {
    const { result } = renderHook(() => useQuery("SELECT nope FROM users"), { wrapper });
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.error).toMatchObject({ code: "sqlite_error" });
    expect(result.current.rows).toEqual([]);

    // React reports the render error through console.error as well; that is the point here.
    consoleErrors.mockImplementation(() => undefined);
    expect(() => renderHook(() => useQuery("SELECT 1"))).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    consoleErrors.mockReset();
  });

  it("unmounting while the first query runs leaves no watch and delivers nothing", async () => {
    await harness.execute(["INSERT INTO users(id, name) VALUES('u1', 'Ada')"]);
    const renders = vi.fn();
    function Counting(): ReactNode {
      renders(useQuery<User>("SELECT id, name FROM users").rows.length);
      return null;
    }
    const view = render(createElement(Counting), { wrapper });
    expect(activeWatches.size).toBe(1);
    view.unmount();
    expect(activeWatches.size).toBe(0);
    // The dropped run read its plan ahead of this query on the connection and, stopped, went no further.
    expect(await harness.query("SELECT count(*) AS n FROM users")).toEqual([{ n: 1n }]);
    await harness.driver.run("INSERT INTO users(id, name) VALUES('u2', 'Bob')");
    expect(renders.mock.calls).toEqual([[0]]);
  });

  it("unmounting while a sync runs leaves no watch, and the sync completes", async () => {
    const { container, unmount } = render(createElement(UserList, { prefix: "" }), { wrapper });
    await waitFor(() => expect(items(container)).toEqual([]));
    await harness.driver.run("INSERT INTO users(id, name) VALUES('u1', 'Local')");
    await waitFor(() => expect(items(container)).toEqual(["Local"]));
    harness.backend.appendBundle({ rows: [userRow("u2", "Remote")] });
    const syncing = client.sync();
    unmount();
    expect(activeWatches.size).toBe(0);
    const report = await syncing;
    expect(report.pushOutcome).toBe("committed");
    expect(await harness.query("SELECT name FROM users ORDER BY id")).toEqual([
      { name: "Local" },
      { name: "Remote" },
    ]);
  });
});

describe("useSyncStatus", () => {
  it("renders the client's status and follows it through a sync", async () => {
    const seen: string[] = [];
    function Status(): ReactNode {
      const status = useSyncStatus();
      seen.push(JSON.stringify(status));
      return createElement(
        "p",
        null,
        `${status.connection} pending=${status.pendingChangeCount} synced=${status.lastSyncedAt !== null}`,
      );
    }
    const { container, unmount } = render(createElement(Status), { wrapper });
    expect(container.textContent).toContain(client.status.connection);
    await harness.driver.run("INSERT INTO users(id, name) VALUES('u1', 'Ada')");
    await client.sync();
    await waitFor(() => expect(container.textContent).toMatch(/^online pending=0 synced=true$/));
    expect(JSON.parse(seen.at(-1)!)).toEqual(client.status);

    // Unmounting while the next sync runs: the sync ends normally, nothing more renders.
    const count = seen.length;
    const syncing = client.sync();
    unmount();
    await syncing;
    expect(seen.length).toBe(count);
  });
});
