/**
 * README "Syncing from a web app" shows the demo app's own sync code (demo/src/todo-store.ts), which
 * test/browser/demo-app.test.ts drives in headless Chromium: the imports and both quoted regions
 * must appear in the README exactly as they are in the file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exampleRegion, readme, repoRoot } from "../support/readme-support.js";

const STORE = "demo/src/todo-store.ts";

describe("README: Syncing from a web app", () => {
  const section = readme().slice(readme().indexOf("### Syncing from a web app"));

  it("quotes the demo's imports", () => {
    const text = readFileSync(join(repoRoot, STORE), "utf8");
    const imports = text
      .slice(
        text.indexOf("// readme:imports\n") + "// readme:imports\n".length,
        text.indexOf("// readme:imports-end"),
      )
      .trim();
    expect(imports).toContain("@oversync/client/sqlite-wasm");
    expect(section).toContain(`\`\`\`ts\n${imports}\n\`\`\``);
  });

  for (const region of ["owner", "tabs"]) {
    it(`quotes the demo's "${region}" region`, () => {
      const code = exampleRegion(STORE, region);
      expect(code.length).toBeGreaterThan(100);
      expect(section).toContain(`\`\`\`ts\n${code}\n\`\`\``);
    });
  }
});
