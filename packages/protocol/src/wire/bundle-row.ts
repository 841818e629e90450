/** The committed row shape served by committed-rows and pull (protocol-latest §1.7 "BundleRow"). */
import * as z from "zod";
import {
  authoritativePayloadSchema,
  envelopeInt,
  nonBlankString,
  rowOpSchema,
  wireKeySchema,
} from "./shared.js";

/**
 * A committed row. INSERT/UPDATE carry a payload object; DELETE carries none or null. Keys and
 * payloads never include the hidden `_sync_scope_id`.
 */
export const bundleRowSchema = z
  .object({
    schema: nonBlankString("bundle row schema"),
    table: nonBlankString("bundle row table"),
    key: wireKeySchema,
    op: rowOpSchema,
    row_version: envelopeInt("bundle row row_version", "positive"),
    payload: authoritativePayloadSchema.nullish(),
  })
  .superRefine((row, ctx) => {
    if (row.op !== "DELETE" && (row.payload === undefined || row.payload === null)) {
      ctx.addIssue({
        code: "custom",
        path: ["payload"],
        message: `bundle row payload must be present for ${row.op}`,
      });
    }
    if (row.op === "DELETE" && row.payload !== undefined && row.payload !== null) {
      ctx.addIssue({
        code: "custom",
        path: ["payload"],
        message: "bundle row payload must be absent or null for DELETE",
      });
    }
  });

/** A decoded committed row. */
export type BundleRow = z.infer<typeof bundleRowSchema>;
