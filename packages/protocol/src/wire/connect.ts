/** `POST /sync/connect` (protocol-latest §1.2). */
import * as z from "zod";
import { decodeRequestBody, decodeResponseValue, requireResponse } from "./decode.js";
import { isCanonicalUuid } from "../values.js";
import { envelopeInt } from "./shared.js";

/** Connect request: whether the client has local rows to seed an uninitialized scope with. */
export const connectRequestSchema = z.strictObject({
  has_local_pending_rows: z.boolean(),
});

/** A decoded connect request. */
export type ConnectRequest = z.infer<typeof connectRequestSchema>;

/** Decodes a connect request body; bad JSON is 400 invalid_request, a bad shape 400 connect_invalid. */
export function decodeConnectRequest(body: string): ConnectRequest {
  return decodeRequestBody(connectRequestSchema, body, "connect_invalid");
}

/** The four connect outcomes. */
export const CONNECT_RESOLUTIONS = [
  "initialize_local",
  "initialize_empty",
  "remote_authoritative",
  "retry_later",
] as const;

/** Connect response; `initialization_id` only with `initialize_local`. */
export const connectResponseSchema = z.object({
  resolution: z.enum(CONNECT_RESOLUTIONS),
  initialization_id: z.string().optional(),
  lease_expires_at: z.string().meta({ format: "date-time" }).optional(),
  retry_after_seconds: envelopeInt("connect retry_after_seconds", "non_negative").optional(),
});

/** A decoded connect response. */
export type ConnectResponse = z.infer<typeof connectResponseSchema>;

/**
 * Decodes a connect response as KMP does: `initialize_local` needs a canonical initialization_id,
 * every other resolution must leave it absent or "".
 */
export function decodeConnectResponse(json: unknown): ConnectResponse {
  const response = decodeResponseValue(connectResponseSchema, json, "connect response");
  if (response.resolution === "initialize_local") {
    requireResponse(
      isCanonicalUuid(response.initialization_id),
      "connect response initialization_id must be a canonical lowercase dashed UUID with initialize_local",
    );
  } else {
    requireResponse(
      response.initialization_id === undefined || response.initialization_id === "",
      `connect response initialization_id must be absent for resolution ${response.resolution}`,
    );
  }
  return response;
}
