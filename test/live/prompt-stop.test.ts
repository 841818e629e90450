/**
 * `stop()` is prompt: against the reference server on real PostgreSQL, stopping automatic sync
 * while it downloads a long history or uploads a bundle in many chunks ends the operation at the
 * next page, bundle or chunk instead of finishing it; nothing is reported as a failure, nothing is
 * lost, and `start()` again finishes the work. The stop is issued from the device's own fetch when
 * the Nth request of a kind goes out, so where it lands is deterministic.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "@oversync/cli";
import type { SqliteDriver, SyncClient, SyncErrorInfo } from "@oversync/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { untilClient } from "../support/client-events.js";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { openExampleDevice, signIn, startQuietReferenceServer } from "../support/readme-support.js";

const USER = "prompt-stop-user";
const EVENT_TIMEOUT_MILLIS = 20_000;

interface Device {
  readonly driver: SqliteDriver;
  readonly client: SyncClient;
  /** Requests whose path ends with each suffix seen so far. */
  readonly requests: Map<string, number>;
  readonly errors: SyncErrorInfo[];
  /** Called with the path of each request before it goes out. */
  onRequest: (path: string) => void;
}

describe("stop() during a long automatic operation", () => {
  let db: TestDatabase;
  let dir: string;
  let server: RunningServer;
  let token: string;

  async function openDevice(name: string, options: { uploadLimit?: number; downloadLimit?: number }) {
    const device = { requests: new Map(), errors: [], onRequest: () => {} } as unknown as Device;
    const recordingFetch: typeof fetch = (input, init) => {
      const path = new URL(input instanceof Request ? input.url : input.toString()).pathname;
      const kind = path.endsWith("/chunks") ? "chunks" : path.split("/").pop()!;
      device.requests.set(kind, (device.requests.get(kind) ?? 0) + 1);
      device.onRequest(kind);
      return fetch(input, init);
    };
    const opened = await openExampleDevice(server, join(dir, `${name}.db`), () => token, {
      fetch: recordingFetch,
      ...options,
    });
    Object.assign(device, opened);
    device.client.onError((_error, info) => device.errors.push(info));
    await device.client.attach(USER);
    return device;
  }

  function stopped(device: Device): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("stop() did not resolve")), EVENT_TIMEOUT_MILLIS);
      device.onRequest = () => {};
      void device.client.stop().then(() => {
        clearTimeout(timer);
        resolve();
      }, reject);
    });
  }

  async function userCount(device: Device): Promise<number> {
    const [row] = await device.driver.query<{ n: number }>("SELECT count(*) AS n FROM users");
    return Number(row!.n);
  }

  beforeAll(async () => {
    db = await createTestDatabase("oversync_prompt_stop");
    dir = await mkdtemp(join(tmpdir(), "oversync-prompt-stop-"));
    server = await startQuietReferenceServer(db.url, join(dir, "data"));
    token = await signIn(server, USER);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("ends a long download after the page in hand; start() again catches up", async () => {
    const writer = await openDevice("writer", {});
    const reader = await openDevice("reader", { downloadLimit: 1 });
    const bundles = 40;
    for (let i = 0; i < bundles; i++) {
      await writer.driver.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
        randomUUID(),
        `user ${i}`,
        `u${i}@example.com`,
      ]);
      expect((await writer.client.pushPending()).outcome).toBe("committed");
    }
    const target = await writer.client.lastBundleSeqSeen();

    // One bundle per page: the stop goes out with the third pull request.
    const stop = new Promise<void>((resolve, reject) => {
      reader.onRequest = (kind) => {
        if (kind === "pull" && reader.requests.get("pull") === 3) stopped(reader).then(resolve, reject);
      };
    });
    reader.client.start({ watch: "off", uploads: "off" });
    await stop;

    expect(reader.requests.get("pull")).toBe(3);
    expect(await reader.client.lastBundleSeqSeen()).toBeLessThan(target);
    expect(await userCount(reader)).toBeLessThanOrEqual(2);
    expect(reader.errors).toEqual([]);
    expect(reader.client.status).toMatchObject({ automaticSync: "off", lastError: null });

    reader.client.start({ watch: "off", uploads: "off" });
    await untilClient(
      reader.client,
      "the reader to catch up",
      async () => (await userCount(reader)) === bundles,
      { timeoutMillis: EVENT_TIMEOUT_MILLIS },
    );
    expect(await reader.client.lastBundleSeqSeen()).toBe(target);
    expect(reader.errors).toEqual([]);
    for (const device of [writer, reader]) {
      await device.client.close();
      await device.driver.close();
    }
  });

  it("ends a many-chunk upload after the chunk in hand; nothing is lost and start() again uploads it", async () => {
    const writer = await openDevice("chunked-writer", { uploadLimit: 10 });
    const other = await openDevice("other", {});
    const before = await userCount(other);
    const rows = 300;
    await writer.driver.transaction(async (tx) => {
      for (let i = 0; i < rows; i++) {
        await tx.run("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", [
          randomUUID(),
          `chunked ${i}`,
          `c${i}@example.com`,
        ]);
      }
    });
    const writerBefore = await userCount(writer);

    const stop = new Promise<void>((resolve, reject) => {
      writer.onRequest = (kind) => {
        if (kind === "chunks" && writer.requests.get("chunks") === 2) stopped(writer).then(resolve, reject);
      };
    });
    writer.client.start({ watch: "off", uploadDelayMillis: 1 });
    await stop;

    expect(writer.requests.get("chunks")).toBe(2);
    expect(writer.requests.get("commit") ?? 0).toBe(0);
    expect((await writer.client.pendingSyncStatus()).pendingRowCount).toBe(rows);
    expect(await userCount(writer)).toBe(writerBefore);
    expect(writer.errors).toEqual([]);
    expect(writer.client.status).toMatchObject({ automaticSync: "off", lastError: null });

    writer.client.start({ watch: "off", uploadDelayMillis: 1 });
    await untilClient(
      writer.client,
      "the upload",
      async () => writer.client.status.pendingChangeCount === 0,
      { timeoutMillis: EVENT_TIMEOUT_MILLIS },
    );
    expect(writer.requests.get("commit")).toBe(1);
    expect(writer.errors).toEqual([]);
    expect((await other.client.pullToStable()).outcome).toBe("applied_incremental");
    expect(await userCount(other)).toBe(before + rows);
    for (const device of [writer, other]) {
      await device.client.close();
      await device.driver.close();
    }
  });
});
