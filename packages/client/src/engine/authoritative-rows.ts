/**
 * Server rows (committed bundles, pulls, snapshots) decoded against the managed schema before any
 * of them is written: the schema must be the configured one, the table managed, the key and
 * payload valid for the table (exactly its columns, values in wire form).
 */
import {
  CanonicalJsonError,
  type ProtocolViolationCode,
  ProtocolViolationError,
  type RowOp,
  type WireKey,
  canonicalJson,
} from "@oversync/protocol";
import {
  type KeyValue,
  type RowValues,
  decodeWirePayload,
  localKeyOfWireKey,
} from "../store/payload-codec.js";
import type { SyncSchema } from "../store/table-metadata.js";

/** A server row as the local store applies it. */
export interface AuthoritativeRow {
  readonly tableName: string;
  readonly keyJson: string;
  readonly key: KeyValue;
  readonly op: RowOp;
  readonly rowVersion: bigint;
  /** Every column's exact value; absent for DELETE. */
  readonly values?: RowValues;
}

/** The wire shape shared by committed, pulled and snapshot rows (snapshot rows are upserts). */
export interface WireRow {
  readonly schema: string;
  readonly table: string;
  readonly key: WireKey;
  readonly op?: RowOp;
  readonly row_version: number;
  readonly payload?: Readonly<Record<string, unknown>> | null;
}

/** Decodes one server row; throws ProtocolViolationError or `payload_invalid` when it does not fit. */
export function decodeAuthoritativeRow(schema: SyncSchema, row: WireRow): AuthoritativeRow {
  if (row.schema !== schema.schema) {
    throw new ProtocolViolationError(
      "invalid_response",
      `bundle row schema ${row.schema} does not match client schema ${schema.schema}`,
    );
  }
  const table = schema.table(row.table);
  const { value, keyJson } = localKeyOfWireKey(table, row.key);
  const op = row.op ?? "INSERT";
  const decoded: AuthoritativeRow = {
    tableName: table.name,
    keyJson,
    key: value,
    op,
    rowVersion: BigInt(row.row_version),
  };
  return op === "DELETE" ? decoded : { ...decoded, values: decodeWirePayload(table, row.payload) };
}

/**
 * Canonical JSON of a value the server sent. The decoders accept a string with a lone surrogate
 * escape, which canonical JSON cannot write (§3.1); that is the server breaking the protocol.
 */
export function serverCanonicalJson(value: unknown, code: ProtocolViolationCode, what: string): string {
  try {
    return canonicalJson(value);
  } catch (error) {
    if (!(error instanceof CanonicalJsonError)) throw error;
    throw new ProtocolViolationError(code, `${what}: ${error.message}`, { cause: error });
  }
}
