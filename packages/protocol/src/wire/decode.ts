/**
 * The three ways a wire shape is decoded: a request body (server), a query string (server), and a
 * response body (client). Each turns a schema failure into its side's typed error.
 */
import * as z from "zod";
import type { ErrorCode } from "../error-codes.js";
import { OversyncError } from "../errors.js";
import { type ProtocolViolationCode, ProtocolViolationError } from "../protocol-violation.js";
import { integerJsonSchema, safeDecode } from "./shared.js";

/**
 * Parses and validates a JSON request body. Text that is not JSON gets `unparseableCode` (400
 * `invalid_request` on most endpoints); a body that breaks the schema gets `invalidCode`.
 */
export function decodeRequestBody<T>(
  schema: z.ZodType<T>,
  body: string,
  invalidCode: ErrorCode,
  unparseableCode: ErrorCode = "invalid_request",
): T {
  return checkRequestValue(schema, parseRequestBody(body, unparseableCode), invalidCode);
}

/** Parses a JSON request body; text that is not JSON is OversyncError(`unparseableCode`). */
export function parseRequestBody(body: string, unparseableCode: ErrorCode = "invalid_request"): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new OversyncError(unparseableCode, `request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Validates an already-parsed request value, throwing OversyncError(`invalidCode`) with the field path. */
export function checkRequestValue<T>(schema: z.ZodType<T>, value: unknown, invalidCode: ErrorCode): T {
  const decoded = safeDecode(schema, value);
  if (!decoded.ok) throw new OversyncError(invalidCode, decoded.failure.message);
  return decoded.value;
}

/**
 * Validates query parameters. Each known parameter may appear once; parameters the schema does not
 * name are ignored, as proxies and caches may add their own (repeated ones included).
 */
export function decodeQuery<T>(
  schema: z.ZodType<T> & { readonly shape: object },
  params: URLSearchParams,
  invalidCode: ErrorCode,
): T {
  const values: Record<string, string> = {};
  for (const [name, value] of params) {
    if (!Object.hasOwn(schema.shape, name)) continue;
    if (Object.hasOwn(values, name)) {
      throw new OversyncError(invalidCode, `${name}: query parameter appears more than once`);
    }
    values[name] = value;
  }
  return checkRequestValue(schema, values, invalidCode);
}

/**
 * A query integer: canonical decimal digits (no sign, no leading zeros) within the safe range and
 * the bound. Absent parameters are `undefined`.
 */
export function queryInt(name: string, bound: "non_negative" | "positive") {
  const rule = bound === "positive" ? "a positive integer" : "a non-negative integer";
  return z
    .string()
    .refine(
      (text) => /^(0|[1-9][0-9]*)$/.test(text) && Number.isSafeInteger(Number(text)),
      `${name} must be ${rule} below 2^53`,
    )
    .transform(Number)
    .refine((value) => bound === "non_negative" || value > 0, `${name} must be ${rule}`)
    .meta(integerJsonSchema(bound))
    .optional();
}

/** Validates a response body, throwing ProtocolViolationError(`code`) that starts with `what`. */
export function decodeResponseValue<T>(
  schema: z.ZodType<T>,
  json: unknown,
  what: string,
  code: ProtocolViolationCode = "invalid_response",
): T {
  const decoded = safeDecode(schema, json);
  if (!decoded.ok) {
    throw new ProtocolViolationError(code, `${what}: ${decoded.failure.message}`, {
      path: decoded.failure.path,
    });
  }
  return decoded.value;
}

/** Throws ProtocolViolationError(`code`) unless `condition` holds. */
export function requireResponse(
  condition: boolean,
  message: string,
  code: ProtocolViolationCode = "invalid_response",
): asserts condition {
  if (!condition) throw new ProtocolViolationError(code, message);
}
