/**
 * Conversions between the three forms a row takes: exact SQLite values (what the driver binds),
 * the local form the capture triggers write (`key_json`, dirty payloads; see capture-sql.ts), and
 * the wire form (protocol-latest §2). Pure functions over table metadata.
 */
import {
  type WireKey,
  WireValueError,
  bytesToUuid,
  decodeWireValue,
  encodeBase64,
  encodeSqliteValue,
  parseCanonicalInteger,
  parseStrictJson,
  renderFloat64,
} from "@oversync/protocol";
import type { SqliteValue } from "../drivers/sqlite-driver.js";
import { OversyncClientError } from "../errors.js";
import type { ColumnInfo, ManagedTable } from "./table-metadata.js";

/** A key value as SQLite stores it: TEXT keys are strings, UUID keys 16-byte BLOBs. */
export type KeyValue = string | Uint8Array;

/** A row as exact SQLite values keyed by lower-cased column name. */
export type RowValues = Readonly<Record<string, SqliteValue>>;

/** The local `key_json` of a key value, byte for byte what the capture triggers write. */
export function localKeyJson(table: ManagedTable, key: KeyValue): string {
  const keyText =
    table.keyColumn.kind === "UUID_BLOB" ? toHex(asKeyBytes(table, key)) : asKeyText(table, key);
  return JSON.stringify({ [table.keyColumn.payloadName]: keyText });
}

/** The key value a local `key_json` stands for. */
export function keyValueOfLocalKeyJson(table: ManagedTable, keyJson: string): KeyValue {
  const text = singleMember(table, parseObject(table, keyJson, "key"), "key");
  if (typeof text !== "string") throw payloadError(table, `key ${keyJson} must hold a string`);
  return table.keyColumn.kind === "UUID_BLOB" ? fromHex(table, text) : text;
}

/** The wire key of a local `key_json` (UUID keys become dashed UUID text). */
export function wireKeyOfLocalKeyJson(table: ManagedTable, keyJson: string): WireKey {
  const key = keyValueOfLocalKeyJson(table, keyJson);
  return {
    [table.keyColumn.payloadName]: typeof key === "string" ? key : codec(table, () => bytesToUuid(key)),
  };
}

/** The key value and local `key_json` of a wire key; throws `payload_invalid` when it does not fit. */
export function localKeyOfWireKey(table: ManagedTable, key: unknown): { value: KeyValue; keyJson: string } {
  if (typeof key !== "object" || key === null || Array.isArray(key)) {
    throw payloadError(table, "key must be a JSON object with the sync key column");
  }
  const text = singleMember(table, key as Record<string, unknown>, "key");
  const value = codec(table, () => decodeWireValue(table.keyColumn.kind, text));
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    throw payloadError(table, "key must be a string");
  }
  return { value, keyJson: localKeyJson(table, value) };
}

/**
 * Decodes an authoritative wire payload (committed rows, pull, snapshot, server_row) into exact
 * SQLite values. It must carry every column of the table under its lower-cased name; members for
 * columns the table does not have (added on the server after this app's schema) are ignored.
 */
export function decodeWirePayload(table: ManagedTable, payload: unknown): RowValues {
  const members = payloadObject(table, payload);
  const missing = table.columns.filter((column) => !Object.hasOwn(members, column.payloadName));
  if (missing.length > 0) {
    throw payloadError(
      table,
      `payload for ${table.name} must contain every table column (missing ${missing.map((c) => c.payloadName).join(", ")})`,
    );
  }
  return decodeMembers(table, table.columns, members);
}

/**
 * Decodes a wire payload this client queued (the outbox, a carried or re-applied change) into exact
 * SQLite values. Columns added to the table after the change was captured are absent (the server
 * and the local upsert leave them alone); a member for a column the table lacks is invalid.
 */
export function decodeQueuedPayload(table: ManagedTable, payload: unknown): RowValues {
  const members = payloadObject(table, payload);
  checkKnownColumns(table, Object.keys(members));
  return decodeMembers(
    table,
    table.columns.filter((column) => Object.hasOwn(members, column.payloadName)),
    members,
  );
}

function payloadObject(table: ManagedTable, payload: unknown): Record<string, unknown> {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw payloadError(table, "payload must be a JSON object");
  }
  return payload as Record<string, unknown>;
}

function decodeMembers(
  table: ManagedTable,
  columns: readonly ColumnInfo[],
  members: Record<string, unknown>,
): RowValues {
  return Object.fromEntries(
    columns.map((column) => [
      column.payloadName,
      codec(table, () => decodeWireValue(column.kind, members[column.payloadName]), column),
    ]),
  );
}

/**
 * Converts a local-form payload (as captured in `_sync_dirty_rows`) to the wire payload to push.
 * A column the app added locally after the capture is left out (the server keeps its value).
 */
