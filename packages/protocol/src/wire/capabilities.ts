/** `GET /sync/capabilities` (protocol-latest §1.1, §4). */
import * as z from "zod";
import {
  INT32_MAX,
  INT64_LIMIT_NAMES,
  type LimitName,
  OPTIONAL_LIMIT_NAMES,
  PROTOCOL_VERSION,
  REQUIRED_LIMIT_NAMES,
} from "../capabilities.js";
import { ProtocolViolationError } from "../protocol-violation.js";
import { StrictJsonError, parseStrictJson } from "../strict-json.js";
import { decodeResponseValue } from "./decode.js";
import { envelopeInt } from "./shared.js";

/** One registered table as advertised: schema, table, and its single sync-key column. */
export const tableSpecSchema = z.object({
  schema: z.string(),
  table: z.string(),
  sync_key_columns: z.array(z.string()),
});

/** An advertised or local table spec. */
export type TableSpec = z.infer<typeof tableSpecSchema>;

function limitSchema(name: LimitName) {
  // KMP reads most limits as a 32-bit Int; only the byte and session-size limits are 64-bit.
  return envelopeInt(
    `bundle_limits.${name}`,
    "non_negative",
    INT64_LIMIT_NAMES.has(name) ? undefined : INT32_MAX,
  );
}

/** `bundle_limits`: the seven required members must be present; optional ones default to absent. */
export const bundleLimitsSchema = z.object({
  ...(Object.fromEntries(REQUIRED_LIMIT_NAMES.map((name) => [name, limitSchema(name)])) as Record<
    (typeof REQUIRED_LIMIT_NAMES)[number],
    ReturnType<typeof limitSchema>
  >),
  ...(Object.fromEntries(OPTIONAL_LIMIT_NAMES.map((name) => [name, limitSchema(name).optional()])) as Record<
    (typeof OPTIONAL_LIMIT_NAMES)[number],
    z.ZodOptional<ReturnType<typeof limitSchema>>
  >),
});

/** Capabilities response. Every `features` value must be a JSON boolean. */
export const capabilitiesResponseSchema = z.object({
  protocol_version: z.literal(PROTOCOL_VERSION),
  schema_version: envelopeInt("schema_version", "any", INT32_MAX),
  registered_table_specs: z.array(tableSpecSchema),
  features: z.record(z.string(), z.boolean()),
  bundle_limits: bundleLimitsSchema,
  app_name: z.string().optional(),
  registered_tables: z.array(z.string()).optional(),
});

/** A decoded capabilities response. */
export type CapabilitiesResponse = z.infer<typeof capabilitiesResponseSchema>;

/**
 * Decodes a capabilities body strictly (duplicate members rejected). A protocol_version other than
 * "v1" throws ProtocolViolationError("protocol_version_mismatch") before anything else is checked.
 */
export function decodeCapabilitiesBody(body: string): CapabilitiesResponse {
  let value: unknown;
  try {
    value = parseStrictJson(body).value;
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new ProtocolViolationError("invalid_response", `capabilities body: ${error.message}`, {
      cause: error,
    });
  }
  const version =
    typeof value === "object" && value !== null
      ? (value as Record<string, unknown>).protocol_version
      : undefined;
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolViolationError(
      "protocol_version_mismatch",
      `server speaks protocol_version ${JSON.stringify(version)}, this client needs ${JSON.stringify(PROTOCOL_VERSION)}; deploy matching client and server builds`,
      { path: "protocol_version" },
    );
  }
  return decodeResponseValue(capabilitiesResponseSchema, value, "capabilities response");
}

/** True when the server advertises `connect_lifecycle: true` (required to attach). */
export function supportsConnectLifecycle(capabilities: CapabilitiesResponse): boolean {
  return capabilities.features.connect_lifecycle === true;
}

/** True when the server advertises `bundle_change_watch: true`; otherwise the client polls. */
export function supportsBundleChangeWatch(capabilities: CapabilitiesResponse): boolean {
  return capabilities.features.bundle_change_watch === true;
}
