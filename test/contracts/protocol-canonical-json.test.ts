import {
  CANONICAL_JSON_CONTRACT,
  type ColumnKind,
  DEFAULT_BUNDLE_LIMITS,
  PROTOCOL_VERSION,
  ProtocolViolationError,
  type SqliteValue,
  canonicalJson,
  decodeCapabilitiesBody,
  decodeWireValue,
  encodeSqliteValue,
  renderFloat4,
  renderFloat64,
  serverFeatures,
  sha256Hex,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { type ColumnCodec, describeColumn } from "../../packages/server/src/codec/column-codec.js";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

const FILE = "canonical-json/jcs-uniform-numeric-strings.json";

interface ValueCase {
  name: string;
  local_sqlite: { storage_class: "integer" | "real" | "text"; value_text: string };
  uploaded_wire: string;
  postgres_destination: string;
  committed_server: string | boolean;
}
interface InvalidCase {
  name: string;
  family: "integer" | "decimal" | "float" | "boolean";
  input: unknown;
  outcome: string;
}
interface ReplayCase {
  name: string;
  frozen_local: { amount: string; ratio: number };
  uploaded_wire: { amount: string; ratio: string };
  committed_server: { amount: string; ratio: string };
}
interface Fixture {
  contract_id: string;
  required_protocol_version: string;
  integer_cases: ValueCase[];
  decimal_cases: ValueCase[];
  float_cases: ValueCase[];
  boolean_cases: ValueCase[];
  replay_cases: ReplayCase[];
  invalid_cases: InvalidCase[];
  canonical_examples: Record<string, { canonical_bytes: string; utf8_base64: string; sha256: string }>;
  protocol: {
    capabilities: { protocol_version: string };
    updated_client_rejections: { name: string; actual: string }[];
  };
}

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

/** The SQLite value a fixture's `local_sqlite` stands for, and the client column kind that holds it. */
function localValue(local: ValueCase["local_sqlite"]): { kind: ColumnKind; value: SqliteValue } {
  switch (local.storage_class) {
    case "integer":
      return { kind: "INTEGER", value: BigInt(local.value_text) };
    case "real":
      return { kind: "REAL", value: Number(local.value_text) };
    case "text":
      return { kind: "TEXT", value: local.value_text };
  }
}

const FAMILY_DESTINATION = {
  integer: "int8",
  decimal: "numeric",
  float: "float8",
  boolean: "boolean",
} as const;

/** The server's codec for a fixture's PostgreSQL destination, such as `int8` or `numeric(30,9)`. */
function serverCodec(destination: string): ColumnCodec {
  const typmod = /^(numeric|decimal)\((\d+),(\d+)\)$/.exec(destination);
  if (typmod === null) return describeColumn({ name: "value", dataType: destination, notNull: false });
  return describeColumn({
    name: "value",
    dataType: typmod[1]!,
    numericPrecision: Number(typmod[2]),
    numericScale: Number(typmod[3]),
    notNull: false,
  });
}

describe.skipIf(!available)(FILE, () => {
  const data = fixture!;

  contractCase("contract identity", () => {
    expect(data.contract_id).toBe(CANONICAL_JSON_CONTRACT);
    expect(data.required_protocol_version).toBe(PROTOCOL_VERSION);
    expect(data.protocol.capabilities.protocol_version).toBe(PROTOCOL_VERSION);
  });

  describe("canonical_examples", () => {
    for (const [name, example] of Object.entries(data?.canonical_examples ?? {})) {
      contractCase(name, () => {
        const bytes = example.canonical_bytes;
        expect(canonicalJson(JSON.parse(bytes))).toBe(bytes);
        expect(Buffer.from(bytes, "utf8").toString("base64")).toBe(example.utf8_base64);
        expect(sha256Hex(bytes)).toBe(example.sha256);
      });
    }
  });

  describe("value cases", () => {
    const cases = data
      ? [...data.integer_cases, ...data.decimal_cases, ...data.float_cases, ...data.boolean_cases]
      : [];
    for (const valueCase of cases) {
      contractCase(valueCase.name, () => {
        const { kind, value } = localValue(valueCase.local_sqlite);
        // Client: the local value uploads as the pinned wire text.
        expect(encodeSqliteValue(kind, value)).toBe(valueCase.uploaded_wire);
        // Server: the upload passes validation for its PostgreSQL destination.
        const destination = serverCodec(valueCase.postgres_destination);
        const { param } = destination.fromWire(valueCase.uploaded_wire, "value");
        if (destination.family === "boolean") expect(param).toBe(String(valueCase.committed_server));
        // Server: floats go out in the §2.4 rendering of the stored value.
        if (destination.family === "float") {
          const render = destination.dataType === "float4" ? renderFloat4 : renderFloat64;
          expect(render(Number(valueCase.uploaded_wire))).toBe(valueCase.committed_server);
        }
        // Client: the committed value decodes for the same column kind.
        const decoded = decodeWireValue(kind, valueCase.committed_server);
        if (kind === "INTEGER") {
          // A committed JSON boolean binds as 1/0.
          expect(decoded).toBe(BigInt(valueCase.committed_server));
        } else if (kind === "REAL") {
          expect(decoded).toBe(Number(valueCase.committed_server));
        } else {
          expect(decoded).toBe(valueCase.committed_server);
        }
      });
    }
  });

  describe("replay_cases (value encoding; the replay decision is the client's)", () => {
    for (const replay of data?.replay_cases ?? []) {
      contractCase(replay.name, () => {
        expect(encodeSqliteValue("TEXT", replay.frozen_local.amount)).toBe(replay.uploaded_wire.amount);
        expect(encodeSqliteValue("REAL", replay.frozen_local.ratio)).toBe(replay.uploaded_wire.ratio);
        expect(decodeWireValue("TEXT", replay.committed_server.amount)).toBe(replay.committed_server.amount);
        expect(decodeWireValue("REAL", replay.committed_server.ratio)).toBe(
          Number(replay.committed_server.ratio),
        );
      });
    }
  });

  describe("invalid_cases", () => {
    for (const invalid of data?.invalid_cases ?? []) {
      contractCase(invalid.name, () => {
        expect(invalid.outcome).toBe("reject_before_mutation");
        const destination = serverCodec(FAMILY_DESTINATION[invalid.family]);
        expect(() => destination.fromWire(invalid.input, "value")).toThrow(
          expect.objectContaining({ code: "push_chunk_invalid" }),
        );
      });
    }
  });

  describe("protocol.updated_client_rejections", () => {
    for (const rejection of data?.protocol.updated_client_rejections ?? []) {
      contractCase(rejection.name, () => {
        const body = JSON.stringify({
          protocol_version: rejection.actual,
          schema_version: 1,
          registered_table_specs: [],
          features: serverFeatures({ bundleChangeWatch: false }),
          bundle_limits: DEFAULT_BUNDLE_LIMITS,
        });
        expect(() => decodeCapabilitiesBody(body)).toThrow(ProtocolViolationError);
        expect(() => decodeCapabilitiesBody(body)).toThrow(
          expect.objectContaining({ code: "protocol_version_mismatch" }),
        );
      });
    }
  });
});