export function wirePayloadOfLocalPayload(
  table: ManagedTable,
  localPayload: string,
): Record<string, string | null> {
  const document = parseStrictJsonOrFail(table, localPayload);
  const members = document.value;
  if (typeof members !== "object" || members === null || Array.isArray(members)) {
    throw payloadError(table, "local payload must be a JSON object");
  }
  checkKnownColumns(table, Object.keys(members));
  if (!Object.hasOwn(members, table.keyColumn.payloadName)) {
    throw payloadError(table, `local payload for ${table.name} lacks the key ${table.keyColumn.payloadName}`);
  }
  const wire: Record<string, string | null> = {};
  for (const column of table.columns) {
    if (!Object.hasOwn(members, column.payloadName)) continue;
    const value = members[column.payloadName];
    // A TEXT-kind column may hold a number SQLite stored natively; its exact token is its text.
    const token = typeof value === "number" ? document.numberToken(members, column.payloadName) : undefined;
    wire[column.payloadName] = codec(table, () => localValueToWire(column, token ?? value), column);
  }
  return wire;
}

/** Exact SQLite values of a row encoded as the wire payload to push. */
export function wirePayloadOfValues(table: ManagedTable, values: RowValues): Record<string, string | null> {
  checkColumns(table, Object.keys(values));
  const wire: Record<string, string | null> = {};
  for (const column of table.columns) {
    const value = values[column.payloadName] ?? null;
    wire[column.payloadName] = codec(table, () => encodeSqliteValue(column.kind, value), column);
  }
  return wire;
}

function localValueToWire(column: ColumnInfo, value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== "string") throw new WireValueError(`local value must be text, got ${typeof value}`);
  switch (column.kind) {
    case "TEXT":
      return value;
    case "INTEGER":
      return parseCanonicalInteger(value).toString();
    case "REAL": {
      const number = Number(value);
      if (value.trim() === "" || !Number.isFinite(number)) {
        throw new WireValueError(`REAL value ${JSON.stringify(value)} is not a finite number`);
      }
      return renderFloat64(number);
    }
    case "BLOB":
      return encodeBase64(hexBytes(value));
    case "UUID_BLOB":
      return bytesToUuid(hexBytes(value));
  }
}

function checkKnownColumns(table: ManagedTable, names: readonly string[]): void {
  for (const name of names) {
    if (!table.columnsByPayloadName.has(name)) {
      throw payloadError(table, `payload for ${table.name} contains unknown column ${name}`);
    }
  }
}

function checkColumns(table: ManagedTable, names: readonly string[]): void {
  checkKnownColumns(table, names);
  if (names.length !== table.columns.length) {
    const missing = table.columns
      .filter((column) => !names.includes(column.payloadName))
      .map((c) => c.payloadName);
    throw payloadError(
      table,
      `payload for ${table.name} must contain every table column (missing ${missing.join(", ")})`,
    );
  }
}

function singleMember(table: ManagedTable, object: Record<string, unknown>, what: string): unknown {
  const entries = Object.entries(object);
  const entry = entries[0];
  if (entries.length !== 1 || entry === undefined || entry[0] !== table.keyColumn.payloadName) {
    throw payloadError(
      table,
      `${what} of ${table.name} must have exactly one member, ${table.keyColumn.payloadName}, got ${Object.keys(object).join(", ") || "none"}`,
    );
  }
  return entry[1];
}

function parseObject(table: ManagedTable, text: string, what: string): Record<string, unknown> {
  const value = parseStrictJsonOrFail(table, text).value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw payloadError(table, `${what} ${text} must be a JSON object`);
  }
  return value;
}

function parseStrictJsonOrFail(table: ManagedTable, text: string) {
  try {
    return parseStrictJson(text);
  } catch (error) {
    throw new OversyncClientError("payload_invalid", `${table.name}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function asKeyText(table: ManagedTable, key: KeyValue): string {
  if (typeof key !== "string") throw payloadError(table, `key of ${table.name} must be a string`);
  return key;
}

function asKeyBytes(table: ManagedTable, key: KeyValue): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== 16) {
    throw payloadError(table, `key of ${table.name} must be 16 UUID bytes`);
  }
  return key;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const HEX = /^(?:[0-9a-f]{2})*$/;

function hexBytes(hex: string): Uint8Array {
  if (!HEX.test(hex)) throw new WireValueError(`local BLOB ${JSON.stringify(hex)} is not lower-case hex`);
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function fromHex(table: ManagedTable, hex: string): Uint8Array {
  return codec(table, () => hexBytes(hex));
}

/** Runs a value conversion, turning a WireValueError into `payload_invalid` naming table and column. */
function codec<T>(table: ManagedTable, convert: () => T, column?: ColumnInfo): T {
  try {
    return convert();
  } catch (error) {
    if (!(error instanceof WireValueError)) throw error;
    const where = column === undefined ? `key of ${table.name}` : `${table.name}.${column.payloadName}`;
    throw new OversyncClientError("payload_invalid", `${where}: ${error.message}`, { cause: error });
  }
}

function payloadError(table: ManagedTable, message: string): OversyncClientError {
  return new OversyncClientError(
    "payload_invalid",
    message.includes(table.name) ? message : `${table.name}: ${message}`,
  );
}
