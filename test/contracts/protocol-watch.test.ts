import {
  OversyncError,
  ProtocolViolationError,
  decodeCapabilitiesBody,
  decodeErrorBody,
  parseBundleChangeLines,
  supportsBundleChangeWatch,
} from "@oversync/protocol";
import { describe, expect } from "vitest";
import { fixtureTally, readContract, requireContracts } from "../support/contracts.js";

const FILE = "watch/basic.json";

interface Fixture {
  capabilitiesCases: {
    name: string;
    response: { status: number; body: unknown };
    expectedBundleChangeWatchSupported: boolean;
  }[];
  sseCases: { name: string; lines: string[]; expectedEvents?: unknown[]; expectError?: boolean }[];
  setupErrorResponses: { status: number; body: unknown; expectedError: string }[];
  runtimeCases: { name: string; response: { status: number; body: unknown } }[];
}

const available = requireContracts();
const fixture = available ? readContract<Fixture>(FILE) : undefined;
const tally = fixtureTally();
const contractCase = (name: string, check: () => unknown) => tally.it(FILE, name, check);

describe.skipIf(!available)(FILE, () => {
  describe("capabilitiesCases", () => {
    for (const capabilities of fixture?.capabilitiesCases ?? []) {
      contractCase(capabilities.name, () => {
        expect(capabilities.response.status).toBe(200);
        const decoded = decodeCapabilitiesBody(JSON.stringify(capabilities.response.body));
        expect(supportsBundleChangeWatch(decoded)).toBe(capabilities.expectedBundleChangeWatchSupported);
      });
    }
  });

  describe("sseCases", () => {
    for (const sse of fixture?.sseCases ?? []) {
      contractCase(sse.name, () => {
        if (sse.expectError) expect(() => parseBundleChangeLines(sse.lines)).toThrow(ProtocolViolationError);
        else expect(parseBundleChangeLines(sse.lines)).toEqual(sse.expectedEvents);
      });
    }
  });

  describe("setupErrorResponses and runtimeCases", () => {
    const responses = [
      ...(fixture?.setupErrorResponses ?? []).map((setup) => ({
        name: `setup ${setup.status} ${setup.expectedError}`,
        ...setup,
      })),
      ...(fixture?.runtimeCases ?? []).map((runtime) => ({
        name: runtime.name,
        status: runtime.response.status,
        body: runtime.response.body,
        expectedError: (runtime.response.body as { error: string }).error,
      })),
    ];
    for (const response of responses) {
      contractCase(response.name, () => {
        const error = decodeErrorBody(response.status, response.body);
        expect(error).toBeInstanceOf(OversyncError);
        expect(error).toMatchObject({ code: response.expectedError, status: response.status });
      });
    }
  });
});
