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

/**
 * A row whose key and payload are canonical JSON texts already (as both sides store them), so the
 * hash input is assembled around them instead of parsing and re-canonicalizing every payload.
 */
export interface CanonicalRowTexts {
  readonly schema: string;
  readonly table: string;
  readonly op: RowOp;
  /** canonicalJson of the wire key. */
  readonly keyJson: string;
  /** canonicalJson of the wire payload; a DELETE hashes null whatever this holds. */
  readonly payloadJson: string | null;
}

/** The canonical JSON text hashed into `canonical_request_hash`: rows in upload order, ordinals from 0. */
export function canonicalRequestJson(rows: readonly RequestHashRow[]): string {
  return canonicalRequestJsonOfTexts(
    rows.map((row) => ({ ...canonicalTextsOf(row), base_row_version: row.base_row_version })),
  );
}

/** canonicalRequestJson of rows whose key and payload are canonical texts already. */
export function canonicalRequestJsonOfTexts(
  rows: readonly (CanonicalRowTexts & { readonly base_row_version: WireInteger })[],
): string {
  // Members in canonical (sorted) order: base_row_version, key, op, payload, row_ordinal, schema, table.
  return hashInput(
    rows,
    (row, index, names) =>
      `{"base_row_version":"${decimal(row.base_row_version, "base_row_version")}","key":${row.keyJson},"op":"${row.op}",` +
      `"payload":${payloadText(row)},"row_ordinal":"${index}",${names}}`,
  );
}

/** `canonical_request_hash`: lowercase hex SHA-256 of canonicalRequestJson(rows). */
export function canonicalRequestHash(rows: readonly RequestHashRow[]): string {
  return sha256Hex(canonicalRequestJson(rows));
}

/** The canonical JSON text hashed into `bundle_hash`: rows in bundle order, ordinals from 0. */
export function bundleHashJson(rows: readonly BundleHashRow[]): string {
  return bundleHashJsonOfTexts(
    rows.map((row) => ({ ...canonicalTextsOf(row), row_version: row.row_version })),
  );
}

/** bundleHashJson of rows whose key and payload are canonical texts already. */
export function bundleHashJsonOfTexts(
  rows: readonly (CanonicalRowTexts & { readonly row_version: WireInteger })[],
): string {
  // Members in canonical (sorted) order: key, op, payload, row_ordinal, row_version, schema, table.
  return hashInput(
    rows,
    (row, index, names) =>
      `{"key":${row.keyJson},"op":"${row.op}","payload":${payloadText(row)},"row_ordinal":"${index}",` +
      `"row_version":"${decimal(row.row_version, "row_version")}",${names}}`,
  );
}

/** `bundle_hash`: lowercase hex SHA-256 of bundleHashJson(rows). */
export function bundleHash(rows: readonly BundleHashRow[]): string {
  return sha256Hex(bundleHashJson(rows));
}

function canonicalTextsOf(row: RequestHashRow | BundleHashRow): CanonicalRowTexts {
  const payload = hashedPayload(row);
  return {
    schema: row.schema,
    table: row.table,
    op: row.op,
    keyJson: canonicalJson(row.key),
    payloadJson: payload === null ? null : canonicalJson(payload),
  };
}

function payloadText(row: CanonicalRowTexts): string {
  // DELETE rows hash a null payload whether the wire omitted it or sent null.
  return row.op === "DELETE" ? "null" : (row.payloadJson ?? "null");
}

/**
 * The JSON array of `write(row, ordinal, names)` over rows, where `names` is the row's last two
 * members, `"schema":…,"table":…`, written once per distinct pair (the names repeat in every row).
 */
function hashInput<R extends CanonicalRowTexts>(
  rows: readonly R[],
  write: (row: R, index: number, names: string) => string,
): string {
  const written = new Map<string, string>();
  const parts = rows.map((row, index) => {
    // Prefixed with the schema's length, so no two pairs share a cache key.
    const pair = `${row.schema.length}:${row.schema}${row.table}`;
    let names = written.get(pair);
    if (names === undefined) {
      names = `"schema":${canonicalJson(row.schema)},"table":${canonicalJson(row.table)}`;
      written.set(pair, names);
    }
    return write(row, index, names);
  });
  return `[${parts.join(",")}]`;
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
  return snapshotRowJsonOfTexts({
    schema: row.schema,
    table: row.table,
    keyJson: JSON.stringify(row.key),
    row_version: row.row_version,
    payloadJson: JSON.stringify(row.payload),
  });
}

/**
 * snapshotRowJson of a row whose key and payload are JSON texts already. Canonical texts give the
 * served row's exact `byteLength` whatever member order the server writes: the same members with
 * the same spellings in another order take the same bytes.
 */
export function snapshotRowJsonOfTexts(row: {
  readonly schema: string;
  readonly table: string;
  readonly keyJson: string;
  readonly row_version: WireInteger;
  readonly payloadJson: string;
}): SnapshotRowText {
  const text =
    `{"schema":${JSON.stringify(row.schema)},"table":${JSON.stringify(row.table)},` +
    `"key":${row.keyJson},"row_version":${decimal(row.row_version, "row_version")},` +
    `"payload":${row.payloadJson}}`;
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
