/** The committed row shape served by committed-rows and pull (protocol-latest §1.7 "BundleRow"). */
import * as z from "zod";
import {
  HIDDEN_SCOPE_COLUMN,
  NON_BLANK,
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

const ROW_OPS: ReadonlySet<unknown> = new Set(rowOpSchema.options);

/**
 * An object as JSON.parse makes one (Object's prototype, so not an array) without a `__proto__`
 * member, which the schema's copy would turn into a prototype.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    !Object.hasOwn(value, "__proto__")
  );
}

/**
 * True when `value` is a committed row bundleRowSchema accepts as it is, with no member it would
 * strip: the decoders take it without running the schema, which costs ~10 µs a row. Anything else
 * (including every invalid row) goes through the schema, which words the error.
 */
export function isPlainBundleRow(value: unknown): value is BundleRow {
  return isPlainWireRow(value, "row_version", 1, true);
}

/**
 * The shared check of the row shapes (committed, uploaded and snapshot rows): exactly the members
 * schema, table, key, op (absent when `withOp` is false: snapshot rows, all upserts), `version` (a
 * safe integer ≥ `minVersion`) and an optional payload, none of them needing the schema to change
 * it; an upsert's payload holds strings and null, and booleans where `booleans` allows them
 * (authoritative payloads).
 */
export function isPlainWireRow(
  value: unknown,
  version: "row_version" | "base_row_version",
  minVersion: number,
  booleans: boolean,
  withOp = true,
): boolean {
  if (!isPlainObject(value)) return false;
  const { schema, table, key, payload } = value;
  const op = withOp ? value.op : "INSERT";
  const rowVersion = value[version];
  const members = (withOp ? 5 : 4) + (Object.hasOwn(value, "payload") ? 1 : 0);
  if (Object.keys(value).length !== members) return false;
  if (typeof schema !== "string" || !NON_BLANK.test(schema)) return false;
  if (typeof table !== "string" || !NON_BLANK.test(table)) return false;
  if (!ROW_OPS.has(op) || !Number.isSafeInteger(rowVersion) || (rowVersion as number) < minVersion) {
    return false;
  }
  if (!isPlainWireKey(key)) return false;
  if (op === "DELETE") return payload === undefined || payload === null;
  if (!isPlainObject(payload) || Object.hasOwn(payload, HIDDEN_SCOPE_COLUMN)) return false;
  for (const name in payload) {
    const column = payload[name];
    if (typeof column !== "string" && column !== null && !(booleans && typeof column === "boolean")) {
      return false;
    }
  }
  return true;
}

/** True when `value` is a row key wireKeySchema accepts as it is. */
function isPlainWireKey(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const names = Object.keys(value);
  if (names.length !== 1 || names[0] === HIDDEN_SCOPE_COLUMN) return false;
  const keyValue = value[names[0]!];
  return typeof keyValue === "string" && keyValue.trim().length > 0;
}
