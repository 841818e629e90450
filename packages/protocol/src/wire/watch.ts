/** `GET /sync/watch` (protocol-latest §1.12): query, event payload, and the server's SSE framing. */
import * as z from "zod";
import { decodeQuery, queryInt } from "./decode.js";
import { envelopeInt, sourceIdSchema } from "./shared.js";

/** Watch query: `after_bundle_seq` ≥ 0 (0 when absent). */
export const watchQuerySchema = z.object({
  after_bundle_seq: queryInt("after_bundle_seq", "non_negative").transform((value) => value ?? 0),
});

/** A decoded watch query. */
export type WatchQuery = z.infer<typeof watchQuerySchema>;

/** Decodes watch query parameters; anything malformed is 400 invalid_request. */
export function decodeWatchQuery(params: URLSearchParams): WatchQuery {
  return decodeQuery(watchQuerySchema, params, "invalid_request");
}

/** The `data` of an `event: bundle`. Source fields are optional; unknown members are ignored. */
export const bundleChangeEventSchema = z.object({
  bundle_seq: envelopeInt("bundle change event bundle_seq", "positive"),
  source_id: sourceIdSchema("bundle change event source_id").optional(),
  source_bundle_id: envelopeInt("bundle change event source_bundle_id", "non_negative").optional(),
});

/** A decoded bundle-change event. */
export type BundleChangeEvent = z.infer<typeof bundleChangeEventSchema>;

/** Response headers of the event stream; flush them before the first event. */
export const WATCH_RESPONSE_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
} as const;

/** The heartbeat comment, sent every `WATCH_HEARTBEAT_INTERVAL_MS`. */
export const WATCH_HEARTBEAT = ": heartbeat\n\n";

/** June's heartbeat interval. */
export const WATCH_HEARTBEAT_INTERVAL_MS = 25_000;

/** Frames one bundle-change event for the stream. */
export function formatBundleChangeEvent(event: BundleChangeEvent): string {
  const data: Record<string, unknown> = { bundle_seq: event.bundle_seq };
  if (event.source_id !== undefined) data.source_id = event.source_id;
  if (event.source_bundle_id !== undefined) data.source_bundle_id = event.source_bundle_id;
  return `event: bundle\ndata: ${JSON.stringify(data)}\n\n`;
}
