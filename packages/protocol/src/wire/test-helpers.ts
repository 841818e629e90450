/**
 * The unauthenticated helpers the upstream live-server suites call (protocol-latest §5):
 * `POST /dummy-signin`, `POST /test/retention-floor`, `GET /test/watch-subscribers`.
 */
import * as z from "zod";
import { decodeQuery, decodeRequestBody } from "./decode.js";
import { envelopeInt, nonBlankString, userIdSchema } from "./shared.js";

/**
 * A workspace id of the reference server, whose sync routes for a workspace live under
 * `/w/<workspace>`: 1–64 ASCII letters, digits, `_` or `-`, so it is one URL path segment as it
 * stands (never `.` or `..`, which URL resolution would swallow).
 */
export const WORKSPACE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The most workspaces one sign-in may name (they travel in the token). */
export const MAX_SIGNIN_WORKSPACES = 64;

/**
 * Sign-in request; any password is accepted; `device` is sent by the latest clients only.
 * `workspaces` (this server's extension, absent from upstream's suites) names the workspaces the
 * token makes its user a member of.
 */
export const dummySigninRequestSchema = z.strictObject({
  user: userIdSchema("user"),
  password: z.string(),
  device: z.string().optional(),
  workspaces: z
    .array(
      z.string().regex(WORKSPACE_ID_PATTERN, "a workspace id must be 1-64 ASCII letters, digits, _ or -"),
    )
    .max(MAX_SIGNIN_WORKSPACES, `workspaces may name at most ${MAX_SIGNIN_WORKSPACES} workspaces`)
    .optional(),
});

/** A decoded sign-in request. */
export type DummySigninRequest = z.infer<typeof dummySigninRequestSchema>;

/** Decodes a sign-in body; any problem is 400 invalid_request. */
export function decodeDummySigninRequest(body: string): DummySigninRequest {
  return decodeRequestBody(dummySigninRequestSchema, body, "invalid_request");
}

/** Sign-in response: a bearer token whose subject is the user. */
export const dummySigninResponseSchema = z.object({
  token: nonBlankString("token"),
  expires_in: envelopeInt("expires_in", "positive").optional(),
  user: z.string().optional(),
});

/** A sign-in response. */
export type DummySigninResponse = z.infer<typeof dummySigninResponseSchema>;

/** Retention-floor request: move the user's retained floor to N ≥ 0. */
export const retentionFloorRequestSchema = z.strictObject({
  user_id: userIdSchema("user_id"),
  retained_bundle_floor: envelopeInt("retained_bundle_floor", "non_negative"),
});

/** A decoded retention-floor request. */
export type RetentionFloorRequest = z.infer<typeof retentionFloorRequestSchema>;

/** Decodes a retention-floor body; any problem is 400 invalid_request. */
export function decodeRetentionFloorRequest(body: string): RetentionFloorRequest {
  return decodeRequestBody(retentionFloorRequestSchema, body, "invalid_request");
}

/** Retention-floor response. */
export const retentionFloorResponseSchema = z.object({
  status: z.literal("ok"),
  user_id: z.string(),
  retained_bundle_floor: envelopeInt("retained_bundle_floor", "non_negative"),
});

/** A retention-floor response. */
export type RetentionFloorResponse = z.infer<typeof retentionFloorResponseSchema>;

/** Watch-subscribers query: `user_id` is required. */
export const watchSubscribersQuerySchema = z.object({
  user_id: userIdSchema("user_id"),
});

/** Decodes the watch-subscribers query; a missing user_id is 400 invalid_request. */
export function decodeWatchSubscribersQuery(params: URLSearchParams): { user_id: string } {
  return decodeQuery(watchSubscribersQuerySchema, params, "invalid_request");
}

/** Watch-subscribers response: this process's live watch count for the user. */
export const watchSubscribersResponseSchema = z.object({
  user_id: z.string(),
  subscriber_count: envelopeInt("subscriber_count", "non_negative"),
  process_local_only: z.literal(true),
});

/** A watch-subscribers response. */
export type WatchSubscribersResponse = z.infer<typeof watchSubscribersResponseSchema>;
