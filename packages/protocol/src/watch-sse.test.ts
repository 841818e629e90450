import { describe, expect, it } from "vitest";
import { ProtocolViolationError } from "./protocol-violation.js";
import { BundleChangeSseParser, parseBundleChangeLines } from "./watch-sse.js";
import { WATCH_HEARTBEAT, formatBundleChangeEvent } from "./wire/watch.js";

describe("BundleChangeSseParser", () => {
  it("parses what the server frames, chunk boundaries anywhere, CRLF tolerated", () => {
    const stream =
      WATCH_HEARTBEAT +
      formatBundleChangeEvent({ bundle_seq: 3 }) +
      formatBundleChangeEvent({ bundle_seq: 4, source_id: "device-a", source_bundle_id: 9 }).replaceAll(
        "\n",
        "\r\n",
      );
    for (const size of [1, 2, 7, stream.length]) {
      const parser = new BundleChangeSseParser();
      const events = [];
      for (let i = 0; i < stream.length; i += size)
        events.push(...parser.acceptText(stream.slice(i, i + size)));
      expect(events).toEqual([
        { bundle_seq: 3 },
        { bundle_seq: 4, source_id: "device-a", source_bundle_id: 9 },
      ]);
    }
  });

  it("rejects an invalid source_id and a non-integer bundle_seq", () => {
    expect(() =>
      parseBundleChangeLines(["event: bundle", 'data: {"bundle_seq":1,"source_id":"a b"}', ""]),
    ).toThrow(ProtocolViolationError);
    expect(() => parseBundleChangeLines(["event: bundle", 'data: {"bundle_seq":1.5}', ""])).toThrow(
      /bundle_seq/,
    );
    expect(() => parseBundleChangeLines(["event: bundle", ""])).toThrow(/missing data/);
  });

  it("drops an event that never saw its blank line", () => {
    expect(parseBundleChangeLines(["event: bundle", 'data: {"bundle_seq":1}'])).toEqual([]);
  });

  it("enforces the 1 MiB line and event limits", () => {
    const parser = new BundleChangeSseParser();
    expect(() => parser.acceptLine(`data: ${"x".repeat(1 << 20)}`)).toThrow(/1 MiB/);
    const events = new BundleChangeSseParser();
    const line = `data: ${"y".repeat(600 * 1024)}`;
    events.acceptLine(line);
    expect(() => events.acceptLine(line)).toThrow(/event exceeds/);
    expect(() => new BundleChangeSseParser().acceptText("z".repeat((1 << 20) + 1))).toThrow(/1 MiB/);
  });
});
