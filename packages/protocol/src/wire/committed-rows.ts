/** `GET /sync/committed-bundles/{bundle_seq}/rows` (protocol-latest §1.7). */
import * as z from "zod";
import { OversyncError } from "../errors.js";
import { type BundleRow, bundleRowSchema } from "./bundle-row.js";
import { decodeQuery, decodeResponseValue, queryInt, requireResponse } from "./decode.js";
import { envelopeInt, nonBlankString, sourceIdSchema } from "./shared.js";

/** Query: `after_row_ordinal` (0-based, omitted on the first page) and `max_rows`. */
export const committedRowsQuerySchema = z.object({
  after_row_ordinal: queryInt("after_row_ordinal", "non_negative"),
  max_rows: queryInt("max_rows", "positive"),
});

/** A decoded committed-rows query; absent values are undefined (the server applies its default). */
export type CommittedRowsQuery = z.infer<typeof committedRowsQuerySchema>;

/** Decodes the path's bundle_seq and the query; anything malformed is 400 committed_bundle_chunk_invalid. */
export function decodeCommittedRowsRequest(
  bundleSeqSegment: string,
  params: URLSearchParams,
): CommittedRowsQuery & { bundle_seq: number } {
  const query = decodeQuery(committedRowsQuerySchema, params, "committed_bundle_chunk_invalid");
  if (!/^[1-9][0-9]*$/.test(bundleSeqSegment) || !Number.isSafeInteger(Number(bundleSeqSegment))) {
    throw new OversyncError(
      "committed_bundle_chunk_invalid",
      "bundle_seq in the path must be a positive integer",
    );
  }
  return { ...query, bundle_seq: Number(bundleSeqSegment) };
}

/** A page of a committed bundle's rows. `next_row_ordinal` is the last returned ordinal (−1 before any). */
export const committedRowsResponseSchema = z.object({
  bundle_seq: envelopeInt("committed rows bundle_seq", "positive"),
  source_id: sourceIdSchema("committed rows source_id"),
  source_bundle_id: envelopeInt("committed rows source_bundle_id", "positive"),
  row_count: envelopeInt("committed rows row_count", "non_negative"),
  bundle_hash: nonBlankString("committed rows bundle_hash"),
  canonical_request_hash: z.string(),
  rows: z.array(bundleRowSchema),
  next_row_ordinal: envelopeInt("committed rows next_row_ordinal"),
  has_more: z.boolean(),
});

/** A decoded committed-rows page. */
export type CommittedRowsResponse = z.infer<typeof committedRowsResponseSchema>;

/** The committed bundle a client is fetching, as its commit or already_committed answer named it. */
export interface CommittedBundleIdentity {
  readonly bundle_seq: number;
  readonly source_id: string;
  readonly source_bundle_id: number;
  readonly row_count: number;
  readonly bundle_hash: string;
  readonly canonical_request_hash: string;
}

/**
 * Decodes a committed-rows page against the bundle being fetched and the page's
 * `after_row_ordinal` (undefined on the first page). A differing request hash throws
 * ProtocolViolationError("source_sequence_mismatch").
 */
export function decodeCommittedRowsResponse(
  json: unknown,
  context: { committed: CommittedBundleIdentity; afterRowOrdinal: number | undefined },
): CommittedRowsResponse & { rows: BundleRow[] } {
  const response = decodeResponseValue(committedRowsResponseSchema, json, "committed rows response");
  const { committed } = context;
  for (const field of ["bundle_seq", "source_id", "source_bundle_id", "row_count", "bundle_hash"] as const) {
    requireResponse(
      response[field] === committed[field],
      `committed bundle chunk response ${field} ${response[field]} does not match expected ${committed[field]}`,
    );
  }
  requireResponse(
    response.canonical_request_hash === committed.canonical_request_hash,
    `committed bundle chunk response canonical_request_hash ${response.canonical_request_hash} does not match expected ${committed.canonical_request_hash}`,
    "source_sequence_mismatch",
  );
  const expectedNext = (context.afterRowOrdinal ?? -1) + response.rows.length;
  requireResponse(
    response.next_row_ordinal === expectedNext,
    `committed bundle chunk response next_row_ordinal ${response.next_row_ordinal} does not match expected ${expectedNext}`,
  );
  requireResponse(
    !response.has_more || response.rows.length > 0,
    "committed bundle chunk response with has_more=true must include at least one row",
  );
  return response;
}
