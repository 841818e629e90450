/**
 * How a push is cut into chunks: the server's advertised default chunk size unless the app sets
 * `uploadLimit`, never above the server's maximum, and a chunk ends early once its rows' payloads
 * reach 4 MiB of text, so large rows never meet a server's body limit.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type EngineHarness, type EngineHarnessOptions, startAttachedHarness } from "./engine-harness.js";

let harness: EngineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** Inserts `count` users whose names are `nameChars` long, pushes, and answers each chunk's row count. */
async function chunkSizes(options: EngineHarnessOptions, count: number, nameChars = 4): Promise<number[]> {
  harness = await startAttachedHarness(options);
  const name = "n".repeat(nameChars);
  await harness.execute([
    `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ${count})
     INSERT INTO users (id, name) SELECT 'u' || n, '${name}' FROM i`,
  ]);
  expect(await harness.client.pushPending()).toMatchObject({ outcome: "committed" });
  return harness.server
    .requestsTo("pushChunk")
    .map((request) => (request.body as { rows: unknown[] }).rows.length);
}

describe("push chunks", () => {
  it("follow the server's default chunk size", async () => {
    const sizes = await chunkSizes({ backend: { bundleLimits: { default_rows_per_push_chunk: 300 } } }, 700);
    expect(sizes).toStrictEqual([300, 300, 100]);
  });

  it("follow the app's uploadLimit, capped by the server's maximum", async () => {
    expect(await chunkSizes({ client: { uploadLimit: 250 } }, 600)).toStrictEqual([250, 250, 100]);
    await harness?.close();
    const capped = await chunkSizes(
      { client: { uploadLimit: 1000 }, backend: { bundleLimits: { max_rows_per_push_chunk: 400 } } },
      900,
    );
    expect(capped).toStrictEqual([400, 400, 100]);
  });

  it("end before 4 MiB of payload text, with at least one row each", async () => {
    // Rows of 1.5 Mi characters: two fit under 4 MiB, a third would not.
    expect(await chunkSizes({}, 5, 1.5 * 1024 * 1024)).toStrictEqual([2, 2, 1]);
  });
});
