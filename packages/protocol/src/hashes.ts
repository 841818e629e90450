/**
 * Hash inputs and byte measures of protocol-latest §3.2–§3.4. Ordinals and versions are rendered as
 * decimal strings inside hash input, so bigint values keep every digit.
 */
import { CanonicalJsonError, canonicalJson, sha256Hex, utf8ByteLength } from "./canonical-json.js";
import type { WireKey } from "./values.js";

/** Row operations on the wire. */
export type RowOp = "INSERT" | "UPDATE" | "DELETE";

/** An integer that may exceed 2^53 on the SQLite side. */
export type WireInteger = bigint | number;

/** An uploaded row as hashed into `canonical_request_hash` (the push chunk row shape). */
export interface RequestHashRow {
  readonly schema: string;
  readonly table: string;
  readonly key: WireKey;
  readonly op: RowOp;
  readonly base_row_version: WireInteger;
  readonly payload?: Readonly<Record<string, unknown>> | null;
}

/** A committed row as hashed into `bundle_hash` (the BundleRow shape). */
export interface BundleHashRow {
  readonly schema: string;
  readonly table: string;
  readonly key: WireKey;
  readonly op: RowOp;
  readonly row_version: WireInteger;
  readonly payload?: Readonly<Record<string, unknown>> | null;
}

/** The canonical JSON text hashed into `canonical_request_hash`: rows in upload order, ordinals from 0. */
export function canonicalRequestJson(rows: readonly RequestHashRow[]): string {
  return canonicalJson(
    rows.map((row, index) => ({
      row_ordinal: decimal(index, "row_ordinal"),
      schema: row.schema,
      table: row.table,
      key: row.key,
      op: row.op,
      base_row_version: decimal(row.base_row_version, "base_row_version"),
      payload: hashedPayload(row),
    })),
  );
}

/** `canonical_request_hash`: lowercase hex SHA-256 of canonicalRequestJson(rows). */
export function canonicalRequestHash(rows: readonly RequestHashRow[]): string {
  return sha256Hex(canonicalRequestJson(rows));
}

/** The canonical JSON text hashed into `bundle_hash`: rows in bundle order, ordinals from 0. */
export function bundleHashJson(rows: readonly BundleHashRow[]): string {
  return canonicalJson(
    rows.map((row, index) => ({
      row_ordinal: decimal(index, "row_ordinal"),
      row_version: decimal(row.row_version, "row_version"),
      schema: row.schema,
      table: row.table,
      key: row.key,
      op: row.op,
      payload: hashedPayload(row),
    })),
  );
}

/** `bundle_hash`: lowercase hex SHA-256 of bundleHashJson(rows). */
export function bundleHash(rows: readonly BundleHashRow[]): string {
  return sha256Hex(bundleHashJson(rows));
}

/** A snapshot row as served in a chunk. */
export interface SnapshotRowInput {
  readonly schema: string;
  readonly table: string;
  readonly key: WireKey;
  readonly row_version: WireInteger;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** The compact text of a snapshot row object and its UTF-8 length, the unit of `byte_count`. */
export interface SnapshotRowText {
  readonly text: string;
  readonly byteLength: number;
}

/**
 * Serializes a snapshot row once, members in the order schema, table, key, row_version, payload,
 * with no whitespace (§3.4). The server splices `text` into chunks verbatim and sums `byteLength`.
 */
export function snapshotRowJson(row: SnapshotRowInput): SnapshotRowText {
  const text =
    `{"schema":${JSON.stringify(row.schema)},"table":${JSON.stringify(row.table)},` +
    `"key":${JSON.stringify(row.key)},"row_version":${decimal(row.row_version, "row_version")},` +
    `"payload":${JSON.stringify(row.payload)}}`;
  return { text, byteLength: utf8ByteLength(text) };
}

function hashedPayload(row: { readonly op: RowOp; readonly payload?: unknown }): unknown {
  // DELETE rows hash a null payload whether the wire omitted it or sent null.
  return row.op === "DELETE" ? null : (row.payload ?? null);
}

function decimal(value: WireInteger, field: string): string {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new CanonicalJsonError(
      `${field} ${value} is not a safe integer; pass a bigint for values beyond ±(2^53−1)`,
    );
  }
  return value.toString();
}
