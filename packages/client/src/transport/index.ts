/** The client's HTTP transport and retry helpers. */
export * from "./retry-policy.js";
export * from "./sync-transport.js";
export * from "./transport-errors.js";
export type { WatchStream } from "./watch-stream.js";
