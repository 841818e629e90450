/**
 * The watch stream parser (watch-sse.ts) against the server's framing (formatBundleChangeEvent):
 * any stream the server writes yields its events back however it is cut into chunks, and any
 * hostile stream yields only valid events or ProtocolViolationError("invalid_watch_event").
 */
import {
  type BundleChangeEvent,
  BundleChangeSseParser,
  ProtocolViolationError,
  WATCH_HEARTBEAT,
  WATCH_LINE_BYTE_LIMIT,
  formatBundleChangeEvent,
  parseBundleChangeLines,
} from "@oversync/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hostileBody, trickyString } from "./hostile-json.js";
import { runs } from "./property-runs.js";
import { safeInt, sourceId } from "./valid-wire.js";

const event: fc.Arbitrary<BundleChangeEvent> = fc.record(
  { bundle_seq: safeInt(1), source_id: sourceId, source_bundle_id: safeInt(0) },
  { requiredKeys: ["bundle_seq"] },
);

/** Frames the server or a proxy may put between events; none of them is a bundle event. */
const noise = fc.constantFrom(
  WATCH_HEARTBEAT,
  ": comment\n\n",
  "event: other\ndata: {}\n\n",
  "retry: 1000\n\n",
  "id: 7\n\n",
  "\n",
);

/** A server stream: events with noise between them, LF or CRLF line ends. */
const stream = fc
  .record({
    items: fc.array(
      fc.oneof(
        event.map((e) => ({ event: e })),
        noise.map((text) => ({ text })),
      ),
      { maxLength: 8 },
    ),
    crlf: fc.boolean(),
  })
  .map(({ items, crlf }) => {
    const text = items
      .map((item) => ("event" in item ? formatBundleChangeEvent(item.event) : item.text))
      .join("");
    return {
      text: crlf ? text.replaceAll("\n", "\r\n") : text,
      events: items.flatMap((item) => ("event" in item ? [item.event] : [])),
    };
  });

/** Cuts `text` at the given offsets. */
function chunks(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let start = 0;
  for (const point of points) {
    out.push(text.slice(start, point));
    start = point;
  }
  out.push(text.slice(start));
  return out;
}

function feed(
  parser: BundleChangeSseParser,
  parts: readonly string[],
): BundleChangeEvent[] | ProtocolViolationError {
  const events: BundleChangeEvent[] = [];
  try {
    for (const part of parts) events.push(...parser.acceptText(part));
  } catch (error) {
    if (error instanceof ProtocolViolationError) return error;
    throw error;
  }
  return events;
}

describe("BundleChangeSseParser", () => {
  it("returns every event the server framed, in order, wherever the stream is cut", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), ({ text, events }, cuts) => {
        expect(feed(new BundleChangeSseParser(), chunks(text, cuts))).toEqual(events);
      }),
      runs(300),
    );
  });

  /** Lines a hostile or broken server could send. */
  const hostileLine = fc.oneof(
    fc.constantFrom("", "event: bundle", "event:bundle", "event: other", "data:", ":", "data: {}", "event"),
    hostileBody(event).map((json) => `data: ${json}`),
    hostileBody(event).map((json) => `data:${json}`),
    trickyString(20).filter((line) => !/[\r\n]/.test(line)),
  );

  it("yields only valid events or invalid_watch_event from any sequence of lines", () => {
    fc.assert(
      fc.property(fc.array(hostileLine, { maxLength: 12 }), (lines) => {
        let events: BundleChangeEvent[];
        try {
          events = parseBundleChangeLines(lines);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolViolationError);
          expect((error as ProtocolViolationError).code).toBe("invalid_watch_event");
          return;
        }
        for (const decoded of events) {
          expect(Number.isSafeInteger(decoded.bundle_seq) && decoded.bundle_seq > 0).toBe(true);
        }
      }),
      runs(400),
    );
  });

  it("gives the same outcome for a hostile stream fed whole or in pieces", () => {
    fc.assert(
      fc.property(
        fc.array(hostileLine, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (lines, cuts) => {
          const text = lines.map((line) => `${line}\n`).join("");
          const whole = feed(new BundleChangeSseParser(), [text]);
          const pieces = feed(new BundleChangeSseParser(), chunks(text, cuts));
          if (whole instanceof ProtocolViolationError) {
            expect(pieces).toBeInstanceOf(ProtocolViolationError);
            expect((pieces as ProtocolViolationError).message).toBe(whole.message);
          } else {
            expect(pieces).toEqual(whole);
          }
        },
      ),
      runs(300),
    );
  });

  // A line and its terminator count toward the 1 MiB event limit too, so the longest line that
  // passes is one byte short of the line limit.
  it("accepts a line whose bytes and terminator fit 1 MiB and refuses any longer, whatever its encoding", () => {
    fc.assert(
      fc.property(fc.constantFrom("x", "é", "€", "😀"), fc.integer({ min: -2, max: 2 }), (char, delta) => {
        const bytes = new TextEncoder().encode(char).length;
        const prefix = ": ";
        const target = WATCH_LINE_BYTE_LIMIT - 1 + delta;
        const count = Math.floor((WATCH_LINE_BYTE_LIMIT - 3 - prefix.length) / bytes);
        // ASCII padding lands the line exactly on `target` bytes.
        const line = `${prefix}${char.repeat(count)}${"x".repeat(target - prefix.length - count * bytes)}`;
        expect(new TextEncoder().encode(line).length).toBe(target);
        const parser = new BundleChangeSseParser();
        if (delta > 0) expect(() => parser.acceptLine(line)).toThrow(ProtocolViolationError);
        else expect(parser.acceptLine(line)).toEqual([]);
      }),
      runs(20),
    );
  });
});
