/**
 * The client's incremental parser for the watch event stream (protocol-latest §1.12 "Client
 * parsing"): blank lines dispatch, `:` lines are comments, only `event: bundle` is decoded, data
 * lines join with "\n", and each line and event is limited to 1 MiB.
 */
import { utf8ByteLength } from "./canonical-json.js";
import { ProtocolViolationError } from "./protocol-violation.js";
import { safeDecode } from "./wire/shared.js";
import { type BundleChangeEvent, bundleChangeEventSchema } from "./wire/watch.js";

/** KMP's per-line and per-event byte limits. */
export const WATCH_LINE_BYTE_LIMIT = 1 << 20;
export const WATCH_EVENT_BYTE_LIMIT = 1 << 20;

/** Parses the watch stream line by line or chunk by chunk; throws ProtocolViolationError("invalid_watch_event"). */
export class BundleChangeSseParser {
  private eventName = "";
  private data: string[] = [];
  private eventBytes = 0;
  private pending = "";

  /** Feeds one line without its terminator; returns the events it completes. */
  acceptLine(line: string): BundleChangeEvent[] {
    const lineBytes = utf8ByteLength(line);
    if (lineBytes > WATCH_LINE_BYTE_LIMIT)
      this.fail(`watch line of ${lineBytes} bytes exceeds the 1 MiB limit`);
    if (line === "") return this.dispatch();
    // Count the line terminator too, as the bytes on the stream.
    this.eventBytes += lineBytes + 1;
    if (this.eventBytes > WATCH_EVENT_BYTE_LIMIT) this.fail("watch event exceeds the 1 MiB limit");
    if (line.startsWith(":")) return [];
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventName = value;
    else if (field === "data") this.data.push(value);
    return [];
  }

  /**
   * Feeds a chunk of stream text; complete lines (ending in "\n", an optional "\r" before it is
   * dropped) are parsed and the rest is kept for the next chunk.
   */
  acceptText(chunk: string): BundleChangeEvent[] {
    const events: BundleChangeEvent[] = [];
    let text = this.pending + chunk;
    let newline = text.indexOf("\n");
    while (newline >= 0) {
      const line = text.slice(0, newline);
      events.push(...this.acceptLine(line.endsWith("\r") ? line.slice(0, -1) : line));
      text = text.slice(newline + 1);
      newline = text.indexOf("\n");
    }
    if (utf8ByteLength(text) > WATCH_LINE_BYTE_LIMIT) this.fail("watch line exceeds the 1 MiB limit");
    this.pending = text;
    return events;
  }

  /** Drops any partial event, as at the end of a stream. */
  reset(): void {
    this.eventName = "";
    this.data = [];
    this.eventBytes = 0;
    this.pending = "";
  }

  private dispatch(): BundleChangeEvent[] {
    const isBundle = this.eventName === "bundle";
    const data = this.data.join("\n");
    this.eventName = "";
    this.data = [];
    this.eventBytes = 0;
    if (!isBundle) return [];
    if (data === "") this.fail("bundle change event is missing data");
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch (error) {
      this.fail(`bundle change event data is malformed JSON: ${(error as Error).message}`);
    }
    const decoded = safeDecode(bundleChangeEventSchema, json);
    if (!decoded.ok) this.fail(`bundle change event ${decoded.failure.message}`);
    return [decoded.value];
  }

  private fail(message: string): never {
    throw new ProtocolViolationError("invalid_watch_event", message);
  }
}

/** Parses a complete list of lines (a finished stream) into its events. */
export function parseBundleChangeLines(lines: Iterable<string>): BundleChangeEvent[] {
  const parser = new BundleChangeSseParser();
  const events: BundleChangeEvent[] = [];
  for (const line of lines) events.push(...parser.acceptLine(line));
  parser.reset();
  return events;
}
