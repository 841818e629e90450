import {
  type TableSpec,
  compareTableContract,
  decodeCapabilitiesBody,
  decodeConnectResponse,
  negotiateSnapshotLimits,
  supportsConnectLifecycle,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

const FILE = "protocol-handshake/connect.json";

interface ContractCase {
  name: string;
  localSpecs: TableSpec[];
  advertised?: unknown;
  expected: {
    kind: "match" | "mismatch" | "invalid";
    serverOnlyTables?: string[];
    clientOnlyTables?: string[];
    syncKeyMismatches?: unknown[];
  };
}
interface HandshakeCase {
  name: string;
  capabilities: { status: number; body: unknown };
  connect: { status: number; body: unknown } | null;
  expected: {
    connectLifecycleSupported: boolean;
    connectCalled: boolean;
    retryAfterSeconds?: number;
    pendingInitializationId?: string;
  };
}
interface Fixture {
  contractCases: ContractCase[];
  cases: HandshakeCase[];
}

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

describe.skipIf(!available)(FILE, () => {
  describe("contractCases", () => {
    for (const contract of fixture?.contractCases ?? []) {
      contractCase(contract.name, () => {
        const result = compareTableContract(contract.localSpecs, contract.advertised);
        if (contract.expected.kind === "invalid") expect(result.kind).toBe("invalid");
        else expect(result).toEqual(contract.expected);
      });
    }
  });

  describe("cases", () => {
    for (const handshake of fixture?.cases ?? []) {
      contractCase(handshake.name, () => {
        expect(handshake.capabilities.status).toBe(200);
        const capabilities = decodeCapabilitiesBody(JSON.stringify(handshake.capabilities.body));
        expect(negotiateSnapshotLimits(capabilities.bundle_limits).maxRowBytes).toBeGreaterThan(0);
        expect(supportsConnectLifecycle(capabilities)).toBe(handshake.expected.connectLifecycleSupported);
        expect(handshake.connect !== null).toBe(handshake.expected.connectCalled);
        if (handshake.connect === null) return;
        expect(handshake.connect.status).toBe(200);
        const connect = decodeConnectResponse(handshake.connect.body);
        if (handshake.expected.retryAfterSeconds !== undefined) {
          expect(connect.retry_after_seconds).toBe(handshake.expected.retryAfterSeconds);
        }
        if (handshake.expected.pendingInitializationId !== undefined) {
          expect(connect.initialization_id ?? "").toBe(handshake.expected.pendingInitializationId);
        }
      });
    }
  });
});
