import { isClientError } from "@oversync/client";
import { isNodeSqliteAvailable, openNodeSqliteDriver } from "@oversync/client/node-sqlite";
import { describe, expect, it } from "vitest";
import { describeDriverConformance } from "./driver-conformance-suite.js";

const available = await isNodeSqliteAvailable();

if (available) {
  describeDriverConformance("node:sqlite driver", openNodeSqliteDriver);
} else {
  // Reported as skipped (never passed): this Node has no usable node:sqlite; CI's Node 24 lane runs it.
  describe.skip(`node:sqlite driver (skipped: node:sqlite is not available in Node ${process.versions.node})`, () => {
    it("runs the driver conformance suite", () => {});
  });
  describe("node:sqlite driver on a Node without it", () => {
    it("fails to open with driver_unavailable", async () => {
      await expect(openNodeSqliteDriver(":memory:")).rejects.toSatisfy((error) =>
        isClientError(error, "driver_unavailable"),
      );
    });
  });
}
