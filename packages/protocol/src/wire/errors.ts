/** Error bodies (protocol-latest §0 "Error body", §1.14). */
import * as z from "zod";
import { SNAPSHOT_LIMIT_DIMENSIONS } from "../error-codes.js";
import {
  authoritativePayloadSchema,
  envelopeInt,
  nonBlankString,
  rowOpSchema,
  sourceIdSchema,
  wireKeySchema,
} from "./shared.js";

/** The members every error body has: `{"error":"<code>","message":"<text>"}`. */
export const errorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
});

/** The `conflict` object of a `push_conflict` error. */
export const pushConflictSchema = z.object({
  schema: nonBlankString("push conflict schema"),
  table: nonBlankString("push conflict table"),
  key: wireKeySchema,
  op: rowOpSchema,
  base_row_version: envelopeInt("push conflict base_row_version", "non_negative"),
  server_row_version: envelopeInt("push conflict server_row_version", "non_negative"),
  server_row_deleted: z.boolean(),
  server_row: authoritativePayloadSchema.nullable().optional(),
});

/** Conflict details of a `push_conflict` error. */
export type PushConflict = z.infer<typeof pushConflictSchema>;

/** Extra members of a `push_conflict` body; without `conflict` it is handled as a plain error. */
export const pushConflictExtrasSchema = z.object({ conflict: pushConflictSchema.optional() });

/** Extra members of a `source_retired` body; `replaced_by_source_id` is omitted when unknown. */
export const sourceRetiredExtrasSchema = z.object({
  source_id: sourceIdSchema("source_retired source_id"),
  replaced_by_source_id: sourceIdSchema("source_retired replaced_by_source_id").optional(),
});

/** Extra members of a `snapshot_session_limit_exceeded` body; `actual` > `limit` > 0. */
export const snapshotLimitExtrasSchema = z
  .object({
    dimension: z.enum(SNAPSHOT_LIMIT_DIMENSIONS),
    actual: envelopeInt("snapshot limit actual", "positive"),
    limit: envelopeInt("snapshot limit limit", "positive"),
  })
  .refine((extras) => extras.actual > extras.limit, {
    message: "snapshot limit actual must exceed limit",
    path: ["actual"],
  });

/** Extra members of a `snapshot_chunk_too_small` body. */
export const chunkTooSmallExtrasSchema = z.object({
  required_byte_count: envelopeInt("snapshot_chunk_too_small required_byte_count", "positive"),
});

/** The extra members a code adds to the error body, keyed by code. */
export const ERROR_EXTRAS_SCHEMAS = {
  push_conflict: pushConflictExtrasSchema,
  source_retired: sourceRetiredExtrasSchema,
  snapshot_session_limit_exceeded: snapshotLimitExtrasSchema,
  snapshot_chunk_too_small: chunkTooSmallExtrasSchema,
} as const;
