/**
 * Building blocks shared by the wire schemas: envelope integers, identifiers, keys, payloads, and
 * turning a zod failure into one message that names the field path.
 */
import * as z from "zod";
import { INT32_MAX, SOURCE_ID_PATTERN } from "../capabilities.js";
import { MAX_IDENTITY_BYTES, sourceIdProblem, userIdProblem } from "../identity.js";
import { CANONICAL_UUID_PATTERN } from "../values.js";

/** The hidden owner column on the server; it never appears in a key or payload on the wire. */
export const HIDDEN_SCOPE_COLUMN = "_sync_scope_id";

/** Lower bound applied to an envelope integer. */
export type IntBound = "any" | "non_negative" | "positive";

/**
 * An envelope integer: a JSON number that is a safe integer (values beyond ±(2^53−1) cannot be
 * represented exactly in JavaScript), optionally bounded. `label` starts each message, e.g.
 * "bundle row row_version 0 must be positive".
 */
export function envelopeInt(label: string, bound: IntBound = "any", max?: number) {
  return z
    .number()
    .superRefine((value, ctx) => {
      const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: value });
      if (!Number.isInteger(value)) return fail(`${label} ${value} must be an integer JSON number`);
      if (!Number.isSafeInteger(value)) {
        return fail(
          `${label} ${value} is beyond ±(2^53−1): values that large cannot be represented exactly, so they are refused`,
        );
      }
      if (bound === "positive" && value <= 0) return fail(`${label} ${value} must be positive`);
      if (bound === "non_negative" && value < 0) return fail(`${label} ${value} must be non-negative`);
      if (max !== undefined && value > max) return fail(`${label} ${value} exceeds the maximum ${max}`);
    })
    .meta(integerJsonSchema(bound, max));
}

/**
 * The JSON Schema of an integer (z.toJSONSchema cannot see a refinement, so the OpenAPI document
 * would call it a number): signed 64-bit on the wire (§0), 32-bit where KMP reads an Int.
 */
export function integerJsonSchema(bound: IntBound, max?: number) {
  return {
    type: "integer",
    format: max !== undefined && max <= INT32_MAX ? "int32" : "int64",
    ...(bound === "any" ? {} : { minimum: bound === "positive" ? 1 : 0 }),
    ...(max === undefined ? {} : { maximum: max }),
  } as const;
}

/** At least one non-whitespace character (what `trim()` leaves non-empty). */
export const NON_BLANK = /\S/;

/** A string with at least one non-whitespace character. */
export function nonBlankString(label: string) {
  return z.string().regex(NON_BLANK, `${label} must be non-empty`);
}

/** A source id a server sends (bundle `source_id`, error bodies): the wire rule only. */
export function sourceIdSchema(label: string) {
  return z
    .string()
    .regex(SOURCE_ID_PATTERN, `${label} must be one or more visible ASCII characters (0x21–0x7E)`);
}

/** A source id a request body names: the wire rule plus the length limit (identity.ts). */
export function requestSourceIdSchema(label: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const problem = sourceIdProblem(value);
      if (problem !== undefined)
        ctx.addIssue({ code: "custom", message: `${label} ${problem}`, input: value });
    })
    .meta({ pattern: SOURCE_ID_PATTERN.source, maxLength: MAX_IDENTITY_BYTES });
}

/** A user id a request names (sign-in, test helpers): non-blank and within the identity rules. */
export function userIdSchema(label: string) {
  return nonBlankString(label).superRefine((value, ctx) => {
    const problem = userIdProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: `${label} ${problem}`, input: value });
  });
}

/** A canonical session token (`push_id`, `initialization_id`): lowercase dashed UUID. */
export function sessionTokenSchema(label: string) {
  return z.string().regex(CANONICAL_UUID_PATTERN, `${label} must be a canonical lowercase dashed UUID`);
}

/** 64 lowercase hexadecimal characters. */
export function sha256HexSchema(label: string) {
  return z.string().regex(/^[0-9a-f]{64}$/, `${label} must be 64 lowercase hexadecimal characters`);
}

