/**
 * The watch building blocks without a database: one subscription's coalescing rules (newest seq
 * wins, never a lower one), the NOTIFY payload decoder, and the watch option checks.
 */
import { ServiceConfigError } from "@oversync/server";
import { describe, expect, it } from "vitest";
import {
  WatchSubscription,
  decodeWatchPayload,
  resolveWatchOptions,
} from "../../packages/server/src/watch/bundle-watch.js";
import type { NotificationSource } from "../../packages/server/src/watch/notification-listener.js";

function subscription(): { watch: WatchSubscription; closed: WatchSubscription[] } {
  const closed: WatchSubscription[] = [];
  return { watch: new WatchSubscription(25_000, (which) => closed.push(which)), closed };
}

describe("WatchSubscription", () => {
  it("keeps only the newest pending event and never goes below what it sent", async () => {
    const { watch } = subscription();
    watch.start(0, 0);
    watch.offer({ bundle_seq: 5, source_id: "a", source_bundle_id: 5 });
    watch.offer({ bundle_seq: 3, source_id: "a", source_bundle_id: 3 });
    watch.offer({ bundle_seq: 7, source_id: "b", source_bundle_id: 1 });
    watch.offer({ bundle_seq: 6, source_id: "a", source_bundle_id: 6 });
    expect(await watch.next(0)).toStrictEqual({ bundle_seq: 7, source_id: "b", source_bundle_id: 1 });
    watch.offer({ bundle_seq: 7 });
    watch.offer({ bundle_seq: 2 });
    expect(await watch.next(0)).toBe("idle");
    watch.offer({ bundle_seq: 8 });
    expect(await watch.next(0)).toStrictEqual({ bundle_seq: 8 });
  });

  it("keeps a pending event with source fields over a catch-up of the same seq", async () => {
    const { watch } = subscription();
    watch.offer({ bundle_seq: 4, source_id: "dev", source_bundle_id: 2 });
    watch.start(0, 4);
    expect(await watch.next(0)).toStrictEqual({ bundle_seq: 4, source_id: "dev", source_bundle_id: 2 });
  });

  it("starts from the client's seq, or from the latest when the client claims more", async () => {
    const behind = subscription().watch;
    behind.start(2, 5);
    expect(await behind.next(0)).toStrictEqual({ bundle_seq: 5 });

    const current = subscription().watch;
    current.offer({ bundle_seq: 3 });
    current.start(3, 3);
    expect(await current.next(0)).toBe("idle");

    const ahead = subscription().watch;
    ahead.start(99, 3);
    ahead.offer({ bundle_seq: 4 });
    expect(await ahead.next(0)).toStrictEqual({ bundle_seq: 4 });
  });

  it("hands an event to a waiting reader at once, and reports idle after the timeout", async () => {
    const { watch } = subscription();
    watch.start(0, 0);
    const waiting = watch.next(60_000);
    watch.offer({ bundle_seq: 1, source_id: "x", source_bundle_id: 1 });
    expect(await waiting).toStrictEqual({ bundle_seq: 1, source_id: "x", source_bundle_id: 1 });
    expect(await watch.next(5)).toBe("idle");
  });

  it("close wakes a waiting reader with closed, unsubscribes once, and ignores later offers", async () => {
    const { watch, closed } = subscription();
    watch.start(0, 0);
    const waiting = watch.next(60_000);
    watch.close();
    watch.close();
    expect(await waiting).toBe("closed");
    expect(closed).toStrictEqual([watch]);
    watch.offer({ bundle_seq: 9 });
    expect(await watch.next(0)).toBe("closed");
  });
});

describe("decodeWatchPayload", () => {
  it("decodes a full payload and one without source fields", () => {
    expect(
      decodeWatchPayload('{"user_pk":3,"bundle_seq":12,"source_id":"dev-1","source_bundle_id":4}'),
    ).toStrictEqual({
      scopePk: 3,
      event: { bundle_seq: 12, source_id: "dev-1", source_bundle_id: 4 },
    });
    expect(decodeWatchPayload('{"user_pk":3,"bundle_seq":12}')).toStrictEqual({
      scopePk: 3,
      event: { bundle_seq: 12 },
    });
  });

  it("drops source fields a client would refuse, and rejects what cannot name a user's bundle", () => {
    expect(
      decodeWatchPayload('{"user_pk":1,"bundle_seq":2,"source_id":"has space","source_bundle_id":1}'),
    ).toStrictEqual({
      scopePk: 1,
      event: { bundle_seq: 2 },
    });
    for (const bad of [
      "",
      "not json",
      "null",
      "[]",
      '{"bundle_seq":1}',
      '{"user_pk":1,"bundle_seq":0}',
      '{"user_pk":"1","bundle_seq":1}',
      '{"user_pk":1,"bundle_seq":1.5}',
    ]) {
      expect(decodeWatchPayload(bad), bad).toBeUndefined();
    }
  });
});

describe("resolveWatchOptions", () => {
  const notifications: NotificationSource = { listen: async () => async () => undefined };

  it("applies June's channel and heartbeat defaults", () => {
    const resolved = resolveWatchOptions({ notifications });
    expect([resolved.channel, resolved.heartbeatIntervalMs]).toStrictEqual([
      "oversync_bundle_change_v1",
      25_000,
    ]);
  });

  it("refuses channels that are not lower-case identifiers of at most 63 bytes, and bad heartbeats", () => {
    for (const channel of [
      "",
      "Upper",
      "has-dash",
      "9starts_with_digit",
      "a".repeat(64),
      'quote"d',
      "nul\u0000",
    ]) {
      expect(() => resolveWatchOptions({ notifications, channel }), channel).toThrow(ServiceConfigError);
    }
    expect(resolveWatchOptions({ notifications, channel: "a".repeat(63) }).channel).toHaveLength(63);
    for (const heartbeatIntervalMs of [0, -1, 1.5, Number.NaN]) {
      expect(
        () => resolveWatchOptions({ notifications, heartbeatIntervalMs }),
        String(heartbeatIntervalMs),
      ).toThrow(ServiceConfigError);
    }
    expect(() => resolveWatchOptions({ notifications: {} as NotificationSource })).toThrow(
      ServiceConfigError,
    );
  });
});
