/** `GET /syncx/health` and `GET /syncx/status` (protocol-latest §1.13, server digest §12). */
import * as z from "zod";
import { envelopeInt } from "./shared.js";

/** The app name the upstream live-server harness requires from `/syncx/status`. */
export const EXAMPLE_SERVER_APP_NAME = "nethttp-server-example";

/** Where a server is in its life: serving, draining in-flight calls, or closed. */
export const SERVICE_LIFECYCLES = ["running", "shutting_down", "closed"] as const;

function count(name: string) {
  return envelopeInt(`status ${name}`, "non_negative");
}

/**
 * The status body: June's fields. The harness reads only `app_name`; the table names and counters
 * are for operators, which is why the status endpoint answers admins only.
 */
export const statusResponseSchema = z.object({
  status: z.enum(["healthy", "unhealthy"]),
  version: z.string(),
  app_name: z.string(),
  lifecycle: z.enum(SERVICE_LIFECYCLES),
  accepting_operations: z.boolean(),
  inflight_operations: count("inflight_operations"),
  registered_tables: z.array(z.string()),
  features: z.record(z.string(), z.boolean()),
  user_state_retention_floor_ahead_count: count("user_state_retention_floor_ahead_count"),
  latest_bundle_seq_max: count("latest_bundle_seq_max"),
  retained_bundle_floor_min: count("retained_bundle_floor_min"),
  retained_bundle_floor_max: count("retained_bundle_floor_max"),
  retained_bundle_window_min: count("retained_bundle_window_min"),
  retained_bundle_window_max: count("retained_bundle_window_max"),
  history_pruned_error_count: count("history_pruned_error_count"),
  accepted_push_replay_count: count("accepted_push_replay_count"),
  rejected_registered_write_count: count("rejected_registered_write_count"),
  committed_bundle_count: count("committed_bundle_count"),
  committed_bundle_bytes: count("committed_bundle_bytes"),
});

/** A status body. */
export type StatusResponse = z.infer<typeof statusResponseSchema>;

/**
 * The health body: whether the server is healthy and where it is in its life, nothing more. Anyone
 * may ask (load balancers, container probes), so it names no table and carries no counter; June
 * sent the status body here, and the clients read only the HTTP status (§1.13).
 */
export const healthResponseSchema = z.object({
  status: statusResponseSchema.shape.status,
  lifecycle: statusResponseSchema.shape.lifecycle,
});

/** A health body. */
export type HealthResponse = z.infer<typeof healthResponseSchema>;
