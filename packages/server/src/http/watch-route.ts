/**
 * `GET /sync/watch` (protocol-latest §1.12) as Server-Sent Events. Setup errors are ordinary JSON
 * error answers; once subscribed, the 200 response streams the first event at once when the client
 * is behind, then one `event: bundle` per wake-up and a `: heartbeat` comment whenever the stream
 * has been idle for the heartbeat interval. The stream is read only as fast as the client takes it,
 * so a slow client's pending wake-ups coalesce in the subscription instead of queueing here. The
 * subscription ends when the client goes away (the Request's signal aborts or the body is
 * cancelled, whichever the runtime reports first) or when the service closes.
 */
import {
  ENDPOINTS,
  WATCH_HEARTBEAT,
  WATCH_RESPONSE_HEADERS,
  formatBundleChangeEvent,
} from "@oversync/protocol";
import type { BundleWatch } from "../service/sync-service.js";
import { type ActorRoute, endpointRoute } from "./routes.js";

/** The watch endpoint. */
export const WATCH_ROUTE: ActorRoute = endpointRoute(
  ENDPOINTS.watch,
  async ({ service, actor, url, request }) => {
    const query = ENDPOINTS.watch.query.decode(url.searchParams);
    const watch = await service.openBundleWatch(actor, query);
    return new Response(eventStream(watch, request.signal), { status: 200, headers: WATCH_RESPONSE_HEADERS });
  },
);

/** The SSE body of one watch; nothing is produced until the reader asks for it. */
function eventStream(watch: BundleWatch, signal: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let cancelled = false;
  const stop = () => {
    signal.removeEventListener("abort", stop);
    watch.close();
  };
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const item = await watch.next(watch.heartbeatIntervalMs);
        // A cancelled stream must not be written or closed again.
        if (cancelled) return;
        if (item === "closed") {
          stop();
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(item === "idle" ? WATCH_HEARTBEAT : formatBundleChangeEvent(item)));
      },
      cancel() {
        cancelled = true;
        stop();
      },
    },
    { highWaterMark: 0 },
  );
}