/** Row operation on the wire. */
export const rowOpSchema = z.enum(["INSERT", "UPDATE", "DELETE"]);

/** JSON Schema for an object that never names the hidden owner column. */
const WITHOUT_HIDDEN_COLUMN = { propertyNames: { not: { const: HIDDEN_SCOPE_COLUMN } } } as const;

/** A row key: exactly one member (the sync-key column) with a non-blank string value. */
export const wireKeySchema = z
  .record(z.string(), z.string().meta({ pattern: NON_BLANK.source }))
  .superRefine((key, ctx) => {
    const names = Object.keys(key);
    if (names.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `key must have exactly one member, the sync-key column; it has ${names.length}`,
      });
      return;
    }
    const name = names[0]!;
    if (name === HIDDEN_SCOPE_COLUMN) {
      ctx.addIssue({
        code: "custom",
        message: `key must not include hidden server column ${HIDDEN_SCOPE_COLUMN}`,
      });
    } else if (key[name]!.trim().length === 0) {
      ctx.addIssue({ code: "custom", path: [name], message: "key value must be a non-empty string" });
    }
  })
  .meta({ minProperties: 1, maxProperties: 1, ...WITHOUT_HIDDEN_COLUMN });

function withoutHiddenColumn<T extends z.ZodType<Record<string, unknown>>>(schema: T) {
  return schema
    .refine(
      (payload) => !Object.hasOwn(payload, HIDDEN_SCOPE_COLUMN),
      `payload must not include hidden server column ${HIDDEN_SCOPE_COLUMN}`,
    )
    .meta(WITHOUT_HIDDEN_COLUMN);
}

/** An uploaded payload: every value is a string or null (§2.2 client→server). */
export const uploadPayloadSchema = withoutHiddenColumn(z.record(z.string(), z.string().nullable()));

/** An authoritative payload: strings, null, and booleans for PostgreSQL boolean columns (§2.2). */
export const authoritativePayloadSchema = withoutHiddenColumn(
  z.record(z.string(), z.union([z.string(), z.boolean(), z.null()])),
);

/** The body of a 2xx/4xx JSON response: an object. */
export const jsonObjectSchema = z.record(z.string(), z.unknown());

/** An issue found while decoding, with its field path rendered like `rows[0].key`. */
export interface DecodeFailure {
  readonly path: string;
  readonly message: string;
}

/**
 * Runs `schema` over `value`. On failure returns the first issue as `{path, message}`, where the
 * message already starts with the path; the caller wraps it in its own typed error.
 */
export function safeDecode<T>(
  schema: z.ZodType<T>,
  value: unknown,
): { ok: true; value: T } | { ok: false; failure: DecodeFailure } {
  const result = schema.safeParse(value, { error: describeIssue });
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues;
  const first = issues[0]!;
  const segments: PropertyKey[] = [...first.path];
  if (first.code === "unrecognized_keys") segments.push(first.keys[0]!);
  const path = formatPath(segments);
  const message = first.code === "unrecognized_keys" ? "is not a known member" : first.message;
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? "s" : ""})` : "";
  return { ok: false, failure: { path, message: `${path}: ${message}${more}` } };
}

/** Renders a path as `rows[0].key`; the empty path is `body`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else {
      const name = String(segment);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? (out ? `.${name}` : name) : `[${JSON.stringify(name)}]`;
    }
  }
  return out || "body";
}

function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type" && issue.input === undefined) return "is required but missing";
  if (issue.code === "invalid_type") {
    return `must be ${article(issue.expected)}, got ${describeJsonType(issue.input)}`;
  }
  return undefined;
}

function article(expected: string): string {
  const name = expected === "record" ? "object" : expected;
  return /^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`;
}

function describeJsonType(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "an array";
  if (typeof input === "object") return "an object";
  if (typeof input === "string") return "a string";
  if (typeof input === "number") return `the number ${input}`;
  return `a ${typeof input}`;
}
